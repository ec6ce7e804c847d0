"""Real network peers for the nvr tests and benchmarks.

Plain Python: no Home Assistant and no pytest import, so ``bench/`` can use
it too. Everything listens on 127.0.0.1 only.

* :class:`RtspServer` runs ``tests/rtsp_server.py`` (gst-rtsp-server) under
  Debian's ``/usr/bin/python3`` with live (endless, ffmpeg-fed), file (ends at
  EOF) and raw gst-launch mounts (see :func:`live_mount`, :func:`file_mount`,
  :func:`launch_mount`, :data:`AUDIO_LAUNCH`, :data:`AV_LAUNCH`, :data:`MJPEG_LAUNCH`),
  optionally behind Basic or Digest auth. ``start/stop/restart`` (same port),
  ``freeze/thaw`` (SIGSTOP: a hung camera), ``url(path, user, password)``.
* :class:`GarbageServer` answers every connection with random bytes.
* :class:`SilentServer` completes the TCP handshake and never says anything.
* :func:`make_clip` / :func:`make_audio_clip` make small test media with
  Debian's ``ffmpeg``.

Sockets are created from the real ``socket.socket`` class even when the
pytest-socket plugin (pulled in by pytest-homeassistant-custom-component) has
swapped in its guard, so the peers also work inside HA tests, whose
``pytest_runtest_setup`` disables sockets before fixtures are set up.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

TESTS_DIR = Path(__file__).resolve().parent
LAUNCHER = TESTS_DIR / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"

#: Endless live audio-only stream (G.711 A-law, 8 kHz mono).
AUDIO_LAUNCH = (
    "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 "
    "! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay0 pt=8"
)


_AUDIO_ENCODERS = {
    "alaw": (8000, "alawenc ! rtppcmapay name=pay1 pt=8"),
    "mulaw": (8000, "mulawenc ! rtppcmupay name=pay1 pt=0"),
    "aac": (16000, "voaacenc bitrate=32000 ! rtpmp4gpay name=pay1 pt=97"),
}


def av_launch(width: int = 320, height: int = 180, law: str = "alaw") -> str:
    """Endless live H.264 (15 fps, keyframe every 15 frames, no B-frames) with a 440 Hz tone, like a
    typical camera with a microphone: ``alaw`` (PCMA) or ``mulaw`` (PCMU), 8 kHz mono, or ``aac``
    (AAC-LC 16 kHz mono)."""
    rate, encode = _AUDIO_ENCODERS[law]
    return (
        "videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,format=I420,width={width},height={height},framerate=15/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bframes=0 "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 "
        "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 "
        f"! audio/x-raw,rate={rate},channels=1 ! {encode}"
    )


#: 320x180 H.264 with G.711 A-law (see :func:`av_launch`).
AV_LAUNCH = av_launch()
#: Endless live MJPEG video stream, 320x240 at 10 fps.
MJPEG_LAUNCH = (
    "videotestsrc is-live=true pattern=ball "
    "! video/x-raw,format=I420,width=320,height=240,framerate=10/1 "
    "! jpegenc quality=50 ! rtpjpegpay name=pay0 pt=26"
)

_GST_ELEMENTS = (
    "udpsrc rtpjitterbuffer rtph264depay h264parse rtph264pay rtph265depay h265parse rtph265pay "
    "filesrc qtdemux matroskademux tsdemux audiotestsrc alawenc rtppcmapay mulawenc rtppcmupay "
    "voaacenc rtpmp4gpay "
    "videotestsrc jpegenc rtpjpegpay x264enc"
)
_TOOLS_PROBE = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer
Gst.init(None)
missing = [e for e in {_GST_ELEMENTS.split()!r} if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit("missing GStreamer elements: " + " ".join(missing))
"""

_CONTAINERS = {".ts": "mpegts", ".mp4": "mp4", ".mkv": "matroska", ".mov": "mov"}
_AUDIO_FORMATS = {
    ".wav": ("wav", "pcm_s16le"),
    ".m4a": ("mp4", "aac"),
    ".mka": ("matroska", "aac"),
    ".aac": ("adts", "aac"),
}


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _socket_class() -> type[socket.socket]:
    """Return the genuine socket class, bypassing pytest-socket's guard."""
    guard = sys.modules.get("pytest_socket")
    true_socket = getattr(guard, "_true_socket", None)
    if isinstance(true_socket, type) and issubclass(true_socket, socket.SocketType):
        return true_socket
    return socket.socket


def _new_socket(kind: str = "tcp") -> socket.socket:
    """Create an IPv4 TCP or UDP socket with the genuine socket class."""
    sock_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    return _socket_class()(socket.AF_INET, sock_type)


def _accept(server: socket.socket) -> tuple[socket.socket, Any]:
    """``server.accept()`` without going through the patched ``socket.socket``.

    ``socket.socket.accept`` builds the new socket from the module global
    ``socket.socket``, which pytest-socket replaces with a class that refuses
    to be instantiated.
    """
    fd, addr = server._accept()
    conn = _socket_class()(server.family, server.type, server.proto, fileno=fd)
    return conn, addr


def _listening_socket(port: int | None, backlog: int) -> socket.socket:
    """Return a TCP socket listening on 127.0.0.1:port (0/None = any port)."""
    sock = _new_socket("tcp")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port or 0))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def free_port(kind: str = "tcp") -> int:
    """Return a currently free ``"tcp"`` or ``"udp"`` port on 127.0.0.1."""
    if kind not in ("tcp", "udp"):
        raise ValueError(f"kind must be 'tcp' or 'udp', not {kind!r}")
    with _new_socket(kind) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@functools.cache
def tools_available() -> tuple[bool, str]:
    """Check for ffmpeg and Debian's python3 with gi + gst-rtsp-server.

    Returns ``(ok, reason)``; ``reason`` explains what is missing.
    """
    if shutil.which("ffmpeg") is None:
        return False, "ffmpeg not found on PATH (apt-get install ffmpeg)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False, f"{SYSTEM_PYTHON} not found"
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", _TOOLS_PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"{SYSTEM_PYTHON} probe failed: {err}"
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return False, (
            f"{SYSTEM_PYTHON} cannot use GStreamer/gst-rtsp-server ({detail}); "
            "apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad "
            "gstreamer1.0-plugins-ugly"
        )
    return True, "ok"


def _run_ffmpeg(args: list[str], timeout: float = 120) -> None:
    """Run ffmpeg quietly; raise RuntimeError with its stderr on failure."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr.strip()}")


def make_clip(
    path: str | os.PathLike[str],
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    gop: int = 15,
    seconds: float = 10,
    codec: str = "h264",
    pattern: str = "testsrc2",
    audio: bool = False,
    bframes: int = 0,
    coded: bool = False,
) -> Path:
    """Encode a synthetic test clip and return its path.

    The container follows the suffix (``.ts``, ``.mp4``, ``.mkv``, ``.mov``).
    Video is ``h264`` (libx264) or ``h265``/``hevc`` (libx265), ultrafast,
    zero latency, yuv420p, one slice per frame (like most cameras), a
    keyframe exactly every ``gop`` frames and SPS/PPS (VPS) repeated in-band
    before every keyframe. No B-frames unless ``bframes`` > 0 (then up to
    that many in a row, fixed pattern, so pts != dts; closed GOPs).
    ``pattern`` is a lavfi video source (``testsrc2``, ``testsrc``,
    ``smptebars``, ``color=c=blue`` ...). ``audio`` adds a mono AAC sine.
    ``coded`` burns the frame number into every picture: as text, and as
    :data:`CODE_BITS` black or white blocks across the top (read back with
    :func:`read_frame_code`), so a picture proves which moment it shows.
    """
    out = Path(path)
    container = _CONTAINERS.get(out.suffix.lower())
    if container is None:
        raise ValueError(f"unsupported clip suffix {out.suffix!r} (use {list(_CONTAINERS)})")
    source = f"{pattern}{'=' if '=' not in pattern else ':'}size={width}x{height}:rate={fps}"
    args = ["-f", "lavfi", "-i", source]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"]
    args += ["-t", f"{seconds}", "-map", "0:v"]
    if coded:
        args += ["-vf", _code_filter(width)]
    if audio:
        args += ["-map", "1:a", "-c:a", "aac", "-ac", "1", "-b:a", "32k"]
    codec = codec.lower()
    if codec == "h264":
        args += [
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
            "-x264-params", f"repeat-headers=1:sliced-threads=0:bframes={bframes}:b-adapt=0:open-gop=0"
            + (f":rc-lookahead={bframes + 1}" if bframes else ""),
        ]  # fmt: skip
    elif codec in ("h265", "hevc"):
        args += [
            "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
            "-x265-params",
            f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:log-level=error"
            f":bframes={bframes}:b-adapt=0:open-gop=0" + (f":rc-lookahead={bframes + 1}" if bframes else ""),
        ]  # fmt: skip
        if container in ("mp4", "mov"):
            args += ["-tag:v", "hvc1"]
    else:
        raise ValueError(f"unsupported codec {codec!r} (h264, h265)")
    args += [
        "-pix_fmt", "yuv420p", "-g", str(gop), "-keyint_min", str(gop),
        "-sc_threshold", "0", "-bf", str(bframes), "-threads", "2",
    ]  # fmt: skip
    if container == "mp4":
        args += ["-movflags", "+faststart"]
    args += ["-f", container, str(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    _run_ffmpeg(args)
    return out


CODE_BITS = 16
CODE_HEIGHT = 24
_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


def _code_filter(width: int) -> str:
    """Filters that draw the frame number ``n`` as blocks (bit i: block i, white = 1) and as text."""
    block = width // CODE_BITS
    filters = [f"drawbox=x=0:y=0:w={width}:h={CODE_HEIGHT}:color=black:t=fill"]
    filters += [
        f"drawbox=x={i * block}:y=0:w={block}:h={CODE_HEIGHT}:color=white:t=fill:enable='mod(floor(n/{1 << i}),2)'"
        for i in range(CODE_BITS)
    ]
    if _FONT.exists():  # a visible number for people looking at the screenshots
        filters.append(
            f"drawtext=fontfile={_FONT}:text='%{{n}}':x=8:y={CODE_HEIGHT + 6}:fontsize=28:fontcolor=white"
            ":box=1:boxcolor=black@0.7"
        )
    return ",".join(filters)


def read_frame_code(gray: Any) -> int:
    """The frame number a coded clip's picture shows (``gray``: a 2-D luma array)."""
    width = gray.shape[1]
    block = width // CODE_BITS
    row = gray[CODE_HEIGHT // 2]
    return sum(1 << i for i in range(CODE_BITS) if row[i * block + block // 2] > 128)


def make_audio_clip(
    path: str | os.PathLike[str],
    seconds: float = 5,
    sample_rate: int = 8000,
    frequency: int = 440,
) -> Path:
    """Write a mono sine clip (``.wav`` PCM, ``.m4a``/``.mka``/``.aac`` AAC)."""
    out = Path(path)
    fmt = _AUDIO_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported audio suffix {out.suffix!r} (use {list(_AUDIO_FORMATS)})")
    container, codec = fmt
    out.parent.mkdir(parents=True, exist_ok=True)
    _run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={frequency}:sample_rate={sample_rate}",
            "-t",
            f"{seconds}",
            "-ac",
            "1",
            "-c:a",
            codec,
            "-f",
            container,
            str(out),
        ]  # fmt: skip
    )
    return out


# --------------------------------------------------------------------------
# mount descriptions for RtspServer
# --------------------------------------------------------------------------


def live_mount(path: str, clip: str | os.PathLike[str], codec: str = "H264", protected: bool = False) -> dict[str, Any]:
    """An endless live mount looping ``clip`` (MPEG-TS recommended) via RTP."""
    return {
        "path": path,
        "rtp_clip": str(Path(clip).resolve()),
        "codec": codec.upper(),
        "protected": protected,
    }


def file_mount(path: str, clip: str | os.PathLike[str], codec: str = "H264", protected: bool = False) -> dict[str, Any]:
    """A finite, unshared mount that plays ``clip`` once and ends at EOF."""
    return {
        "path": path,
        "file": str(Path(clip).resolve()),
        "codec": codec.upper(),
        "protected": protected,
    }


def launch_mount(path: str, launch: str, shared: bool = True, protected: bool = False) -> dict[str, Any]:
    """A raw gst-launch mount; ``launch`` must name its payloader ``pay0``."""
    return {"path": path, "launch": launch, "shared": shared, "protected": protected}


# --------------------------------------------------------------------------
# RTSP server
# --------------------------------------------------------------------------

_LIVE_SERVERS: weakref.WeakSet[RtspServer] = weakref.WeakSet()


def _proc_stat(pid: int) -> tuple[str, str, int] | None:
    """Return (comm, state, pgrp) of ``pid`` from /proc, None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, fields[0], int(fields[2])


class _StartStop:
    """``with peer:`` starts it and stops it again."""

    def start(self) -> Self:
        """Start the peer."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the peer."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()


class RtspServerError(RuntimeError):
    """The launcher failed to start (message carries its stderr)."""


class RtspServer(_StartStop):
    """A gst-rtsp-server subprocess on 127.0.0.1.

    ``mounts`` are dicts as built by :func:`live_mount`, :func:`file_mount`
    and :func:`launch_mount`. ``auth`` is None, ``"basic"`` or ``"digest"``;
    with auth, mounts flagged ``protected`` need ``user``/``password`` and
    answer 401 otherwise, the others stay open to anonymous clients.
    ``port=None`` lets the kernel choose once; :meth:`restart` keeps the port.
    """

    def __init__(
        self,
        mounts: list[dict[str, Any]],
        auth: str | None = None,
        user: str = "admin",
        password: str = "secret",  # noqa: S107 - test credential
        port: int | None = None,
    ) -> None:
        """Describe the server; nothing runs until :meth:`start`."""
        if auth not in (None, "basic", "digest"):
            raise ValueError(f"auth must be None, 'basic' or 'digest', not {auth!r}")
        self.mounts = [dict(m) for m in mounts]
        self.auth = auth
        self.user = user
        self.password = password
        self._port = port or 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._config_path: Path | None = None
        self.feeder_pids: list[int] = []
        #: Seconds the last start() took until READY.
        self.last_start_seconds = 0.0

    # -- properties -------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port (0 until first started when created with port=None)."""
        return self._port

    @property
    def pid(self) -> int | None:
        """PID of the launcher process while running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the launcher process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def url(self, path: str = "/live", user: str | None = None, password: str | None = None) -> str:
        """Return ``rtsp://[user[:password]@]127.0.0.1:port/path``."""
        if not path.startswith("/"):
            path = "/" + path
        userinfo = ""
        if user is not None:
            userinfo = quote(user, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        return f"rtsp://{userinfo}{HOST}:{self._port}{path}"

    def auth_url(self, path: str = "/live") -> str:
        """URL with this server's correct credentials embedded."""
        return self.url(path, self.user, self.password)

    # -- lifecycle --------------------------------------------------------

    def _write_config(self) -> Path:
        config = {
            "port": self._port,
            "auth": self.auth,
            "user": self.user,
            "password": self.password,
            "mounts": self.mounts,
        }
        fd, name = tempfile.mkstemp(prefix="nvr-rtsp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        return Path(name)

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace").strip()
        return ""

    def start(self, timeout: float = 15) -> Self:
        """Spawn the launcher and wait for ``READY``; return self.

        Raises :class:`RtspServerError` (with the launcher's stderr) if it
        exits or does not get ready in time. When a fixed port is still busy
        (e.g. right after a stop) binding is retried until ``timeout``.
        """
        if self.running:
            return self
        ok, reason = tools_available()
        if not ok:
            raise RtspServerError(reason)
        deadline = time.monotonic() + timeout
        began = time.monotonic()
        while True:
            error = self._start_once(deadline)
            if error is None:
                self.last_start_seconds = time.monotonic() - began
                _LIVE_SERVERS.add(self)
                return self
            retry = "could not listen" in error and self._port and time.monotonic() < deadline
            self._cleanup()
            if not retry:
                raise RtspServerError(error)
            time.sleep(0.1)

    def _start_once(self, deadline: float) -> str | None:
        """One launch attempt; return an error message or None when READY."""
        self._config_path = self._write_config()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _cleanup
        self.feeder_pids = []
        self._proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(LAUNCHER), "--config", str(self._config_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
            close_fds=True,
        )
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return f"RTSP server not ready after timeout: {self._stderr_text()}"
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not readable:
                if self._proc.poll() is not None:
                    break
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                word, _, value = line.decode("utf-8", "replace").strip().partition(" ")
                if word == "FEEDER":
                    self.feeder_pids.append(int(value))
                elif word == "READY":
                    self._port = int(value)
                    return None
        self._proc.wait(timeout=5)
        return f"RTSP server exited with {self._proc.returncode} before READY: {self._stderr_text()}"

    def stop(self, timeout: float = 5, reset: bool = False) -> None:
        """Stop the launcher, wait, SIGKILL as a fallback; reap feeders.

        By default (SIGTERM) connected clients get a TCP FIN; with
        ``reset=True`` (SIGUSR1) their connections are aborted with a TCP RST.
        FFmpeg/PyAV readers see a clean end of stream either way: ``demux()``
        just stops, no exception. For a reader that must *fail*, use
        :meth:`freeze` (the read timeout then raises ``av.error.ExitError``).
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)  # in case it is frozen
                proc.send_signal(signal.SIGUSR1 if reset else signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self._kill_feeders(proc.pid if proc is not None else None)
        self._cleanup()
        _LIVE_SERVERS.discard(self)

    def _kill_feeders(self, group: int | None) -> None:
        """SIGKILL leftover ffmpeg feeders (normally the launcher did it)."""
        if group is None:
            return
        deadline = time.monotonic() + 5
        for pid in self.feeder_pids:
            while time.monotonic() < deadline:
                stat = _proc_stat(pid)
                if stat is None or stat[2] != group or stat[1] == "Z":
                    break  # gone, reused by someone else, or a zombie
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.02)

    def _cleanup(self) -> None:
        """Close pipes and temp files of the (dead) launcher."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=5)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._config_path is not None:
            self._config_path.unlink(missing_ok=True)
            self._config_path = None

    def client_connections(self) -> int:
        """RTSP clients connected now: established TCP connections to the server's port (one per session over TCP)."""
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == self.port and fields[3] == "01":  # ESTABLISHED, server side
                        count += 1
        return count

    def freeze(self) -> None:
        """SIGSTOP the launcher and its feeders: connections stay open, no data.

        Simulates a hung camera: readers block until their own read timeout.
        Undo with :meth:`thaw`; :meth:`stop` also works on a frozen server.
        """
        self._signal_group(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a server frozen with :meth:`freeze`."""
        self._signal_group(signal.SIGCONT)

    def _signal_group(self, signum: int) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("RTSP server is not running")
        os.killpg(self._proc.pid, signum)

    def restart(self, timeout: float = 15, reset: bool = False) -> Self:
        """Stop (see :meth:`stop`) and start again on the same port."""
        self.stop(reset=reset)
        return self.start(timeout=timeout)

    def ensure_running(self, timeout: float = 15) -> Self:
        """Start the server again if a test stopped it (or it died)."""
        if not self.running:
            self._cleanup()
            self.start(timeout=timeout)
        return self

    def __repr__(self) -> str:
        """Short description."""
        paths = ",".join(m["path"] for m in self.mounts)
        return f"<RtspServer {HOST}:{self._port} auth={self.auth} mounts={paths} pid={self.pid}>"


@atexit.register
def _stop_leftover_servers() -> None:
    """Stop servers a caller forgot, so no launcher/ffmpeg outlives us."""
    for server in list(_LIVE_SERVERS):
        with contextlib.suppress(Exception):
            server.stop(timeout=2)


# --------------------------------------------------------------------------
# misbehaving TCP peers
# --------------------------------------------------------------------------


class _TcpPeer(_StartStop):
    """Shared start/stop/url/context-manager plumbing."""

    scheme = "rtsp"

    def __init__(self, port: int | None = None) -> None:
        self._port = port or 0
        self._sock: socket.socket | None = None

    @property
    def port(self) -> int:
        """The listening port (chosen at first start when created with None)."""
        return self._port

    @property
    def running(self) -> bool:
        """True while listening."""
        return self._sock is not None

    def url(self, path: str = "/live") -> str:
        """Return ``rtsp://127.0.0.1:port/path``."""
        if not path.startswith("/"):
            path = "/" + path
        return f"{self.scheme}://{HOST}:{self._port}{path}"

    def _listen(self, backlog: int) -> socket.socket:
        sock = _listening_socket(self._port, backlog)
        self._port = int(sock.getsockname()[1])
        self._sock = sock
        return sock


class GarbageServer(_TcpPeer):
    """Accepts TCP connections and answers any request with random bytes.

    Each connection: wait up to ``read_timeout`` for the client's first bytes,
    send ``size`` random bytes, close. ``connections`` counts accepted ones.
    PyAV's ``av.open`` fails at once with ``av.error.InvalidDataError``.
    """

    def __init__(self, port: int | None = None, size: int = 1024, read_timeout: float = 2.0) -> None:
        """Describe the server; call :meth:`start` to listen."""
        super().__init__(port)
        self.size = size
        self.read_timeout = read_timeout
        self.connections = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Listen and start the serving thread."""
        if self._thread is not None:
            return self
        sock = self._listen(backlog=16)
        sock.setblocking(False)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"GarbageServer:{self._port}", daemon=True
        )
        self._thread.start()
        return self

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                conn, _ = _accept(sock)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        deadline = time.monotonic() + self.read_timeout
        try:
            while not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                readable, _, _ = select.select([conn], [], [], min(remaining, 0.1))
                if readable:
                    conn.recv(65536)
                    break
            conn.sendall(os.urandom(self.size))
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stop(self) -> None:
        """Stop the thread (joins it) and close the socket."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class SilentServer(_TcpPeer):
    """A listening socket that never accepts: connects succeed, no reply ever.

    The kernel completes the handshake from the backlog; the client then waits
    forever for an answer (PyAV: ``av.open(..., timeout=(1, 1))`` raises
    ``av.error.InvalidDataError`` after ~1 s). Closing it on :meth:`stop`
    resets the pending connections.
    """

    def start(self) -> Self:
        """Listen (no thread needed)."""
        if self._sock is None:
            # A connection stays in the accept queue even after the client gave
            # up, so use the largest backlog: once it is full, connects hang
            # instead (PyAV then raises ExitError, not InvalidDataError).
            self._listen(backlog=socket.SOMAXCONN)
        return self

    def stop(self) -> None:
        """Close the listening socket."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
