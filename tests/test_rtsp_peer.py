"""Tests of the real RTSP test peer itself (tests/rtsp_peer.py + rtsp_server.py)."""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import av.error
import pytest
import rtsp_peer
from rtsp_peer import GarbageServer, RtspServer, SilentServer, live_mount

# Short probing. With PyAV's defaults an open takes ~1.8-2.7 s on the live
# H.264 mounts and ~2.1 s on MJPEG (frame-rate probing); with these it is
# ~0.1-1 s (H.264 still waits for the next in-band SPS, i.e. up to one GOP).
FAST = {
    "rtsp_transport": "tcp",
    "analyzeduration": "500000",
    "probesize": "100000",
    "fpsprobesize": "0",
}
TIMEOUT = (10.0, 10.0)


def open_rtsp(url: str, timeout: tuple[float, float] = TIMEOUT, **options: str) -> av.container.InputContainer:
    """Open an RTSP URL over TCP with PyAV."""
    return av.open(url, options={**FAST, **options}, timeout=timeout)


def first_frames(url: str, count: int = 3) -> list[av.VideoFrame]:
    """Decode ``count`` video frames from ``url``."""
    with open_rtsp(url) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_dead(pids: list[int], timeout: float = 5) -> list[int]:
    """Wait until none of ``pids`` is alive; return the survivors."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        survivors = [pid for pid in pids if alive(pid)]
        if not survivors:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def ffmpeg_children(pid: int) -> list[int]:
    """PIDs of live ``ffmpeg`` processes whose parent is ``pid``."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm == "ffmpeg" and int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return children


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1.5 s MP4 for the EOF test."""
    return rtsp_peer.make_clip(tmp_path_factory.mktemp("short") / "short.mp4", 320, 180, seconds=1.5)


@pytest.fixture(scope="module")
def h265_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s H.265 MPEG-TS."""
    return rtsp_peer.make_clip(tmp_path_factory.mktemp("hevc") / "hevc.ts", 320, 180, seconds=2, codec="h265")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def test_tools_available() -> None:
    """The launcher's requirements are present (CI installs them)."""
    assert rtsp_peer.tools_available() == (True, "ok")


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_free_port(kind: str) -> None:
    """free_port returns an unprivileged, currently bindable port."""
    port = rtsp_peer.free_port(kind)
    assert 1024 < port < 65536
    with rtsp_peer._new_socket(kind) as sock:
        sock.bind(("127.0.0.1", port))


def test_clips(clips: Path) -> None:
    """The generated clips have the promised geometry and codecs."""
    expected = {"live.ts": (640, 360), "sub.ts": (320, 180), "file.mp4": (640, 360)}
    for name, (width, height) in expected.items():
        with av.open(str(clips / name)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.codec_context.width, stream.codec_context.height) == (
                width,
                height,
            )
            assert stream.average_rate == 15
            keyframes = [p.pts for p in container.demux(stream) if p.is_keyframe]
            assert len(keyframes) >= 5  # one per GOP of 15 frames
    with av.open(str(clips / "audio.wav")) as container:
        assert not container.streams.video
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"


def test_rec_clips_b_frames(rec_clips: dict[str, Path]) -> None:
    """make_clip(bframes=2) reorders frames (pts != dts), keeps a keyframe every 15
    frames; bframes=0 does not reorder."""
    for mount, clip in rec_clips.items():
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            packets = [p for p in container.demux(stream) if p.size]
        reordered = sum(1 for p in packets if p.pts != p.dts)
        keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
        assert keyframes == list(range(0, len(packets), 15)), mount
        if mount.endswith("b"):
            assert reordered > len(packets) // 2, mount
            pts = [p.pts for p in packets[:15]]
            assert pts != sorted(pts), mount
        else:
            assert reordered == 0, mount


# --------------------------------------------------------------------------
# mounts
# --------------------------------------------------------------------------


def test_live_mount_decodes(rtsp_server: RtspServer) -> None:
    """/live is H.264 640x360 and decodes."""
    frames = first_frames(rtsp_server.url("/live"))
    assert len(frames) == 3
    assert all((f.width, f.height) == (640, 360) for f in frames)


def test_live_mount_packets_are_access_units(rtsp_server: RtspServer) -> None:
    """Like a camera: one packet per frame, regular rising timestamps, and
    every keyframe carries SPS/PPS in-band (over a GOP boundary)."""
    with open_rtsp(rtsp_server.url("/live")) as container:
        stream = container.streams.video[0]
        packets = []
        for packet in container.demux(stream):
            if packet.pts is not None:
                packets.append(packet)
            if len(packets) >= 20:
                break
        deltas = [float((b.pts - a.pts) * stream.time_base) for a, b in itertools.pairwise(packets)]
        assert all(0.04 < delta < 0.1 for delta in deltas), deltas  # 15 fps = 0.067 s
        keyframes = [bytes(p) for p in packets if p.is_keyframe]
        assert keyframes
        for data in keyframes:
            nal_types = {data[m.end()] & 0x1F for m in re.finditer(b"\x00\x00\x01", data[:-1])}
            assert {7, 8, 5} <= nal_types  # SPS, PPS, IDR slice


def test_h265_live_mount(rtsp_server_factory: Callable[..., RtspServer], h265_clip: Path) -> None:
    """rtp_clip mounts also relay H.265."""
    server = rtsp_server_factory([live_mount("/hevc", h265_clip, codec="h265")])
    with open_rtsp(server.url("/hevc")) as container:
        assert container.streams.video[0].codec_context.name == "hevc"
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 180)


def test_sub_mount_decodes(rtsp_server: RtspServer) -> None:
    """/sub is 320x180."""
    frames = first_frames(rtsp_server.url("/sub"), count=1)
    assert (frames[0].width, frames[0].height) == (320, 180)


def test_live_mount_is_shared(rtsp_server: RtspServer) -> None:
    """Two concurrent and then a third successive client all get frames."""
    url = rtsp_server.url("/live")
    with open_rtsp(url) as first, open_rtsp(url) as second:
        for container in (first, second):
            assert container.streams.video[0].codec_context.name == "h264"
            assert next(container.decode(video=0)).width == 640
    assert first_frames(url, count=1)[0].height == 360


def test_file_mount_starts(rtsp_server: RtspServer) -> None:
    """/file plays the MP4 clip."""
    assert first_frames(rtsp_server.url("/file"), count=1)[0].width == 640


def test_file_mount_ends_at_eof(rtsp_server_factory: Callable[..., RtspServer], short_clip: Path) -> None:
    """A file mount ends: demuxing stops without error after the clip."""
    server = rtsp_server_factory([rtsp_peer.file_mount("/file", short_clip)])
    started = time.monotonic()
    with open_rtsp(server.url("/file")) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    assert 15 <= len(packets) <= 30  # 1.5 s at 15 fps (+ parameter sets)
    assert time.monotonic() - started < 8


def test_audio_mount_has_no_video(rtsp_server: RtspServer) -> None:
    """/audio is audio only (G.711 A-law)."""
    with open_rtsp(rtsp_server.url("/audio")) as container:
        assert not container.streams.video
        assert container.streams.audio[0].codec_context.name == "pcm_alaw"
        assert next(container.demux(audio=0)).size > 0


def test_av_mount_has_h264_and_alaw(recording_server: RtspServer) -> None:
    """/av of the recording server: live H.264 video plus G.711 A-law audio."""
    with open_rtsp(recording_server.url("/av")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "pcm_alaw"
        kinds = set()
        for packet in container.demux():
            if packet.size:
                kinds.add(packet.stream.type)
            if kinds == {"video", "audio"}:
                break
        assert kinds == {"video", "audio"}


def test_mjpeg_mount(rtsp_server: RtspServer) -> None:
    """/mjpeg is MJPEG 320x240."""
    with open_rtsp(rtsp_server.url("/mjpeg")) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (320, 240)


# --------------------------------------------------------------------------
# auth
# --------------------------------------------------------------------------


@pytest.fixture(params=["basic", "digest"])
def auth_server(request: pytest.FixtureRequest, rtsp_basic: RtspServer, rtsp_digest: RtspServer) -> RtspServer:
    """Each auth server in turn."""
    return rtsp_basic if request.param == "basic" else rtsp_digest


@pytest.mark.parametrize(
    ("user", "password"),
    [(None, None), ("admin", "wrong"), ("intruder", "secret"), ("admin", None)],
)
def test_auth_rejects(auth_server: RtspServer, user: str | None, password: str | None) -> None:
    """Missing or wrong credentials on a protected mount give RTSP 401."""
    with pytest.raises(av.error.HTTPUnauthorizedError):
        open_rtsp(auth_server.url("/live", user, password))


def test_auth_accepts(auth_server: RtspServer) -> None:
    """The right credentials work; unprotected mounts stay open."""
    assert auth_server.auth_url() == auth_server.url("/live", "admin", "secret")
    frames = first_frames(auth_server.auth_url("/live"), count=1)
    assert (frames[0].width, frames[0].height) == (640, 360)
    with open_rtsp(auth_server.url("/open")) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"


# --------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True])
def test_stop_ends_reader_and_restart_same_port(
    rtsp_server_factory: Callable[..., RtspServer], clips: Path, reset: bool
) -> None:
    """Stopping ends a reading client promptly; restart reuses the port.

    FFmpeg's RTSP demuxer treats both a FIN (stop) and an RST
    (``stop(reset=True)``) on the TCP connection as end of stream: demux just
    stops, no exception.
    """
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    port = server.port
    assert server.pid is not None
    feeders = ffmpeg_children(server.pid)
    assert feeders == server.feeder_pids
    assert len(feeders) == 1

    packets = 0
    with open_rtsp(server.url("/live")) as container:
        stopper = threading.Timer(0.5, server.stop, kwargs={"reset": reset})
        stopper.start()
        started = time.monotonic()
        try:
            for _packet in container.demux(video=0):
                packets += 1
        except av.error.FFmpegError:  # not seen with FFmpeg 7, tolerated
            pass
        elapsed = time.monotonic() - started
        stopper.join()
    assert packets > 0
    assert elapsed < 5
    assert not server.running
    assert wait_dead(feeders) == []

    server.start()
    assert server.port == port
    assert first_frames(server.url("/live"), count=1)[0].width == 640
    old = feeders
    server.restart()
    assert server.port == port
    assert set(server.feeder_pids).isdisjoint(old)
    assert first_frames(server.url("/live"), count=1)[0].width == 640


def test_freeze_makes_reader_time_out(rtsp_server_factory: Callable[..., RtspServer], clips: Path) -> None:
    """A frozen (SIGSTOPped) server leaves readers hanging until their timeout."""
    server = rtsp_server_factory([live_mount("/live", clips / "live.ts")])
    with open_rtsp(server.url("/live"), timeout=(10, 1)) as container:
        assert next(container.demux(video=0)) is not None
        server.freeze()
        started = time.monotonic()
        with pytest.raises(av.error.ExitError):
            for _packet in container.demux(video=0):
                pass
        assert time.monotonic() - started < 5
    server.thaw()
    assert first_frames(server.url("/live"), count=1)[0].width == 640
    server.freeze()
    server.stop()  # works on a frozen server too
    assert not server.running


def test_feeders_die_with_killed_launcher(rtsp_server_factory: Callable[..., RtspServer], clips: Path) -> None:
    """SIGKILLing the launcher still takes its ffmpeg feeders down."""
    server = rtsp_server_factory([live_mount("/a", clips / "sub.ts"), live_mount("/b", clips / "sub.ts")])
    assert server.pid is not None
    feeders = ffmpeg_children(server.pid)
    assert len(feeders) == 2
    os.kill(server.pid, signal.SIGKILL)
    assert wait_dead(feeders) == []
    server.stop()


def test_launcher_exits_when_stdin_closes(rtsp_server_factory: Callable[..., RtspServer], clips: Path) -> None:
    """The launcher quits when its parent goes away (stdin pipe EOF)."""
    server = rtsp_server_factory([live_mount("/live", clips / "sub.ts")])
    proc = server._proc
    assert proc is not None and proc.stdin is not None
    feeders = list(server.feeder_pids)
    proc.stdin.close()
    assert proc.wait(timeout=5) == 0
    assert wait_dead(feeders) == []
    server.stop()


def test_start_failure_reports_stderr(tmp_path: Path) -> None:
    """A broken mount makes start() raise with the launcher's stderr."""
    server = RtspServer([{"path": "/x", "nonsense": True}])
    with pytest.raises(rtsp_peer.RtspServerError, match="without launch/rtp_clip/file"):
        server.start(timeout=10)
    assert not server.running


# --------------------------------------------------------------------------
# misbehaving peers
# --------------------------------------------------------------------------


def test_garbage_server(garbage_server: GarbageServer) -> None:
    """Random bytes instead of RTSP make av.open fail with an FFmpegError."""
    before = garbage_server.connections
    with pytest.raises(av.error.FFmpegError):  # InvalidDataError in practice
        open_rtsp(garbage_server.url("/live"))
    assert garbage_server.connections > before


def test_silent_server(silent_server: SilentServer) -> None:
    """A peer that never answers: av.open gives up after its open timeout."""
    started = time.monotonic()
    with pytest.raises(av.error.FFmpegError):  # InvalidDataError in practice
        open_rtsp(silent_server.url("/live"), timeout=(1, 1))
    assert time.monotonic() - started < 5


def test_tcp_peers_start_stop_cleanly() -> None:
    """Peers work inside a test (pytest-socket active), restart on the same
    port and leave no thread behind."""
    threads_before = set(threading.enumerate())
    with GarbageServer() as garbage:
        port = garbage.port
        with pytest.raises(av.error.FFmpegError):
            open_rtsp(garbage.url())
    assert not garbage.running
    with garbage:
        assert garbage.port == port
        with pytest.raises(av.error.FFmpegError):
            open_rtsp(garbage.url())
    with SilentServer() as silent:
        assert silent.url("/x") == f"rtsp://127.0.0.1:{silent.port}/x"
    assert set(threading.enumerate()) <= threads_before
