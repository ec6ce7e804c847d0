"""Helpers shared by the benchmarks: clips, the live RTSP feed, process figures.

Plain Python; the benchmarks add the engine and tests/ to sys.path themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rtsp_peer import RtspServer, free_port, launch_mount

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
MOUNT = "/live"
UDP_RCVBUF = 4 * 1024 * 1024
"""Receive buffer of the relay's udpsrc: a 1080p keyframe (~300 KB) arrives as one burst
of RTP packets and overflows the default 208 KB buffer, see live_feed()."""


def ensure_clip(name: str, clip_args: Callable[[Path], list[str]]) -> Path:
    """Encode a clip once; the file name carries a hash of the encoding arguments."""
    digest = hashlib.sha1(" ".join(clip_args(Path("x"))).encode(), usedforsecurity=False).hexdigest()[:10]
    path = OUT / f"{name}_{digest}.ts"
    if path.exists() and path.stat().st_size > 0:
        print(f"clip: {path.relative_to(ROOT)} (cached)")
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.ts")
    began = time.monotonic()
    proc = subprocess.run(clip_args(partial), capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise SystemExit(f"ffmpeg could not encode the clip: {proc.stderr.strip()}")
    partial.rename(path)
    size_mb = path.stat().st_size / 1e6
    print(f"clip: {path.relative_to(ROOT)} encoded in {time.monotonic() - began:.1f} s ({size_mb:.1f} MB)")
    return path


class RelayDrops:
    """Counts datagrams the kernel dropped on the relay's UDP socket(s).

    Polls /proc/net/udp (the ``drops`` column) for sockets bound to the port;
    the relay reopens its socket whenever gst-rtsp-server re-prepares the
    media, so the count is summed over socket inodes.
    """

    def __init__(self, port: int, interval: float = 0.25) -> None:
        """Start polling in a daemon thread."""
        self._port = port
        self._interval = interval
        self._seen: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-udp-drops", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        with contextlib.suppress(OSError):
            for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == self._port:
                    self._seen[fields[9]] = max(self._seen.get(fields[9], 0), int(fields[12]))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._poll()

    def close(self) -> int:
        """Stop polling; return the datagrams dropped."""
        self._poll()
        self._stop.set()
        self._thread.join()
        return self.total

    @property
    def total(self) -> int:
        """Datagrams dropped so far."""
        self._poll()
        return sum(self._seen.values())


@dataclass
class Feed:
    """The live mount: its URL, the relay's drop counter and the RTSP server."""

    url: str
    drops: RelayDrops
    server: RtspServer
    feeder: subprocess.Popen
    """The ffmpeg that sends the clip to the mount (SIGSTOP it: a camera that stalls)."""


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL the feeder if this process dies without cleaning up."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def live_feed(clip: Path) -> Iterator[Feed]:
    """Serve the clip as an endless, shared live RTSP mount at MOUNT.

    Like rtsp_peer.live_mount (an ``ffmpeg -re -stream_loop -1`` feeder sends
    RTP to a udpsrc relay), but the udpsrc gets a 4 MB receive buffer: with
    live_mount's default buffer the ~300 KB keyframe bursts of this clip are
    dropped on loopback (RcvbufErrors) and clients never see a keyframe.
    """
    port = free_port("udp")
    caps = "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96"
    launch = (
        f'udpsrc address=127.0.0.1 port={port} buffer-size={UDP_RCVBUF} caps="{caps}" '
        "! rtph264depay ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
    feeder_argv = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
        "-i", str(clip), "-an", "-c:v", "copy", "-f", "rtp", f"rtp://127.0.0.1:{port}?pkt_size=1200",
    ]  # fmt: skip
    server = RtspServer([launch_mount(MOUNT, launch)])
    feeder = subprocess.Popen(  # started before any thread exists, so preexec_fn is safe
        feeder_argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509
    )
    drops = RelayDrops(port)
    try:
        server.start()
        yield Feed(server.url(MOUNT), drops, server, feeder)
    finally:
        server.stop()
        feeder.send_signal(signal.SIGCONT)
        feeder.kill()
        feeder.wait(timeout=5)
        drops.close()


def rss_mb() -> float:
    """VmRSS of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all threads; default this one) from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches() -> int:
    """Voluntary context switches of this process so far (all threads): a thread that sleeps or waits."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # the thread ended meanwhile
    return total


def p50(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """The 95th percentile (linear interpolation)."""
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def summary(values: list[float], unit: str = "ms") -> str:
    """'p50 … p95 … min … max … (n=…)'."""
    return (
        f"p50 {p50(values):7.1f} {unit}  p95 {p95(values):7.1f} {unit}  "
        f"min {min(values):7.1f}  max {max(values):7.1f}  (n={len(values)})"
    )


def wait_until(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.002) -> None:
    """Poll predicate until it is true or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(step)
