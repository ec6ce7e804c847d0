"""Two stills of one picture at once (two sizes, two stills threads) never crash the process.

PyAV 13's ``frame.reformat()`` keeps one scaler on the frame; two threads
scaling the same frame through it crashed Python (SIGSEGV). Run in a child
process, so that a crash fails this test instead of ending the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ENGINE_PARENT = Path(__file__).resolve().parents[3] / "custom_components" / "nvr"

CHILD = f"""
import sys, threading
sys.path.append({str(ENGINE_PARENT)!r})
import av, numpy as np
from engine.stills.snapshot import encode_jpeg
rgb = np.random.default_rng(1).integers(0, 255, (360, 640, 3), dtype=np.uint8)
frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
def run(width, height):
    for _ in range(150):
        assert encode_jpeg(frame, width, height)[:2] == b"\\xff\\xd8"
threads = [threading.Thread(target=run, args=size) for size in ((320, 180), (640, 360), (160, 90))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("ok")
"""


@pytest.mark.timeout(300)
def test_stills_of_one_picture_on_several_threads() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.strip() == "ok"
