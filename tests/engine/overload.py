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


class CpuHog:
    """Busy processes that saturate every core; :meth:`more` adds some.

    They stay in the caller's session. With the kernel's autogroup scheduling
    (``kernel.sched_autogroup_enabled``, on in most distributions), a process
    started in a session of its own gets its own group: the hogs together
    would then get only a fair share against the whole test process, and a
    fast machine's decoders could keep up with them.
    """

    def __init__(self) -> None:
        self._stress = shutil.which("stress-ng")
        self._procs: list = []
        self.count = 0

    def more(self, count: int) -> None:
        """Start ``count`` more hogs."""
        if self._stress is not None:
            self._procs.append(
                subprocess.Popen(
                    [self._stress, "--cpu", str(count), "--timeout", "600s", "--quiet"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    process_group=0,  # its own group, for killpg, in the caller's session
                )
            )
        else:
            context = multiprocessing.get_context("spawn")
            for _ in range(count):
                proc = context.Process(target=_spin, daemon=True)
                proc.start()
                self._procs.append(proc)
        self.count += count

    def stop(self) -> None:
        for proc in self._procs:
            if isinstance(proc, subprocess.Popen):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            else:
                proc.kill()
                proc.join(10)
        self._procs.clear()

    def __str__(self) -> str:
        what = "stress-ng --cpu" if self._stress is not None else "busy Python processes:"
        return f"{what} {self.count}"


@contextlib.contextmanager
def cpu_hog(count: int = HOGS) -> Iterator[CpuHog]:
    """Saturate the CPU while inside; yields the hog (its ``str`` says what hogs it)."""
    hog = CpuHog()
    try:
        hog.more(count)
        yield hog
    finally:
        hog.stop()
