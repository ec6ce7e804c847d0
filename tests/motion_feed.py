"""A camera-like clip with motion at known times, for live RTSP mounts (HA tests and benchmarks).

SMPTE bars with a grid and temporal noise (a plausible still scene) and a
two-tone box crossing the picture during each ``moves`` window. Encoded like
the other live clips (libx264 zerolatency, no B-frames, a keyframe every
``gop`` frames, SPS/PPS before every keyframe) so it loops cleanly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def make_motion_clip(
    path: Path,
    width: int = 320,
    height: int = 180,
    fps: int = 15,
    seconds: float = 4.0,
    moves: list[tuple[float, float]] | None = None,
    gop: int = 15,
    start_x: float | None = None,
) -> Path:
    """Encode the clip to ``path`` (``.ts``) and return it.

    The box crosses the whole picture from outside; with ``start_x`` (0..1) it
    appears at once at that fraction of the width and moves half the width.
    """
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make the motion clip"
    moves = moves if moves is not None else [(0.5, 2.0)]
    box_w, box_h = max(8, width // 13), max(8, height * 8 // 45)
    scene = f"smptebars=s={width}x{height}:r={fps}:d={seconds},drawgrid=w={width // 10}:h={height // 6}:t=1:c=gray@0.6"
    box = (
        f"color=c=0x101010:s={box_w}x{box_h}:r={fps},"
        f"drawbox=x=0:y={box_h // 2}:w={box_w}:h={box_h - box_h // 2}:color=0xe0e0e0:t=fill"
    )
    chain, graph = "[0]", []
    for i, (t0, t1) in enumerate(moves):
        if start_x is None:
            x0, speed = -box_w, (width + box_w) / (t1 - t0)
        else:
            x0, speed = round(start_x * width), width / 2 / (t1 - t0)
        graph.append(
            f"{chain}[b{i}]overlay=x='{x0}+(t-{t0})*{speed}':y={height // 4}"
            f":enable='between(t,{t0},{t1})':shortest=1[m{i}]"
        )
        chain = f"[m{i}]"
    split = f"[1]split={len(moves)}" + "".join(f"[b{i}]" for i in range(len(moves))) if moves else ""
    graph = ([split] if split else []) + graph
    graph.append(f"{chain}noise=alls=8:allf=t,format=yuv420p[out]")
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            scene,
            "-f",
            "lavfi",
            "-i",
            box,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[out]",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-x264-params",
            "repeat-headers=1:sliced-threads=0:bframes=0:open-gop=0",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-threads",
            "2",
            "-f",
            "mpegts",
            str(path),
        ],  # fmt: skip
        check=True,
        timeout=120,
    )
    return path
