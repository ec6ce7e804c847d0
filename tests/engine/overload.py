"""A CPU hog and a heavy live stream for the overload tests (engine and HA).

``cpu_hog()`` saturates every core: ``stress-ng --cpu N`` when installed,
else N busy Python processes. It runs more hogs than the box has cores by a
margin, so that the scheduler's fair share leaves the NVR's decoding
threads less CPU than a few 1080p streams need.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

HOGS = 8
"""Busy processes: more than the NVR's decoding threads, so that they get too little CPU."""
FPS = 25
GOP = 50
"""Frames per keyframe interval of the heavy clip (2 s)."""


def heavy_clip(path: Path) -> Path:
    """A 1920x1080 25 fps H.264 clip with sensor-like noise (costly to decode), keyframe every 2 s."""
    if path.exists():
        return path
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1920x1080:rate={FPS}",
            "-vf",
            "noise=alls=12:allf=t",
            "-t",
            "8",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "6M",
            "-maxrate",
            "6M",
            "-bufsize",
            "6M",
            "-x264-params",
            "repeat-headers=1",
            "-g",
            str(GOP),
            "-keyint_min",
            str(GOP),
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-threads",
            "2",
            "-f",
            "mpegts",
            str(path),
        ],  # fmt: skip
        check=True,
        timeout=600,
    )
    return path


def _spin() -> None:  # pragma: no cover - runs in the hog processes
    while True:
        pass


@contextlib.contextmanager
def cpu_hog(count: int = HOGS) -> Iterator[str]:
    """Saturate the CPU while inside; yields what hogs it (for messages)."""
    stress = shutil.which("stress-ng")
    if stress is not None:
        proc = subprocess.Popen(
            [stress, "--cpu", str(count), "--timeout", "600s", "--quiet"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield f"stress-ng --cpu {count}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        return
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_spin, daemon=True) for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        yield f"{count} busy Python processes"
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.join(10)
