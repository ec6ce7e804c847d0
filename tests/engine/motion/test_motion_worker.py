"""The motion worker end to end: clips with known truth served over RTSP, decoded and analysed.

Every clip is played once through a gst-rtsp-server file mount, read by a
real ``StreamReader`` and handed to a ``MotionWorker`` (its own decoding
thread, the limiter, detector and tracker). Clips play in real time, so all
sessions of the accuracy set run at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from engine import Archive, Channel, ChannelConfig, Recorder, RecorderSettings, RecordingMode, StreamSource
from engine.motion.detector import MotionResult
from engine.motion.events import MotionUpdate
from engine.motion.settings import MotionConfig, MotionSettings
from engine.motion.worker import MotionWorker
from engine.stream.reader import StreamReader
from engine.stream.sinks import FanOutSink
from rtsp_peer import RtspServer, file_mount, live_mount
from support import EndWatch, jpeg_size, wait_for

from ..motion_clips import ClipSpec, Run, crossing, f1, make_clip, pacing, score
from .test_motion import LEFT, RAMP, RIGHT, SWITCH

TOP = ((0, 0), (1, 0), (1, 0.5), (0, 0.5))
"""The crossing box runs at rows 40-72 of 180: inside the top half."""
BOTTOM = ((0, 0.5), (1, 0.5), (1, 1), (0, 1))

CLIPS = {
    spec.name: spec
    for spec in (
        ClipSpec("static"),
        ClipSpec("ramp", light=RAMP),
        ClipSpec("switch", light=SWITCH),
        ClipSpec("cross", mover=crossing(1.5, 4.5, 320, 40)),
        ClipSpec("cross_640", width=640, height=360, mover=crossing(1.5, 4.5, 640, 80, scale=2)),
        ClipSpec("cross_in_ramp", mover=crossing(1.5, 4.5, 320, 40), light=RAMP),
        ClipSpec("pace_left", mover=pacing(1.5, 4.5, 10, 150, 110)),
    )
}


@dataclass(frozen=True)
class Case:
    """One session of the accuracy set: a clip, settings, and whether motion must be found."""

    name: str
    clip: str
    fires: bool
    zones: tuple = ()
    masks: tuple = ()


CASES = [
    Case("static noise", "static", False),
    Case("slow lighting ramp", "ramp", False),
    Case("sudden brightness jump", "switch", False),
    Case("small object crossing", "cross", True),
    Case("object crossing 640x360", "cross_640", True),
    Case("crossing during a ramp", "cross_in_ramp", True),
    Case("motion only under a mask", "pace_left", False, masks=(LEFT,)),
    Case("motion only outside the zone", "pace_left", False, zones=(RIGHT,)),
    Case("motion inside a zone", "cross", True, zones=(TOP,)),
    Case("motion inside a zone, mask elsewhere", "cross", True, zones=(TOP,), masks=(BOTTOM,)),
    Case("motion only outside the zone (crossing)", "cross", False, zones=(BOTTOM,)),
]


@dataclass
class Session:
    """A reader and a worker on one mount, with what the worker reported."""

    url: str
    config: MotionConfig
    frames: list[tuple[float, MotionResult]] = field(default_factory=list)
    updates: list[MotionUpdate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.watch = EndWatch()
        self.worker = MotionWorker("chan", self.config, on_event=self.updates.append, on_frame=self._frame)
        self.reader = StreamReader(StreamSource(self.url), "motion-test", sink=FanOutSink(self.worker, self.watch))

    def _frame(self, result: MotionResult, stream_ts: float) -> None:
        self.frames.append((stream_ts, result))

    def start(self) -> None:
        self.worker.start()
        self.reader.start()

    def finish(self, timeout: float) -> None:
        """Wait for the clip's end, stop the reader, then the worker (which ends a running event)."""
        assert self.watch.ended.wait(timeout), "the clip did not end"
        self.reader.stop(5.0)
        assert self.worker.stop(5.0)

    def run(self) -> Run:
        """The analysed frames in clip time (FFmpeg's RTSP input starts the stream clock at 0)."""
        assert self.frames, "no frame was analysed"
        return Run([replace(r, ts=ts) for ts, r in self.frames], [])


@pytest.fixture(scope="module")
def clip_server(tmp_path_factory: pytest.TempPathFactory):
    """A private server with every clip of the set as a play-once file mount."""
    directory = tmp_path_factory.mktemp("motion_rtsp")
    mounts = [file_mount(f"/{name}", make_clip(spec, directory / f"{name}.mp4")) for name, spec in CLIPS.items()]
    server = RtspServer(mounts).start()
    yield server
    server.stop()


def test_accuracy_set_over_rtsp(clip_server: RtspServer) -> None:
    settings = MotionSettings()
    sessions = {}
    for case in CASES:
        config = MotionConfig(replace(settings, zones=case.zones, masks=case.masks))
        sessions[case.name] = Session(clip_server.url(f"/{case.clip}"), config)
    for session in sessions.values():
        session.start()
    for session in sessions.values():
        session.finish(30)

    period = 1 / settings.detect_fps
    total = [0.0, 0.0, 0.0]
    lines = []
    failures = []
    for case in CASES:
        spec, session = CLIPS[case.clip], sessions[case.name]
        run = session.run()
        assert 0.9 * spec.seconds * settings.detect_fps <= len(run.results) <= spec.seconds * settings.detect_fps + 1
        starts = [u for u in session.updates if u.kind == "motion_start"]
        ends = [u for u in session.updates if u.kind == "motion_end"]
        if not case.fires:
            lines.append(f"{case.name}: {len(starts)} events (must be 0)")
            if session.updates or any(r.motion for r in run.results):
                failures.append(case.name)
            continue
        result = score(spec.truth(), run.detected(period), spec.seconds, tolerance=period + 0.3)
        total = [total[0] + result.tp, total[1] + result.fp, total[2] + result.fn]
        lines.append(
            f"{case.name}: precision {result.precision:.3f} recall {result.recall:.3f} "
            f"IoU {result.iou:.3f} F1 {result.f1:.3f}, {len(starts)} event(s)"
        )
        if result.f1 < 0.95 or len(starts) != 1 or len(ends) != 1:
            failures.append(case.name)
            continue
        # The event's peak is the best analysed frame, its JPEG is the peak frame's, its end follows off_delay.
        (start,), (end,) = starts, ends
        assert start.event_id == end.event_id
        motion_scores = [r.score for r in run.results if r.motion]
        assert end.score == pytest.approx(max(motion_scores))
        assert end.end - start.start >= settings.off_delay
        assert jpeg_size(start.jpeg)[0] == spec.width
        assert jpeg_size(end.jpeg)[0] == spec.width
    overall = f1(*total)
    lines.append(f"overall F1 {overall:.3f} (tp {total[0]:.2f} s, fp {total[1]:.2f} s, fn {total[2]:.2f} s)")
    print("\n".join(lines))
    assert not failures, "\n".join(lines)
    assert overall >= 0.95


def test_low_power_decodes_keyframes_only(clip_server: RtspServer) -> None:
    session = Session(clip_server.url("/cross"), MotionConfig(MotionSettings(), low_power=True))
    session.start()
    session.finish(30)
    spec = CLIPS["cross"]
    keyframes = round(spec.seconds / 2)  # the clips have a keyframe every 2 s
    assert session.worker.decoded == keyframes
    # Every keyframe with a timestamp is analysed (FFmpeg gives the first one of a B-frame stream none).
    times = [ts for ts, _r in session.frames]
    assert keyframes - 1 <= session.worker.analysed == len(times) <= keyframes
    assert times == pytest.approx([2.0 * i for i in range(keyframes - len(times), keyframes)], abs=0.05)


def test_disabled_detection_decodes_nothing_and_ends_the_event(clip_server: RtspServer) -> None:
    session = Session(clip_server.url("/pace_left"), MotionConfig(MotionSettings(off_delay=30)))
    session.start()
    wait_for(lambda: session.updates, 15)
    (start,) = session.updates
    assert session.worker.motion
    session.worker.apply(replace(session.config, enabled=False))
    assert session.worker.sync()
    assert not session.worker.motion
    (_start, end) = session.updates
    assert end.kind == "motion_end" and end.event_id == start.event_id
    decoded = session.worker.decoded
    session.finish(30)
    assert session.worker.decoded == decoded
    assert len(session.updates) == 2


def test_decoder_recovers_after_reconnect(rtsp_server_factory, tmp_path: Path) -> None:
    clip = make_clip(replace(CLIPS["cross"], name="loop"), tmp_path / "loop.ts")
    server = rtsp_server_factory([live_mount("/loop", clip)])
    session = Session(server.url("/loop"), MotionConfig(MotionSettings(off_delay=1)))
    session.start()
    try:
        wait_for(lambda: session.worker.decoded >= 20, 15)
        server.stop()
        wait_for(lambda: session.watch.ended.is_set(), 10)
        before, analysed = session.worker.decoded, len(session.frames)
        server.start()
        wait_for(lambda: session.worker.decoded >= before + 20, 20)
        # After the reconnect the detector still works: the looping clip's box is found again.
        wait_for(lambda: any(r.motion for _ts, r in session.frames[analysed:]), 15)
    finally:
        session.reader.stop(5.0)
        session.worker.stop(5.0)
    assert session.worker.dropped == 0


def test_motion_mode_records_the_event_with_pre_roll(clip_server: RtspServer, tmp_path: Path) -> None:
    """Main stream only: the reader feeds recorder and detector; the event makes a recording with pre-roll."""
    settings = RecorderSettings(mode=RecordingMode.MOTION, segment_seconds=60, pre_roll=1.0, post_roll=0.5)
    updates: list[MotionUpdate] = []
    arc = Archive(tmp_path)
    arc.recover()
    rec = Recorder("cam1", tmp_path, arc.index, settings)
    worker = MotionWorker(
        "cam1", MotionConfig(MotionSettings(off_delay=0.5)), recorder=rec, root=tmp_path, on_event=updates.append
    )
    chan = Channel(ChannelConfig("cam1", "Cam", StreamSource(clip_server.url("/cross"))), recorder=rec, motion=worker)
    assert isinstance(chan.readers["main"].sink, FanOutSink)
    rec.start()
    worker.start()
    chan.start()
    try:
        wait_for(lambda: any(u.kind == "motion_end" for u in updates), 20)
        rec.sync()
        wait_for(lambda: not rec.status.recording, 5)
    finally:
        chan.stop(5.0)
        assert worker.stop()
        assert rec.stop(10.0)
    start, end = updates[:2]
    assert (start.kind, end.kind) == ("motion_start", "motion_end")
    event = arc.index.event(start.event_id)
    assert event is not None and event.kind == "motion"
    assert event.start == start.start and event.end == end.end
    assert event.score == pytest.approx(end.score, abs=1e-3) and event.score >= 1.0
    day = time.strftime("%Y-%m-%d", time.gmtime(event.start))
    assert event.thumbnail == end.thumbnail == f"cam1/events/{day}/{event.id}.jpg"
    assert jpeg_size((tmp_path / event.thumbnail).read_bytes()) == (320, 180)
    segment = arc.index.segments("cam1")[0]
    # Pre-roll: the file starts at the keyframe at or before start - pre_roll (keyframes every 2 s).
    assert event.start - settings.pre_roll - 2.0 - 0.3 <= segment.start <= event.start - settings.pre_roll + 0.3
    assert segment.end >= event.end + settings.post_roll - 0.3
    arc.close()


def test_channel_hands_the_detection_stream_to_the_motion_sink(rtsp_server) -> None:
    class Counter(EndWatch):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def packet(self, packet, audio: bool) -> None:
            self.count += 1

    main_only, with_sub = Counter(), Counter()
    live, sub = StreamSource(rtsp_server.url("/live")), StreamSource(rtsp_server.url("/sub"))
    channels = [
        Channel(ChannelConfig("m1", "Main only", live), motion=main_only),
        Channel(
            ChannelConfig("m2", "With sub", live, sub),
            motion=with_sub,
        ),
    ]
    assert channels[0].motion_role == "main" and channels[1].motion_role == "sub"
    # The main stream feeds the stills and its relay side only (the relay side is always there: a relay
    # may be attached while the channel runs); the motion sink gets the sub stream.
    assert channels[1].readers["main"].sink.sinks == (channels[1].pictures["main"], channels[1].relayed["main"])
    assert with_sub in channels[1].readers["sub"].sink.sinks
    for channel in channels:
        channel.start()
    try:
        wait_for(lambda: main_only.count > 10 and with_sub.count > 10, 15)
    finally:
        for channel in channels:
            channel.stop(5.0)
