"""A channel's object detection: from decoded pictures to indexed events with snapshots."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from engine.motion.settings import MotionConfig, MotionSettings
from engine.motion.worker import MotionWorker
from engine.objects.channel import ChannelObjects, ObjectConfig, ObjectUpdate, draw_box
from engine.objects.detector import ObjectDetector
from engine.objects.worker import ObjectWorker, _Slot
from engine.stream.reader import StreamReader
from engine.stream.sinks import FanOutSink
from engine.stream.source import StreamSource
from PIL import Image
from rtsp_peer import RtspServer, file_mount
from support import EndWatch, wait_for

from ...objects_scenes import crossing, encode, negatives, photo


class _Recorder:
    """Takes events as the recorder does (``EventSink``), and notes them."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str, float]] = []
        self.ended: list[tuple[str, float, float | None, str | None]] = []
        self._lock = threading.Lock()

    def start_event(self, kind: str = "motion", duration: float | None = None, at: float | None = None) -> str:
        with self._lock:
            event_id = f"e{len(self.started)}"
            self.started.append((event_id, kind, at or time.time()))
        return event_id

    def end_event(self, event_id: str, at: float | None = None, score: float | None = None, thumbnail=None) -> None:
        with self._lock:
            self.ended.append((event_id, at or time.time(), score, thumbnail))


def _frame(picture: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")


def test_a_person_starts_an_indexed_event_with_a_snapshot_and_the_hold_ends_it(
    detector: ObjectDetector, tmp_path: Path
) -> None:
    worker = ObjectWorker(lambda: detector)
    recorder = _Recorder()
    updates: list[ObjectUpdate] = []
    objects = ChannelObjects(
        "chan",
        worker,
        ObjectConfig(("person", "vehicle"), 0.4),
        recorder=recorder,
        root=tmp_path,
        on_event=updates.append,
    )
    try:
        base = time.time()
        objects.offer(_frame(photo("astronaut")), None, base)
        wait_for(lambda: updates, 30)
        start = updates[0]
        assert (start.kind, start.label, start.start, start.end) == ("object_start", "person", base, None)
        assert recorder.started == [("e0", "person", base)]
        assert start.thumbnail is not None and (tmp_path / start.thumbnail).is_file()
        with Image.open(io.BytesIO(start.jpeg)) as snapshot:
            assert snapshot.size == (512, 512)
        assert objects.present == {"person": start.score}
        objects.tick(base + 4.0)
        assert len(updates) == 1
        objects.tick(base + 5.0)
        end = updates[-1]
        assert (end.kind, end.event_id, end.end) == ("object_end", "e0", base + 5.0)
        assert recorder.ended == [("e0", base + 5.0, round(end.score, 3), end.thumbnail)]
        assert objects.present == {}
    finally:
        assert worker.stop(5)


def test_detection_off_offers_nothing(detector: ObjectDetector) -> None:
    worker = ObjectWorker(lambda: detector)
    objects = ChannelObjects("chan", worker, ObjectConfig(()))
    objects.offer(_frame(photo("astronaut")), None, 1.0)
    assert worker._thread is None  # nothing was offered: no thread, no model
    assert worker.stop(1)


def test_labels_turned_off_end_their_events_at_once(detector: ObjectDetector) -> None:
    worker = ObjectWorker(lambda: detector)
    updates: list[ObjectUpdate] = []
    objects = ChannelObjects("chan", worker, ObjectConfig(("person",), 0.4), on_event=updates.append)
    try:
        objects.offer(_frame(photo("astronaut")), None, time.time())
        wait_for(lambda: updates, 30)
        ended = objects.apply(ObjectConfig(("vehicle",), 0.4))
        assert objects.present == {} and len(updates) == 1  # applied at once; the end is told by report()
        objects.report(ended)
        assert [u.kind for u in updates] == ["object_start", "object_end"]
        assert objects.present == {}
    finally:
        assert worker.stop(5)


def test_a_detection_after_the_channel_stopped_starts_nothing(detector: ObjectDetector) -> None:
    worker = ObjectWorker(lambda: detector)
    updates: list[ObjectUpdate] = []
    objects = ChannelObjects("chan", worker, ObjectConfig(("person",), 0.4), on_event=updates.append)
    person = detector.detect(photo("astronaut"), 0.4)
    objects.finish()
    objects._found(person, photo("astronaut"), time.time())  # an inference that was under way
    assert updates == [] and objects.present == {}
    objects.offer(_frame(photo("astronaut")), None, time.time())
    assert worker._thread is None
    assert worker.stop(1)


def test_a_stale_picture_starts_nothing_and_a_slow_host_holds_events_longer(detector: ObjectDetector) -> None:
    worker = ObjectWorker(lambda: detector)
    updates: list[ObjectUpdate] = []
    objects = ChannelObjects("chan", worker, ObjectConfig(("person",), 0.4), on_event=updates.append)
    person = detector.detect(photo("astronaut"), 0.4)
    now = time.time()
    objects._found(person, photo("astronaut"), now - 6)  # looked at only 6 s after it was taken
    assert updates == []
    objects._found(person, photo("astronaut"), now)
    assert [u.kind for u in updates] == ["object_start"]
    # The host needs 4 s between looks at this channel: the event outlasts 2.5 of them.
    worker._slots["chan"] = _Slot(spacing=4.0)
    objects.tick(now + 9.0)
    assert [u.kind for u in updates] == ["object_start"]
    objects.tick(now + 10.0)
    assert [u.kind for u in updates] == ["object_start", "object_end"] and updates[-1].end == now + 10.0
    assert worker.stop(1)


def test_draw_box_outlines_the_box_only() -> None:
    picture = np.zeros((100, 200, 3), dtype=np.uint8)
    out = draw_box(picture, (0.25, 0.2, 0.75, 0.8))
    assert picture.max() == 0  # a copy
    assert out[20, 100].tolist() == [255, 196, 0] and out[50, 50].tolist() == [255, 196, 0]
    assert out[50, 100].tolist() == [0, 0, 0]


@pytest.fixture(scope="module")
def scene_server(tmp_path_factory: pytest.TempPathFactory):
    """A person walking across grass, and a negative clip, as play-once RTSP mounts."""
    folder = tmp_path_factory.mktemp("object_scenes")
    scenes = {"person": crossing("astronaut", "grass", 0.05), "swaying": negatives()[1]}
    server = RtspServer([file_mount(f"/{k}", encode(s, folder / f"{k}.ts")) for k, s in scenes.items()]).start()
    yield server
    server.stop()


def _watch(server: RtspServer, path: str, detector: ObjectDetector) -> tuple[list, list, ObjectWorker]:
    """Motion detection of a clip over RTSP, with person and vehicle detection on."""
    worker = ObjectWorker(lambda: detector)
    recorder = _Recorder()
    updates: list[ObjectUpdate] = []
    motion = MotionWorker("chan", MotionConfig(MotionSettings(off_delay=2)), recorder=recorder)
    motion.objects = ChannelObjects(
        "chan", worker, ObjectConfig(("person", "vehicle"), 0.5), recorder=recorder, on_event=updates.append
    )
    end = EndWatch()
    reader = StreamReader(StreamSource(server.url(path)), "objects-test", sink=FanOutSink(motion, end))
    motion.start()
    reader.start()
    try:
        assert end.ended.wait(60), "the clip did not end"
    finally:
        reader.stop(5)
        assert motion.stop(5)
        assert worker.stop(5)
    return updates, recorder.started, worker


def test_a_person_walking_past_is_reported_once_while_motion_goes_on(
    scene_server: RtspServer, detector: ObjectDetector
) -> None:
    updates, started, worker = _watch(scene_server, "/person", detector)
    kinds = [(u.kind, u.label) for u in updates]
    assert kinds == [("object_start", "person"), ("object_end", "person")], kinds
    assert [kind for _, kind, _ in started] == ["motion", "person"]
    assert worker.stats.inferences >= 2


def test_swaying_foliage_moves_but_raises_no_person_or_vehicle(
    scene_server: RtspServer, detector: ObjectDetector
) -> None:
    updates, started, worker = _watch(scene_server, "/swaying", detector)
    assert [u for u in updates if u.label in ("person", "vehicle")] == []
    assert [kind for _, kind, _ in started if kind != "motion"] == []
