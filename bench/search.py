"""Smart search: query time over a month of index, index size, indexing's CPU, and accuracy.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/search.py                 # about 2 minutes (the index is built once, in bench/out)
    .venv/bin/python bench/search.py --days 7 --channels 4 --queries 10   # quick look

1. Query time: an activity index of ``--days`` (30) x ``--channels`` (16) is
   written in the engine's format (``engine/search/store.py``), as
   ``bench/browse.py`` builds footage: a shop's day, motion in about a fifth
   of the seconds from 08:00 to 20:00 (bursts of 5-60 s of a box somewhere
   in the picture) and a little at night. OURS is ``engine.search.query.search``
   over one day and over 7 days of one channel, a random rectangle each time
   (region to cells, reading the day files, AND and bit count, matches,
   not indexed against a day of footage); BARE reads the same files with
   ``np.fromfile`` and nothing else (the floor of any search over these
   files). Targets: one day p50 <= 100 ms, 7 days p50 <= 500 ms. The 7 days
   are also searched with their files dropped from the page cache first
   (``posix_fadvise``): a search on a cold disk.
2. Size: bytes per channel per day of that index, and of a day of continuous motion.
3. CPU of the motion worker with and without indexing: per analysed
   picture, decoding (every frame, 15 fps, of which 5 are analysed), the
   detector, and the index's part (the moved cells and the second's record),
   measured on the same 640x360 frames; ratio (decode + detect + index) /
   (decode + detect). Target <= 1.05.
4. Accuracy: a person (a real photograph, ``tests/data/objects``) walks on
   real grass with sensor noise, in the left part of the picture, then the
   right part, then the left again; the detector and the index run on every
   analysed picture; a search of the left part is compared with the seconds
   the person changed the left part. Targets: recall and precision >= 0.95.

Human-readable lines first, one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

import av  # noqa: E402
import numpy as np  # noqa: E402
from common import OUT, p50, p95, summary  # noqa: E402
from objects_scenes import fitted, photo, subject  # noqa: E402

from custom_components.nvr.engine.motion.detector import MotionDetector, luma_plane  # noqa: E402
from custom_components.nvr.engine.motion.settings import MotionSettings  # noqa: E402
from custom_components.nvr.engine.search.grid import moved_words, pack  # noqa: E402
from custom_components.nvr.engine.search.query import search  # noqa: E402
from custom_components.nvr.engine.search.store import (  # noqa: E402
    DAY,
    RECORD,
    SPAN,
    ActivityStore,
    day_files,
    read_array,
)

END = 1_780_000_000 - 1_780_000_000 % DAY
TARGET_DAY_MS = 100.0
TARGET_WEEK_MS = 500.0
TARGET_CPU = 1.05
TARGET_ACCURACY = 0.95
WIDTH, HEIGHT, FPS, DETECT_FPS = 640, 360, 15, 5


# --- 1. and 2.: a month of index -----------------------------------------------------------------


def random_box(rng: np.random.Generator) -> np.ndarray:
    cells = np.zeros((18, 32), dtype=bool)
    w, h = rng.integers(2, 9), rng.integers(2, 9)
    x, y = rng.integers(0, 32 - w), rng.integers(0, 18 - h)
    cells[y : y + h, x : x + w] = True
    return pack(cells)


def shop_day(rng: np.random.Generator, day: int, boxes: np.ndarray) -> np.ndarray:
    """One day's records: bursts of motion, mostly in opening hours."""
    seconds: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    t = day
    while t < day + DAY:
        hour = (t - day) // 3600
        busy = 8 <= hour < 20
        t += int(rng.exponential(60 if busy else 1800))
        length = int(rng.integers(5, 61))
        if t >= day + DAY:
            break
        run = np.arange(t, min(t + length, day + DAY))
        seconds.append(run)
        kinds.append(np.full(run.size, rng.integers(0, len(boxes))))
        t += length
    if not seconds:
        return np.zeros(0, dtype=RECORD)
    records = np.zeros(sum(s.size for s in seconds), dtype=RECORD)
    records["t"] = np.concatenate(seconds)
    records["cells"] = boxes[np.concatenate(kinds)]
    records["labels"] = (rng.random(records.size) < 0.3).astype(np.uint8)
    return records


def build_index(root: Path, days: int, channels: int) -> None:
    done = root / f".complete-{days}-{channels}"
    if done.exists():
        print(f"index: {root.relative_to(ROOT)} (cached)")
        return
    began = time.monotonic()
    rng = np.random.default_rng(1)
    boxes = np.stack([random_box(rng) for _ in range(500)])
    for c in range(channels):
        channel = f"ch{c:02d}"
        for d in range(days):
            day = END - (days - d) * DAY
            records, spans = day_files(root, channel, day)
            records.parent.mkdir(parents=True, exist_ok=True)
            shop_day(rng, day, boxes).tofile(records)
            np.array([(day, day + DAY - 1)], dtype=SPAN).tofile(spans)
    done.touch()
    print(f"index: built in {time.monotonic() - began:.0f} s")


def rectangle(rng: random.Random) -> list[list[tuple[float, float]]]:
    x0, y0 = rng.uniform(0, 0.7), rng.uniform(0, 0.7)
    x1, y1 = x0 + rng.uniform(0.1, 0.3), y0 + rng.uniform(0.1, 0.3)
    return [[(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]


def evict(root: Path, channel: str, start: int, end: int) -> None:
    """Drop the day files from the page cache (``posix_fadvise``, no root needed): a search on a cold disk."""
    for day in range(start - start % DAY, end, DAY):
        for path in day_files(root, channel, day):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def query_times(
    root: Path, days: int, channels: int, span_days: int, queries: int, cold: bool = False
) -> tuple[list, list, int]:
    rng = random.Random(span_days)
    ours, bare, found = [], [], 0
    for _ in range(queries):
        channel = f"ch{rng.randrange(channels):02d}"
        start = END - rng.randrange(span_days, days + 1) * DAY + 3600
        end = start + span_days * DAY
        footage = [(float(start), float(end))]
        if cold:
            evict(root, channel, start, end)
        began = time.perf_counter()
        result = search(root, channel, start, end, rectangle(rng), footage=footage)
        ours.append((time.perf_counter() - began) * 1000)
        found += len(result.matches)
        if cold:
            evict(root, channel, start, end)
        began = time.perf_counter()
        for day in range(start - start % DAY, end, DAY):
            read_array(day_files(root, channel, day)[0], RECORD)
        bare.append((time.perf_counter() - began) * 1000)
    return ours, bare, found


# --- 3. CPU per analysed picture -------------------------------------------------------------------


def clip_frames(seconds: float) -> list[np.ndarray]:
    """640x360 luma of the walking person on grass, every frame at 15 fps (see scene())."""
    return [luma for _t, luma in scene(seconds, FPS)]


def encoded(frames: list[np.ndarray]) -> list[av.Packet]:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.options = {"bf": "0", "g": str(FPS * 2)}
    packets: list[av.Packet] = []
    chroma = np.full((HEIGHT // 2, WIDTH // 2), 128, dtype=np.uint8)
    for i, luma in enumerate(frames):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(luma.tobytes())
        frame.planes[1].update(chroma.tobytes())
        frame.planes[2].update(chroma.tobytes())
        frame.pts = i
        packets += codec.encode(frame)
    packets += codec.encode(None)
    return packets


def cpu_part(seconds: float) -> dict:
    frames = clip_frames(seconds)
    packets = encoded(frames)
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1
    began = time.process_time()
    decoded = [f for p in packets for f in decoder.decode(p)]
    decode = time.process_time() - began
    step = FPS // DETECT_FPS
    analysed = [(i / FPS, luma_plane(decoded[i])) for i in range(0, len(decoded), step)]
    detector = MotionDetector(MotionSettings(detect_fps=DETECT_FPS))
    changed = []
    began = time.process_time()
    for t, luma in analysed:
        detector.process(luma, t)
        changed.append(detector.changed)
    detect = time.process_time() - began
    with tempfile.TemporaryDirectory() as folder:
        store = ActivityStore(Path(folder), flush=3600)
        activity = store.channel("bench")
        began = time.process_time()
        for (t, _luma), moved in zip(analysed, changed, strict=True):
            activity.picture(END + t, None if moved is None else moved_words(moved))
        index = time.process_time() - began
        store.close()
    n = len(analysed)
    figures = {
        "decode_ms_per_analysed": decode / n * 1000,
        "detect_ms": detect / n * 1000,
        "index_ms": index / n * 1000,
    }
    figures["ratio"] = (decode + detect + index) / (decode + detect)
    return figures


# --- 4. accuracy -----------------------------------------------------------------------------------

PHASES = [(10, 18, 0.05, 0.28), (26, 34, 0.65, 0.88), (42, 50, 0.28, 0.05)]
"""(from s, to s, x at the start, x at the end) of the person's walks: left, right, left."""
REGION = [[(0.0, 0.0), (0.4, 0.0), (0.4, 1.0), (0.0, 1.0)]]


def scene(seconds: float, fps: int):
    """(t, luma) of the person walking on grass with sensor noise."""
    rng = np.random.default_rng(3)
    rgb = fitted(photo("grass"), WIDTH, HEIGHT).astype(np.float32)
    background = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    person = subject("cameraman", 150).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ph, pw = person.shape
    for i in range(int(seconds * fps)):
        t = i / fps
        picture = background.copy()
        for t0, t1, x0, x1 in PHASES:
            if t0 <= t < t1:
                x = x0 + (x1 - x0) * (t - t0) / (t1 - t0)
                left, top = int(x * WIDTH), HEIGHT - ph - 40
                picture[top : top + ph, left : left + pw] = person[:, : min(pw, WIDTH - left)]
        picture += rng.normal(0, 2.0, picture.shape).astype(np.float32)
        yield t, np.clip(picture, 0, 255).astype(np.uint8)


def accuracy() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        store = ActivityStore(root, flush=3600)
        activity = store.channel("acc")
        detector = MotionDetector(MotionSettings(detect_fps=DETECT_FPS))
        for t, luma in scene(60, DETECT_FPS):
            detector.process(luma, t)
            changed = detector.changed
            activity.picture(END + t, None if changed is None else moved_words(changed))
        store.close()
        records = read_array(day_files(root, "acc", END)[0], RECORD)
        result = search(root, "acc", END, END + 60, REGION)
        # The seconds with moving cells of the region (before merging and padding).
        region = pack(np.pad(np.ones((18, 13), dtype=bool), ((0, 0), (0, 19))))
        moving = {int(r["t"]) - END for r in records if np.bitwise_count(r["cells"] & region).sum() > 0}
    truth = {s for t0, t1, x0, x1 in PHASES if min(x0, x1) < 0.4 for s in range(t0, t1 + 1)}
    hits = len(moving & truth)
    return {
        "recall": hits / len(truth),
        "precision": hits / len(moving) if moving else 0.0,
        "matches": [(m.start - END, m.end - END) for m in result.matches],
        "truth_seconds": len(truth),
        "found_seconds": len(moving),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--cpu-seconds", type=float, default=20.0)
    args = parser.parse_args()
    root = OUT / "search_index"
    build_index(root, args.days, args.channels)
    sizes = [p.stat().st_size for p in root.glob("ch*/activity/*.act")]
    per_day_kb = p50(sizes) / 1024
    print(f"size: {per_day_kb:.0f} KB per channel per day (p50; p95 {p95(sizes) / 1024:.0f} KB), "
          f"a day of continuous motion {DAY * RECORD.itemsize / 1e6:.1f} MB")  # fmt: skip
    day_ours, day_bare, day_found = query_times(root, args.days, args.channels, 1, args.queries)
    week_ours, week_bare, week_found = query_times(root, args.days, args.channels, 7, args.queries)
    print(f"one day:  ours {summary(day_ours)}  ({day_found / args.queries:.0f} matches per query)")
    print(f"          bare {summary(day_bare)}")
    print(f"7 days:   ours {summary(week_ours)}  ({week_found / args.queries:.0f} matches per query)")
    print(f"          bare {summary(week_bare)}")
    cold_ours, cold_bare, _ = query_times(root, args.days, args.channels, 7, args.queries, cold=True)
    print(f"7 days, files not in the page cache: ours {summary(cold_ours)}")
    print(f"                                     bare {summary(cold_bare)}")
    cpu = cpu_part(args.cpu_seconds)
    print(
        f"cpu per analysed picture: decode {cpu['decode_ms_per_analysed']:.2f} ms, detect {cpu['detect_ms']:.2f} ms,"
        f" index {cpu['index_ms']:.3f} ms: ratio {cpu['ratio']:.4f} (target <= {TARGET_CPU})"
    )
    acc = accuracy()
    print(
        f"accuracy: recall {acc['recall']:.3f}, precision {acc['precision']:.3f} ({acc['found_seconds']} seconds"
        f" found, {acc['truth_seconds']} true); matches {acc['matches']}"
    )
    ok = (
        p50(day_ours) <= TARGET_DAY_MS
        and p50(week_ours) <= TARGET_WEEK_MS
        and cpu["ratio"] <= TARGET_CPU
        and min(acc["recall"], acc["precision"]) >= TARGET_ACCURACY
    )
    print(
        json.dumps(
            {
                "metric": "search_7_days_p50_ms",
                "ours": round(p50(week_ours), 2),
                "baseline": round(p50(week_bare), 2),
                "ratio": round(p50(week_ours) / p50(week_bare), 2),
                "one_day_p50_ms": round(p50(day_ours), 2),
                "seven_days_cold_p50_ms": round(p50(cold_ours), 2),
                "seven_days_cold_bare_p50_ms": round(p50(cold_bare), 2),
                "one_day_bare_p50_ms": round(p50(day_bare), 2),
                "index_kb_per_channel_day": round(per_day_kb, 1),
                "cpu_ratio_with_index": round(cpu["ratio"], 4),
                "recall": round(acc["recall"], 3),
                "precision": round(acc["precision"], 3),
                "targets_met": ok,
            }
        )
    )


if __name__ == "__main__":
    main()
