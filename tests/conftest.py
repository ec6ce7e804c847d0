"""Shared fixtures: real RTSP peers and generated media (no Home Assistant).

Fixtures (all session scoped unless noted):

* ``clips`` - a directory with ``live.ts`` (640x360, 15 fps, GOP 15, 10 s,
  H.264), ``sub.ts`` (same at 320x180), ``file.mp4`` (640x360, 5 s) and
  ``audio.wav`` (8 kHz mono, 5 s).
* ``rtsp_server`` - open server: ``/live`` and ``/sub`` endless live H.264,
  ``/file`` finite (ends at EOF), ``/audio`` live G.711 A-law only,
  ``/mjpeg`` live MJPEG 320x240.
* ``rec_clips`` / ``recording_server`` - 320x180 15 fps clips with a
  keyframe every second, H.264 and H.265: without B-frames endless live at
  ``/h264`` and ``/h265``; with B-frames (12 s, from the start for every
  client: looping a B-frame clip loses frames at the seam) at ``/h264b`` and
  ``/h265b``; ``/av`` is live H.264 with G.711 A-law audio
  (:data:`rtsp_peer.AV_LAUNCH`); ``/pcma`` is the same at 640x360.
* ``rtsp_basic`` / ``rtsp_digest`` - Basic / Digest auth, user ``admin``
  password ``secret``: protected ``/live``, plus open ``/open`` (MJPEG).
* ``garbage_server`` / ``silent_server`` - misbehaving TCP peers.
* ``rtsp_server_factory`` (function scope) - ``factory(mounts, **kwargs)``
  starts a private :class:`rtsp_peer.RtspServer` (stopped at teardown); use it
  for tests that stop, restart or freeze a server.

Tests should not stop the shared servers; if one does, an autouse fixture
starts it again (same port) before the next test.

The peers create their sockets through the real ``socket.socket`` class, so
they keep working when pytest-socket (pulled in by the HA test plugin)
disables sockets for each test. PyAV/FFmpeg sockets are not affected by
pytest-socket at all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import rtsp_peer  # noqa: E402
from rtsp_peer import (  # noqa: E402
    AUDIO_LAUNCH,
    AV_LAUNCH,
    MJPEG_LAUNCH,
    GarbageServer,
    RtspServer,
    SilentServer,
    av_launch,
    file_mount,
    launch_mount,
    live_mount,
)

USER = "admin"
PASSWORD = "secret"


def _require_tools() -> None:
    """Fail (never skip) when the real peers cannot run: CI installs them."""
    ok, reason = rtsp_peer.tools_available()
    if not ok:
        pytest.fail(f"RTSP test peer unavailable: {reason}", pytrace=False)


_FIRST = {"engine": 0, "test_rtsp_peer.py": 0, "browser": 2, "process": 2}
"""The whole-process tests (browser, process) last but for the HEAVY ones."""
HEAVY = ("engine/test_overload.py", "engine/test_teardown_deadlock.py")
"""Tests that saturate both cores on purpose: run last, with the machine to themselves."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Engine tests first, then the others, the browser tests, and the HEAVY ones last.

    ``scripts/test`` runs the two HA lines side by side, each in this order
    (the HA 2026 line runs the browser and process tests in a second pytest,
    beside a real hass 2026.11), and the HEAVY tests, which load the machine
    on purpose, of one line after the other once both are done.
    """
    tests_dir = Path(__file__).resolve().parent

    def rank(item: pytest.Item) -> tuple[int, int]:
        path = Path(str(item.path))
        if not path.is_relative_to(tests_dir):
            return 1, 0
        # The wall's browser tests first: the playback tests then find footage recorded meanwhile.
        relative = path.relative_to(tests_dir)
        if relative.as_posix() in HEAVY:
            return 3, 0
        return _FIRST.get(relative.parts[0], 1), 0 if path.name == "test_wall.py" else 1

    items.sort(key=rank)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of generated test media (see module docstring)."""
    _require_tools()
    directory = tmp_path_factory.mktemp("clips")
    rtsp_peer.make_clip(directory / "live.ts", 640, 360, fps=15, gop=15, seconds=10)
    rtsp_peer.make_clip(directory / "sub.ts", 320, 180, fps=15, gop=15, seconds=10)
    rtsp_peer.make_clip(directory / "file.mp4", 640, 360, fps=15, gop=15, seconds=5)
    rtsp_peer.make_audio_clip(directory / "audio.wav", seconds=5)
    return directory


#: Shared servers started by the session fixtures (restarted if a test stops one).
_SHARED_SERVERS: list[RtspServer] = []


def _session_server(server: RtspServer) -> Iterator[RtspServer]:
    """Start ``server``, yield it, always stop it."""
    _require_tools()
    server.start()
    _SHARED_SERVERS.append(server)
    try:
        yield server
    finally:
        _SHARED_SERVERS.remove(server)
        server.stop()


@pytest.fixture(autouse=True)
def _restore_shared_rtsp_servers() -> None:
    """Restart (same port) any shared server an earlier test stopped."""
    for server in _SHARED_SERVERS:
        server.ensure_running()


def _auth_server(clips: Path, method: str) -> RtspServer:
    return RtspServer(
        [
            live_mount("/live", clips / "live.ts", protected=True),
            launch_mount("/open", MJPEG_LAUNCH),
        ],
        auth=method,
        user=USER,
        password=PASSWORD,
    )


@pytest.fixture(scope="session")
def rtsp_server(clips: Path) -> Iterator[RtspServer]:
    """Shared open RTSP server (/live, /sub, /file, /audio, /mjpeg)."""
    server = RtspServer(
        [
            live_mount("/live", clips / "live.ts"),
            live_mount("/sub", clips / "sub.ts"),
            file_mount("/file", clips / "file.mp4"),
            launch_mount("/audio", AUDIO_LAUNCH),
            launch_mount("/mjpeg", MJPEG_LAUNCH),
        ]
    )
    yield from _session_server(server)


#: Mount path -> (codec, B-frames) of the recording server's clip mounts.
RECORDING_MOUNTS = {"/h264": ("h264", 0), "/h264b": ("h264", 2), "/h265": ("h265", 0), "/h265b": ("h265", 2)}


@pytest.fixture(scope="session")
def rec_clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Mount path -> 10 s 320x180 clip (15 fps, GOP 15) for the recording tests."""
    _require_tools()
    directory = tmp_path_factory.mktemp("rec_clips")
    return {
        mount: rtsp_peer.make_clip(
            directory / f"{mount[1:]}.ts",
            320,
            180,
            fps=15,
            gop=15,
            seconds=12 if bframes else 10,
            codec=codec,
            bframes=bframes,
        )
        for mount, (codec, bframes) in RECORDING_MOUNTS.items()
    }


@pytest.fixture(scope="session")
def recording_server(rec_clips: dict[str, Path]) -> Iterator[RtspServer]:
    """Shared server for recording tests (see module docstring)."""
    mounts = [
        (file_mount if bframes else live_mount)(path, rec_clips[path], codec=codec)
        for path, (codec, bframes) in RECORDING_MOUNTS.items()
    ]
    server = RtspServer(
        [
            *mounts,
            launch_mount("/av", AV_LAUNCH),
            launch_mount("/pcma", av_launch(640, 360, "alaw")),
        ]
    )
    yield from _session_server(server)


@pytest.fixture(scope="session")
def rtsp_basic(clips: Path) -> Iterator[RtspServer]:
    """Shared Basic-auth server (admin/secret): protected /live, open /open."""
    yield from _session_server(_auth_server(clips, "basic"))


@pytest.fixture(scope="session")
def rtsp_digest(clips: Path) -> Iterator[RtspServer]:
    """Shared Digest-auth server (admin/secret): protected /live, open /open."""
    yield from _session_server(_auth_server(clips, "digest"))


@pytest.fixture(scope="session")
def garbage_server() -> Iterator[GarbageServer]:
    """Shared server answering every connection with random bytes."""
    with GarbageServer() as server:
        yield server


@pytest.fixture(scope="session")
def silent_server() -> Iterator[SilentServer]:
    """Shared server that completes TCP handshakes and never answers."""
    with SilentServer() as server:
        yield server


@pytest.fixture
def rtsp_server_factory() -> Iterator[Callable[..., RtspServer]]:
    """``factory(mounts, auth=None, ...)`` -> a started private RtspServer."""
    servers: list[RtspServer] = []

    def factory(mounts: list[dict[str, Any]], **kwargs: Any) -> RtspServer:
        server = RtspServer(mounts, **kwargs)
        servers.append(server)
        return server.start()

    yield factory
    for server in servers:
        server.stop()
