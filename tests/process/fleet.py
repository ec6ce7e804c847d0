"""Sixteen live cameras for a whole-process NVR: the fleet the stop tests and the soak share.

Plain Python (no pytest, no Home Assistant import), so ``bench/soak.py`` uses
it too. Small pictures (320x180, 15 fps, a keyframe every second) so a busy
2-core machine records all of them with motion detection on:

* H.264 and H.265 clips looped as endless live mounts (``rtsp_peer.live_mount``),
* H.264 with G.711 audio (A-law or µ-law) encoded live by GStreamer
  (``rtsp_peer.av_launch``), like a camera with a microphone.

The first :data:`STEADY` cameras are on one server that stays up; the rest
(:data:`CUTTABLE`) are on a second server the soak stops and starts (a camera
cut). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import glob
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtsp_peer import RtspServer, av_launch, launch_mount, live_mount, make_clip

SIZE = 16
CUTTABLE = 4
STEADY = SIZE - CUTTABLE
WIDTH, HEIGHT = 320, 180


@dataclass(frozen=True)
class Camera:
    """One mount of the fleet."""

    name: str
    path: str
    kind: str
    """``h264``, ``h265`` or ``h264+g711``."""
    cuttable: bool


def _kind(index: int) -> str:
    return ("h264", "h265", "h264+g711", "h264")[index % 4]


class Fleet:
    """The RTSP servers behind the 16 channels."""

    def __init__(self, folder: Path, size: int = SIZE, cuttable: int = CUTTABLE) -> None:
        """Encode the clips (a few seconds on a busy machine); call :meth:`start` to serve them."""
        folder.mkdir(parents=True, exist_ok=True)
        clips = {
            codec: make_clip(folder / f"{codec}.ts", WIDTH, HEIGHT, fps=15, gop=15, seconds=4, codec=codec)
            for codec in ("h264", "h265")
        }
        self.cameras: list[Camera] = []
        mounts: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for index in range(size):
            kind = _kind(index)
            camera = Camera(f"Cam {index + 1:02d}", f"/cam{index + 1:02d}", kind, index >= size - cuttable)
            if kind == "h264+g711":
                law = "alaw" if index % 8 == 2 else "mulaw"
                mount = launch_mount(camera.path, av_launch(WIDTH, HEIGHT, law))
            else:
                mount = live_mount(camera.path, clips[kind], codec=kind.upper())
            mounts[camera.cuttable].append(mount)
            self.cameras.append(camera)
        self.steady = RtspServer(mounts[0])
        self.cut = RtspServer(mounts[1]) if mounts[1] else None

    def start(self) -> Fleet:
        """Start both servers."""
        self.steady.start(timeout=60)
        if self.cut is not None:
            self.cut.start(timeout=60)
        return self

    def stop(self) -> None:
        """Stop both servers."""
        if self.cut is not None:
            self.cut.stop()
        self.steady.stop()

    def server(self, camera: Camera) -> RtspServer:
        """The server a camera is on."""
        return self.cut if camera.cuttable and self.cut is not None else self.steady

    def url(self, camera: Camera) -> str:
        """The camera's RTSP URL."""
        return self.server(camera).url(camera.path)

    def channels(self) -> list[dict[str, Any]]:
        """What the channel flow is given for every camera (``develop_setup.add_channel``)."""
        return [{"name": c.name, "main_url": self.url(c)} for c in self.cameras]


# --------------------------------------------------------------------------
# recordings on disk
# --------------------------------------------------------------------------


def segment_files(config: Path, channel: str) -> list[Path]:
    """A channel's recorded files, oldest first (names are UTC start times)."""
    pattern = str(config / "**" / channel / "*" / "*" / "*Z.mp4")
    return sorted((Path(p) for p in glob.glob(pattern, recursive=True)), key=lambda p: p.name)


def probe(path: Path) -> dict[str, Any]:
    """What ffprobe reads of a file: its streams and duration; raises if it cannot read it."""
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name,codec_type",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"ffprobe cannot read {path}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def decodes_to_end(path: Path) -> str:
    """Errors ffmpeg reports decoding the whole file ('' when clean)."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.stderr.strip() if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()}"
