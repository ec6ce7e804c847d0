"""Motion detection: accurate on real encoded clips, quiet on noise and lighting, cheap."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
from engine.motion.detector import MotionDetector, MotionResult, block_factor, luma_plane, shrink
from engine.motion.settings import MotionSettings, sensitivity_threshold
from engine.motion.tracker import FrameRateLimiter, MotionEvent, MotionMonitor, MotionTracker
from engine.motion.zones import InvalidZoneError, active_mask, format_polygons, parse_polygons, polygon_mask

from ..motion_clips import ClipSpec, Run, crossing, decode_luma, f1, make_clip, pacing, run_detector, score

RAMP = "eq=brightness='-0.15+0.05*t':contrast='0.85+0.05*t':eval=frame"
"""Slow light ramp: +77 levels and +30 % contrast over 6 s."""
SWITCH = "eq=brightness='0.2*between(t,2,4)':gamma='1+0.6*between(t,2,4)':eval=frame"
"""Light (or IR) switched on at 2 s and off at 4 s: brightness, contrast and gamma jump."""
LAMP = "geq=lum='clip(lum(X,Y)*(1+0.6*between(T,2,4)*(1-X/W)),0,255)':cb='cb(X,Y)':cr='cr(X,Y)'"
"""A lamp lighting the left side (gain falling off left to right) from 2 s to 4 s."""

CLIPS = {
    spec.name: spec
    for spec in (
        ClipSpec("static"),
        ClipSpec("ramp", light=RAMP),
        ClipSpec("switch", light=SWITCH),
        ClipSpec("lamp", light=LAMP),
        ClipSpec("cross", mover=crossing(1.5, 4.5, 320, 40)),
        ClipSpec("cross_640", width=640, height=360, mover=crossing(1.5, 4.5, 640, 80, scale=2)),
        ClipSpec("cross_in_ramp", mover=crossing(1.5, 4.5, 320, 40), light=RAMP),
        ClipSpec("pace_left", mover=pacing(1.5, 4.5, 10, 150, 110)),
        # Long movements (10 s), slow and fast, small (about 1 % of the picture) and large,
        # at sub-stream and main-stream sizes.
        ClipSpec("long_slow_small", seconds=14, mover=crossing(2, 12, 320, 80)),
        ClipSpec("long_fast_small", seconds=14, mover=pacing(2, 12, 10, 310, 60, period=2.5)),
        ClipSpec(
            "long_slow_large",
            width=640,
            height=360,
            seconds=14,
            mover=crossing(2, 12, 640, 80, size=(160, 200), solid=True),
        ),
        ClipSpec(
            "long_fast_large",
            width=1280,
            height=720,
            seconds=14,
            mover=pacing(2, 12, 0, 1280, 250, period=4.0, size=(120, 220), solid=True),
        ),
        # The bright box of the field report, crossing a plain wall (a flat scene) slowly.
        ClipSpec(
            "long_flat_720",
            width=1280,
            height=720,
            seconds=14,
            flat=True,
            mover=crossing(2, 12, 1280, 250, size=(120, 220), solid=True),
        ),
        ClipSpec(
            "long_flat_360",
            seconds=14,
            flat=True,
            width=640,
            height=360,
            mover=pacing(2, 12, 0, 640, 120, period=5.0, size=(60, 110), solid=True),
        ),
        ClipSpec("flat_static", seconds=6, flat=True),
    )
}
LONG_CLIPS = [
    "long_slow_small",
    "long_fast_small",
    "long_slow_large",
    "long_fast_large",
    "long_flat_720",
    "long_flat_360",
]
MOTION_CLIPS = ["cross", "cross_640", "cross_in_ramp", "pace_left"]
QUIET_CLIPS = ["static", "ramp", "switch", "lamp", "flat_static"]
LEFT = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
RIGHT = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]


@pytest.fixture(scope="module")
def clip_frames(tmp_path_factory: pytest.TempPathFactory):
    """``get(name)``: the named clip's decoded Y planes and times (made once per module)."""
    directory = tmp_path_factory.mktemp("motion")
    cache: dict[str, list[tuple[np.ndarray, float]]] = {}

    def get(name: str) -> list[tuple[np.ndarray, float]]:
        if name not in cache:
            cache[name] = decode_luma(make_clip(CLIPS[name], directory / f"{name}.mp4"))
        return cache[name]

    return get


def _evaluate(run: Run, spec: ClipSpec, settings: MotionSettings):
    period = 1.0 / settings.detect_fps
    return score(spec.truth(), run.detected(period), spec.seconds, tolerance=period + 0.3)


# --- real clips --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUIET_CLIPS)
def test_no_events_without_motion(clip_frames, name: str) -> None:
    frames = clip_frames(name)
    assert len(frames) == 60
    run = run_detector(frames, MotionSettings())
    assert len(run.results) == 30, "5 fps analysis of a 10 fps clip"
    assert run.transitions == []
    assert not any(r.motion for r in run.results)
    changed_late = [r.ts for r in run.results if r.rebaselined and r.ts > 1.0]
    if name in ("switch", "lamp"):
        # The jumps were seen and re-baselined, on and off, rather than ignored by luck.
        assert any(2.0 <= ts <= 2.3 for ts in changed_late), changed_late
        assert any(4.0 <= ts <= 4.3 for ts in changed_late), changed_late
    else:
        assert changed_late == []


@pytest.mark.parametrize("name", LONG_CLIPS)
def test_long_movements_are_motion_all_along(clip_frames, name: str) -> None:
    """A moving object is never absorbed into the background while it moves (off delay 0)."""
    spec = CLIPS[name]
    settings = MotionSettings(off_delay=0)
    run = run_detector(clip_frames(name), settings)
    result = _evaluate(run, spec, settings)
    print(f"{name}: recall {result.recall:.3f} precision {result.precision:.3f} IoU {result.iou:.3f}")
    assert result.recall >= 0.9, result


@pytest.mark.parametrize("name", MOTION_CLIPS)
def test_motion_matches_truth(clip_frames, name: str) -> None:
    spec = CLIPS[name]
    settings = MotionSettings()
    run = run_detector(clip_frames(name), settings)
    result = _evaluate(run, spec, settings)
    print(
        f"{name}: precision {result.precision:.3f} recall {result.recall:.3f} IoU {result.iou:.3f} F1 {result.f1:.3f}"
    )
    assert result.f1 >= 0.95, result
    assert result.iou >= 0.7, result
    # One event, started promptly at the first motion frame, ending off_delay after the last one.
    (truth_start, truth_end), *_ = spec.truth()
    starts = run.starts
    assert len(starts) == 1
    first = next(r for r in run.results if r.motion)
    assert starts[0].event.start == first.ts
    assert first.ts - truth_start <= 1 / settings.detect_fps + 0.3
    ends = [t for t in run.transitions if t.kind == "motion_end"]
    assert len(ends) == 1
    last = max(r.ts for r in run.results if r.motion)
    assert ends[0].event.end == pytest.approx(last + settings.off_delay)
    assert truth_start <= ends[0].event.peak_ts <= truth_end
    assert ends[0].event.peak_score == max(r.score for r in run.results if r.motion)


def test_overall_f1(clip_frames) -> None:
    settings = MotionSettings()
    tp = fp = fn = 0.0
    for name in MOTION_CLIPS:
        result = _evaluate(run_detector(clip_frames(name), settings), CLIPS[name], settings)
        tp, fp, fn = tp + result.tp, fp + result.fp, fn + result.fn
    print(f"overall F1 {f1(tp, fp, fn):.3f} (tp {tp:.2f} s, fp {fp:.2f} s, fn {fn:.2f} s)")
    assert f1(tp, fp, fn) >= 0.95


@pytest.mark.parametrize(
    ("zones", "masks", "fires"),
    [
        ([], [LEFT], False),  # motion only under the mask
        ([RIGHT], [], False),  # motion only outside the zone
        ([LEFT], [], True),  # motion inside the zone
        ([], [RIGHT], True),  # mask elsewhere
        ([LEFT], [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]], True),  # zone minus a mask above the path
    ],
)
def test_zones_and_masks(clip_frames, zones, masks, fires: bool) -> None:
    spec = CLIPS["pace_left"]
    settings = MotionSettings(zones=zones, masks=masks)
    run = run_detector(clip_frames("pace_left"), settings)
    if fires:
        assert len(run.starts) == 1
        assert _evaluate(run, spec, settings).f1 >= 0.95
    else:
        assert run.transitions == []
        assert max(r.changed_fraction for r in run.results) < settings.min_area / 100


def test_luma_plane_from_decoded_frames(tmp_path: Path) -> None:
    path = make_clip(ClipSpec("odd", width=250, height=140, seconds=0.5), tmp_path / "odd.mp4")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        y = luma_plane(frame)
        assert frame.planes[0].line_size > 250, "the plane is padded"
        assert y.shape == (140, 250)
        assert y.dtype == np.uint8
        np.testing.assert_array_equal(y, frame.to_ndarray()[:140])
    assert len(decode_luma(path)) == 5


def test_luma_plane_rejects_rgb() -> None:
    frame = av.VideoFrame.from_ndarray(np.zeros((8, 8, 3), dtype=np.uint8), format="rgb24")
    with pytest.raises(ValueError, match="luma"):
        luma_plane(frame)


# --- synthetic Y planes ------------------------------------------------------------------------


def _scene(rng: np.random.Generator, width: int = 320, height: int = 180) -> np.ndarray:
    """A textured static scene: smooth blobs and edges, values 30..220."""
    coarse = rng.uniform(30, 220, (height // 10 + 1, width // 10 + 1))
    return np.kron(coarse, np.ones((10, 10)))[:height, :width]


def _frame(scene: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    return np.clip(scene + rng.normal(0, sigma, scene.shape), 0, 255).astype(np.uint8)


def _with_box(scene: np.ndarray, x: int, y: int, size: int, value: float) -> np.ndarray:
    out = scene.copy()
    out[max(0, y) : y + size, max(0, x) : x + size] = value
    return out


def test_heavy_noise_does_not_fire() -> None:
    rng = np.random.default_rng(2)
    scene = _scene(rng)
    detector = MotionDetector(MotionSettings(sensitivity=100))
    results = [detector.process(_frame(scene, rng, sigma=30), i / 5) for i in range(40)]
    assert not any(r.motion for r in results)


@pytest.mark.parametrize(("sensitivity", "fires"), [(90, True), (20, False)])
def test_sensitivity_sets_the_contrast_needed(sensitivity: int, fires: bool) -> None:
    rng = np.random.default_rng(3)
    scene = np.full((180, 320), 100.0)
    detector = MotionDetector(MotionSettings(sensitivity=sensitivity))
    motion = False
    for i in range(30):
        picture = _with_box(scene, 10 + 12 * i, 60, 30, 118) if i >= 10 else scene  # contrast 18
        motion |= detector.process(_frame(picture, rng), i / 5).motion
    assert sensitivity_threshold(sensitivity) < 18 if fires else sensitivity_threshold(sensitivity) > 18
    assert motion is fires


def test_changed_fraction_and_score_of_a_known_box() -> None:
    """A 40x40 box at +100 on a flat 320x180 picture: 20x20 working pixels, 22x22 less corners after the blur."""
    rng = np.random.default_rng(13)
    flat = np.full((180, 320), 100.0)
    detector = MotionDetector(MotionSettings(min_area=1.0))
    results = [detector.process(_frame(flat, rng, 1.0), i / 5) for i in range(5)]
    results += [detector.process(_frame(_with_box(flat, 100, 60, 40, 200), rng, 1.0), 1.0)]
    results += [detector.process(_frame(_with_box(flat, 140, 60, 40, 200), rng, 1.0), 1.2)]
    assert [r.motion for r in results] == [False] * 6 + [True]
    assert results[5].changed_fraction == pytest.approx((22 * 22 - 4) / (160 * 90), abs=3 / (160 * 90))
    for r in results:
        assert r.score == pytest.approx(r.changed_fraction / 0.01)


@pytest.mark.parametrize("detect_fps", [5.0, 2.0, 10.0])
def test_latency_within_one_frame_plus_300_ms(detect_fps: float) -> None:
    rng = np.random.default_rng(4)
    scene = _scene(rng)
    settings = MotionSettings(detect_fps=detect_fps)
    monitor = MotionMonitor(settings)
    onset = 3.05  # between analysed frames
    first = None
    for i in range(6 * 25):  # a 25 fps source
        ts = i / 25
        picture = _with_box(scene, int((ts - onset) * 100), 80, 24, 250) if ts >= onset else scene
        result, _ = monitor.feed(_frame(picture, rng), ts)
        if result is not None and result.motion and first is None:
            first = ts
    assert first is not None
    assert first - onset <= 1 / detect_fps + 0.3 + 1e-9


def test_single_frame_glitch_is_not_motion() -> None:
    rng = np.random.default_rng(5)
    scene = _scene(rng)
    detector = MotionDetector(MotionSettings())
    results = []
    for i in range(30):
        picture = _with_box(scene, 100, 60, 40, 255) if i in (10, 20) else scene
        results.append(detector.process(_frame(picture, rng), i / 5))
    assert results[10].changed_fraction > 0.02, "the glitch was seen"
    assert not any(r.motion for r in results)


def test_slow_ramp_and_exposure_jump_synthetic() -> None:
    rng = np.random.default_rng(6)
    scene = _scene(rng)
    detector = MotionDetector(MotionSettings(sensitivity=80))
    results = []
    for i in range(100):
        ts = i / 5
        gain = 0.7 + 0.6 * i / 100  # slow exposure ramp, +85 % over 20 s
        picture = scene * gain
        if i >= 60:  # auto-exposure / IR switch: gamma and level jump
            picture = 255 * (np.clip(picture, 0, 255) / 255) ** 0.6 + 10
        results.append(detector.process(_frame(picture, rng), ts))
    assert not any(r.motion for r in results)
    assert any(r.rebaselined for r in results[60:63])
    assert not any(r.rebaselined for r in results[1:60])


def test_contrast_ramp_is_followed_and_contrast_step_rebaselines() -> None:
    """Contrast +85 % over 5 s in small steps (followed), then -23 % at once, mean unchanged (re-baselined)."""
    rng = np.random.default_rng(12)
    scene = _scene(rng)
    mean = scene.mean()
    detector = MotionDetector(MotionSettings())
    results = []
    for i in range(45):
        gain = 0.7 + 0.6 * min(i, 25) / 25 if i < 30 else 1.0
        results.append(detector.process(_frame(mean + (scene - mean) * gain, rng), i / 5))
    assert not any(r.motion for r in results)
    assert not any(r.rebaselined for r in results[1:30])
    assert results[30].rebaselined


def test_stopped_object_and_ghost_fade() -> None:
    rng = np.random.default_rng(7)
    scene = _scene(rng)
    detector = MotionDetector(MotionSettings())
    results = []
    for i in range(60):
        x = 20 + 15 * min(i - 5, 10) if i >= 5 else None  # moves for 2 s, then parks
        picture = _with_box(scene, x, 70, 30, 250) if x is not None and i < 40 else scene
        results.append(detector.process(_frame(picture, rng), i / 5))
    assert any(r.motion for r in results[6:15])
    assert not any(r.motion for r in results[25:40]), "a parked object stops being motion"
    assert any(r.motion for r in results[40:43]), "driving off is motion"
    assert not any(r.motion for r in results[50:]), "its ghost fades"


def test_detector_resets_on_gap_resize_and_zone_change() -> None:
    rng = np.random.default_rng(8)
    scene = _scene(rng)
    detector = MotionDetector(MotionSettings())
    assert detector.working_size is None
    assert detector.process(_frame(scene, rng), 0.0).rebaselined
    assert not detector.process(_frame(scene, rng), 0.2).rebaselined
    assert detector.working_size == (160, 90)
    assert detector.process(_frame(scene, rng), 60.0).rebaselined, "long pause"
    large = _scene(rng, 640, 360)
    assert detector.process(_frame(large, rng), 60.2).rebaselined, "new size"
    assert detector.working_size == (160, 90)
    detector.settings = MotionSettings(sensitivity=70)
    assert not detector.process(_frame(large, rng), 60.4).rebaselined
    detector.settings = MotionSettings(zones=[LEFT])
    assert detector.process(_frame(large, rng), 60.6).rebaselined
    assert detector.active_area is not None
    assert detector.active_area[:, :80].all()
    assert not detector.active_area[:, 80:].any()
    with pytest.raises(ValueError, match="2-D uint8"):
        detector.process(np.zeros((90, 160), dtype=np.float32), 61.0)
    with pytest.raises(ValueError, match="too small"):
        detector.process(np.zeros((2, 160), dtype=np.uint8), 61.0)


@pytest.mark.parametrize(("height", "width"), [(90, 160), (180, 320), (360, 640), (1080, 1920), (200, 3840)])
def test_shrink_is_an_exact_block_mean(height: int, width: int) -> None:
    rng = np.random.default_rng(9)
    plane = rng.integers(0, 256, (height, width + 16), dtype=np.uint8)[:, :width]
    factor = block_factor(width)
    rows, cols = height // factor, width // factor
    expected = plane[: rows * factor, : cols * factor].reshape(rows, factor, cols, factor).mean(axis=(1, 3))
    np.testing.assert_allclose(shrink(plane, factor), expected, rtol=1e-5)


# --- polygons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (42, "not_a_list"),
        ({"x": 1}, "not_a_list"),
        ([5], "not_a_polygon"),
        ([[[0, 0], [1, 0]]], "too_few_points"),
        ([[[0, 0], [1, 0], [1]]], "not_a_point"),
        ([[[0, 0], [1, 0], "ab"]], "not_a_point"),
        ([[[0, 0], [1, 0], [1, "1"]]], "not_a_number"),
        ([[[0, 0], [1, 0], [1, True]]], "not_a_number"),
        ([[[0, 0], [1, 0], [1, math.nan]]], "not_a_number"),
        ([[[0, 0], [1.2, 0], [1, 1]]], "out_of_range"),
        ([[[0, 0], [1, 0], [1, -0.1]]], "out_of_range"),
        ([[[0, 0], [0.5, 0.5], [1, 1]]], "zero_area"),
        ([LEFT] * 17, "too_many"),
        ("0.1,0.1 0.5,0.1", "too_few_points"),
        ("0.1,0.1 0.5 0.5,0.5", "not_a_point"),
        ("0.1,0.1 0.5,x 0.5,0.5", "not_a_number"),
        ("0.1,0.1 0.5,0.1 0.5,1.5", "out_of_range"),
    ],
)
def test_parse_polygons_errors(value, reason: str) -> None:
    with pytest.raises(InvalidZoneError) as info:
        parse_polygons(value)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)


def test_parse_polygons_accepts_lists_and_text() -> None:
    assert parse_polygons(None) == ()
    assert parse_polygons("") == ()
    assert parse_polygons([]) == ()
    parsed = parse_polygons([[[0, 0], [1, 0], [0.5, 1]], ((0.1, 0.1), (0.2, 0.1), (0.2, 0.2), (0.1, 0.2))])
    assert parsed == (((0.0, 0.0), (1.0, 0.0), (0.5, 1.0)), ((0.1, 0.1), (0.2, 0.1), (0.2, 0.2), (0.1, 0.2)))
    text = " 0,0 1,0 0.5,1 ;\n0.1,0.1 0.2,0.1 0.2,0.2 0.1,0.2\n"
    assert parse_polygons(text) == parsed
    assert parse_polygons(format_polygons(parsed)) == parsed
    assert format_polygons(parsed) == "0,0 1,0 0.5,1; 0.1,0.1 0.2,0.1 0.2,0.2 0.1,0.2"


def test_polygon_rasterisation() -> None:
    rect = polygon_mask([[(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]], 160, 90)
    assert rect.shape == (90, 160)
    rows, cols = np.nonzero(rect)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (40, 119, 22, 66)
    assert rect.sum() == 80 * 45, "half-open edges: exactly a quarter of the picture"
    triangle = polygon_mask([[(0, 0), (1, 0), (0, 1)]], 200, 200)
    assert triangle.sum() == pytest.approx(200 * 200 / 2, rel=0.01)
    assert triangle[0, 0] and not triangle[199, 199]
    # Even-odd: the centre of a five-pointed star drawn in one stroke is outside.
    star = [(0.5 + 0.45 * math.sin(k * 4 * math.pi / 5), 0.5 - 0.45 * math.cos(k * 4 * math.pi / 5)) for k in range(5)]
    mask = polygon_mask([star], 101, 101)
    assert not mask[50, 50]
    assert mask[15, 50], "a point of the star is inside"
    # Union of polygons, and a polygon too small for any pixel centre still marks a pixel.
    both = polygon_mask([LEFT, RIGHT], 16, 9)
    assert both.all()
    tiny = polygon_mask([[(0.501, 0.501), (0.502, 0.501), (0.502, 0.502)]], 16, 9)
    assert tiny.sum() == 1 and tiny[4, 8]


def test_active_mask_is_zones_minus_masks() -> None:
    assert active_mask((), (), 16, 9).all()
    zones = parse_polygons([LEFT])
    masks = parse_polygons([[[0, 0], [1, 0], [1, 0.5], [0, 0.5]]])
    area = active_mask(zones, masks, 16, 10)
    expected = np.zeros((10, 16), dtype=bool)
    expected[5:, :8] = True
    np.testing.assert_array_equal(area, expected)
    assert not active_mask((), parse_polygons([[[0, 0], [1, 0], [1, 1], [0, 1]]]), 16, 9).any()


def test_settings_validation() -> None:
    settings = MotionSettings(zones="0,0 0.5,0 0.5,1", masks=[RIGHT])
    assert settings.zones == (((0.0, 0.0), (0.5, 0.0), (0.5, 1.0)),)
    assert settings.masks == parse_polygons([RIGHT])
    assert MotionSettings().threshold == 21.0
    assert MotionSettings().required_frames == 2
    assert MotionSettings(detect_fps=2).required_frames == 1
    assert MotionSettings(confirm_frames=4, detect_fps=10).required_frames == 4
    assert MotionSettings(confirm_frames=5, detect_fps=10).required_frames == 4
    for bad in ({"sensitivity": 0}, {"sensitivity": 101}, {"sensitivity": 5.5}, {"min_area": 0}, {"detect_fps": 0}):
        with pytest.raises(ValueError):
            MotionSettings(**bad)
    with pytest.raises(InvalidZoneError):
        MotionSettings(masks=[[[0, 0], [2, 0], [1, 1]]])


# --- rate limiter ------------------------------------------------------------------------------


@pytest.mark.parametrize(("source_fps", "expected"), [(25, 50), (10, 50), (12, 50), (5, 50), (3, 30)])
def test_rate_limiter(source_fps: float, expected: int) -> None:
    limiter = FrameRateLimiter(5)
    kept = [i / source_fps for i in range(int(10 * source_fps)) if limiter.should_analyse(i / source_fps)]
    assert len(kept) == expected
    assert kept[0] == 0.0
    assert min(np.diff(kept)) >= min(1 / source_fps, 1 / 5) * 0.8, "frames are spread, not bunched"


def test_rate_limiter_restarts_on_time_jumps() -> None:
    limiter = FrameRateLimiter(2)
    assert limiter.should_analyse(100.0)
    assert not limiter.should_analyse(100.1)
    assert limiter.should_analyse(3.0), "timestamps went back (stream restarted)"
    assert not limiter.should_analyse(3.2)
    assert limiter.should_analyse(3.5)
    limiter.reset()
    assert limiter.should_analyse(3.6)
    with pytest.raises(ValueError):
        FrameRateLimiter(0)


# --- tracker -----------------------------------------------------------------------------------


def _result(ts: float, score: float) -> MotionResult:
    return MotionResult(ts, score, score >= 1.0, score / 100, False)


def test_tracker_start_peak_end_with_callbacks() -> None:
    started: list[MotionEvent] = []
    ended: list[MotionEvent] = []
    tracker = MotionTracker(off_delay=2.0, on_start=started.append, on_end=ended.append)
    scores = [0, 0, 1.5, 3.0, 0.2, 2.5, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # frames every 0.5 s
    kinds = []
    for i, value in enumerate(scores):
        for transition in tracker.update(_result(i * 0.5, value)):
            kinds.append((transition.kind, transition.ts))
    assert kinds == [("motion_start", 1.0), ("motion_end", 4.5)]
    assert started == [MotionEvent(start=1.0, peak_score=1.5, peak_ts=1.0, last_motion=1.0)]
    (event,) = ended
    assert (event.start, event.peak_score, event.peak_ts, event.last_motion, event.end) == (1.0, 3.0, 1.5, 2.5, 4.5)
    assert not tracker.active


def test_tracker_quiet_gap_shorter_than_off_delay_keeps_one_event() -> None:
    tracker = MotionTracker(off_delay=3.0)
    transitions = []
    for ts, value in [(0, 2), (1, 0), (2, 0), (2.9, 0), (2.95, 5), (5, 0)]:
        transitions += tracker.update(_result(ts, value))
    assert [t.kind for t in transitions] == ["motion_start"]
    assert tracker.active
    assert tracker.event is not None and tracker.event.peak_ts == 2.95
    assert tracker.tick(5.9) == []
    (end,) = tracker.tick(6.0)
    assert end.kind == "motion_end" and end.event.end == pytest.approx(5.95)


def test_tracker_new_event_after_stall_and_zero_delay() -> None:
    tracker = MotionTracker(off_delay=1.0)
    tracker.update(_result(0.0, 2.0))
    tracker.update(_result(0.2, 0.0))
    kinds = [t.kind for t in tracker.update(_result(5.0, 2.0))]
    assert kinds == ["motion_end", "motion_start"], "the stalled event ended before the new one"
    instant = MotionTracker(off_delay=0.0)
    assert [t.kind for t in instant.update(_result(0.0, 2.0))] == ["motion_start"]
    assert instant.update(_result(0.2, 2.0)) == [], "consecutive motion frames stay one event"
    assert [t.kind for t in instant.update(_result(0.4, 0.0))] == ["motion_end"]


def test_monitor_settings_change_keeps_the_event() -> None:
    rng = np.random.default_rng(11)
    scene = _scene(rng)
    monitor = MotionMonitor(MotionSettings(off_delay=5))
    for i in range(20):
        picture = _with_box(scene, 10 + 10 * i, 60, 30, 250) if i >= 5 else scene
        monitor.feed(_frame(picture, rng), i / 5)
    assert monitor.tracker.active
    monitor.apply(MotionSettings(off_delay=1, sensitivity=60))
    assert monitor.tracker.active
    assert monitor.detector.settings.sensitivity == 60
    ends = []
    for i in range(20, 40):
        _, transitions = monitor.feed(_frame(scene, rng), i / 5)
        ends += transitions
    assert [t.kind for t in ends] == ["motion_end"]
