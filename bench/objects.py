"""Person and vehicle detection: accuracy on composed clips, inference time, CPU per channel.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/objects.py              # about 4 minutes
    .venv/bin/python bench/objects.py --runs 20    # fewer timed inferences

1. Inference time: the numpy runtime (BLAS limited to one thread, as in
   Home Assistant) on the truth photographs, ``--runs`` times each; the
   BASELINE is TFLite's own runtime (LiteRT, XNNPACK, one thread) on the
   same inputs, in the Python scripts/test makes for it (``.venv-litert``).
   Target: numpy median <= 150 ms.
2. Accuracy: every clip of tests/objects_scenes.py (people at 12 % down to
   1 % of the picture and a truck crossing real backgrounds; lighting,
   swaying foliage, rain, headlights and a cat) served over RTSP in real
   time and watched as a channel does: StreamReader -> MotionWorker (default
   settings) -> ChannelObjects -> the shared ObjectWorker. Recall: the share
   of positive clips with an event of their label while the object is in
   the picture (target >= 0.9 for people); false alarms: person or vehicle
   events on the negative clips, per hour of clip (target 0). The positives
   are also run with the crop around the moving area turned off.
3. CPU: the object worker's thread CPU while motion goes on, per channel
   (target <= 15 % of one core), and with a still scene (target 0).

Human-readable lines first, one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

import numpy as np  # noqa: E402
from common import p50, p95  # noqa: E402
from objects_scenes import Scene, encode, negatives, photo, positives  # noqa: E402
from rtsp_peer import RtspServer, file_mount  # noqa: E402
from support import EndWatch  # noqa: E402

from custom_components.nvr.engine.motion.settings import MotionConfig  # noqa: E402
from custom_components.nvr.engine.motion.worker import MotionWorker  # noqa: E402
from custom_components.nvr.engine.objects import detector as detector_module  # noqa: E402
from custom_components.nvr.engine.objects.channel import ChannelObjects, ObjectConfig, ObjectUpdate  # noqa: E402
from custom_components.nvr.engine.objects.detector import ObjectDetector  # noqa: E402
from custom_components.nvr.engine.objects.worker import ObjectWorker, limit_blas_threads  # noqa: E402
from custom_components.nvr.engine.stream.reader import StreamReader  # noqa: E402
from custom_components.nvr.engine.stream.sinks import FanOutSink  # noqa: E402
from custom_components.nvr.engine.stream.source import StreamSource  # noqa: E402

PHOTOS = ["astronaut", "cameraman", "truck_bicycle_dog", "person_dog_horse", "motorway", "grass"]
TARBALL = ROOT / ".cache" / "objectron" / "mediapipe-objectron-0.4.1675468480.tgz"
LITERT = ROOT / ".venv-litert" / "bin" / "python"


def speed_part(detector: ObjectDetector, runs: int) -> dict:
    inputs = np.stack([detector.prepare(photo(name)) for name in PHOTOS])
    times = []
    for _ in range(runs):
        for picture in inputs:
            start = time.perf_counter()
            detector.network.run(picture)
            times.append(time.perf_counter() - start)
    whole = []
    for name in PHOTOS:
        picture = photo(name)
        for _ in range(max(1, runs // 4)):
            start = time.perf_counter()
            detector.detect(picture, 0.5)
            whole.append(time.perf_counter() - start)
    native = None
    if LITERT.exists() and TARBALL.exists():
        with tempfile.TemporaryDirectory() as folder:
            np.save(Path(folder) / "in.npy", np.repeat(inputs, max(1, runs // 2), axis=0))
            subprocess.run(
                [
                    str(LITERT),
                    str(ROOT / "tests/engine/objects/litert_reference.py"),
                    str(TARBALL),
                    f"{folder}/in.npy",
                    f"{folder}/out.npz",
                ],
                check=True,
                timeout=600,
            )
            native = float(np.load(Path(folder) / "out.npz")["seconds"])
    result = {
        "numpy_ms_p50": round(p50(times) * 1000, 1),
        "numpy_ms_p95": round(p95(times) * 1000, 1),
        "detect_ms_p50": round(p50(whole) * 1000, 1),
        "litert_ms_p50": round(native * 1000, 2) if native is not None else None,
    }
    print(
        f"inference: numpy p50 {result['numpy_ms_p50']} ms, p95 {result['numpy_ms_p95']} ms; whole detect() p50 "
        f"{result['detect_ms_p50']} ms; LiteRT (XNNPACK, 1 thread) p50 {result['litert_ms_p50']} ms"
    )
    return result


def watch(server: RtspServer, path: str, detector: ObjectDetector) -> tuple[list[ObjectUpdate], float, float, int]:
    """Watch one clip as a channel does: (object updates, seconds with motion, object thread CPU, inferences)."""
    worker = ObjectWorker(lambda: detector)
    updates: list[ObjectUpdate] = []
    motion = MotionWorker("bench", MotionConfig())
    motion.objects = ChannelObjects("bench", worker, ObjectConfig(("person", "vehicle"), 0.5), on_event=updates.append)
    moving = [0.0, None]

    def _frame(result, _ts: float) -> None:
        now = time.monotonic()
        if moving[1] is not None and motion.motion:
            moving[0] += now - moving[1]
        moving[1] = now

    motion._on_frame = _frame
    end = EndWatch()
    reader = StreamReader(StreamSource(server.url(path)), "objects-bench", sink=FanOutSink(motion, end))
    motion.start()
    reader.start()
    try:
        if not end.ended.wait(120):
            raise SystemExit(f"{path} did not end")
    finally:
        reader.stop(5)
        motion.stop(5)
        worker.stop(5)
    return updates, moving[0], worker.stats.cpu, worker.stats.inferences


def accuracy_part(detector: ObjectDetector, folder: Path, crop: bool) -> dict:
    scenes: list[Scene] = positives() + negatives()
    mounts = {f"/s{i}": scene for i, scene in enumerate(scenes)}
    server = RtspServer([file_mount(p, encode(s, folder / f"{p[1:]}.ts")) for p, s in mounts.items()]).start()
    old = detector_module.CROP_BELOW
    if not crop:
        detector_module.CROP_BELOW = 0.0
    found, alarms, negative_seconds, busy, moving_total, rows = 0, 0, 0.0, 0.0, 0.0, []
    people = [0, 0]
    try:
        for path, scene in mounts.items():
            updates, moving, cpu, runs = watch(server, path, detector)
            starts = [u for u in updates if u.kind == "object_start"]
            if scene.present is not None:
                hit = any(u.label == scene.label for u in starts)
                found += hit
                if scene.label == "person":
                    people[0] += hit
                    people[1] += 1
                verdict = "found" if hit else "MISSED"
            else:
                wrong = [u for u in starts if u.label in ("person", "vehicle")]
                alarms += len(wrong)
                negative_seconds += scene.seconds
                verdict = f"{len(wrong)} false alarm(s)" if wrong else "quiet"
            busy += cpu
            moving_total += moving
            labels = ", ".join(f"{u.label} {u.score:.2f}" for u in starts) or "-"
            rows.append(scene.name)
            print(
                f"  {scene.name:28} {verdict:16} events: {labels}; motion {moving:.1f} s, {runs} inferences, "
                f"object CPU {cpu:.2f} s"
            )
    finally:
        detector_module.CROP_BELOW = old
        server.stop()
    positives_count = sum(1 for s in scenes if s.present is not None)
    return {
        "recall": round(found / positives_count, 3),
        "person_recall": round(people[0] / people[1], 3),
        "false_alarms": alarms,
        "false_alarms_per_hour": round(alarms * 3600 / negative_seconds, 1),
        "object_cpu_share_while_moving": round(busy / moving_total, 3) if moving_total else 0.0,
    }


def still_part(detector: ObjectDetector, folder: Path) -> dict:
    """A still scene: no motion, so no inference at all."""
    grass = photo("grass")
    still = Scene("still grass", 6.0, lambda _i, _t: np.concatenate([grass[:360], grass[:360, :128]], axis=1))
    server = RtspServer([file_mount("/still", encode(still, folder / "still.ts"))]).start()
    try:
        _, moving, cpu, runs = watch(server, "/still", detector)
    finally:
        server.stop()
    print(f"still scene: motion {moving:.1f} s, {runs} inferences, object CPU {cpu:.2f} s")
    return {"still_inferences": runs, "still_object_cpu_s": round(cpu, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=40, help="timed inferences per photograph")
    args = parser.parse_args()
    limit_blas_threads()
    detector = ObjectDetector.load()
    speed = speed_part(detector, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("accuracy, crop around the moving area on:")
        accuracy = accuracy_part(detector, folder, crop=True)
        print("accuracy, crop off (whole picture only):")
        no_crop = accuracy_part(detector, folder, crop=False)
        still = still_part(detector, folder)
    print(
        f"recall {accuracy['recall']} (people {accuracy['person_recall']}), without the crop {no_crop['recall']} "
        f"(people {no_crop['person_recall']}); false alarms {accuracy['false_alarms_per_hour']}/h; object CPU "
        f"while moving {accuracy['object_cpu_share_while_moving'] * 100:.1f} % of one core"
    )
    native = speed["litert_ms_p50"]
    print(
        json.dumps(
            {
                "metric": "object_inference_ms_p50",
                "ours": speed["numpy_ms_p50"],
                "baseline": native,
                "ratio": round(speed["numpy_ms_p50"] / native, 2) if native else None,
                **speed,
                **{f"crop_{k}": v for k, v in accuracy.items()},
                **{f"nocrop_{k}": v for k, v in no_crop.items()},
                **still,
            }
        )
    )


if __name__ == "__main__":
    main()
