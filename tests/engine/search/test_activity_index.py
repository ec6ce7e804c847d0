"""The activity index: cells, files written beside the footage, queries, pruning, daylight-saving days."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from engine.recording.index import RecordingIndex
from engine.recording.retention import Pruner, RetentionPolicy
from engine.search.grid import COLS, ROWS, cell_counts, moved_words, pack, region_cells, region_words, unpack
from engine.search.query import MAX_SPAN, PAD, analysed_spans, label_bits, read_records, search, subtract
from engine.search.store import RECORD, ActivityStore, day_files, prune_activity

WHOLE = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]]
LEFT = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]
RIGHT = [[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]]
T0 = 1_780_000_000  # 2026-05-28, a whole number of seconds


def picture_moving_at(x0: float, x1: float, y0: float = 0.3, y1: float = 0.6) -> np.ndarray:
    """The detector's working picture (160 × 90) with pixels changed in a box (picture coordinates)."""
    changed = np.zeros((90, 160), dtype=bool)
    changed[int(y0 * 90) : int(y1 * 90), int(x0 * 160) : int(x1 * 160)] = True
    return changed


def test_cells_of_a_changed_box_and_back() -> None:
    cells = cell_counts(picture_moving_at(0.0, 0.25, 0.0, 0.5)) >= 2
    assert cells.shape == (ROWS, COLS)
    assert cells[:9, :8].all() and not cells[9:].any() and not cells[:, 8:].any()
    words = pack(cells)
    assert words.dtype == np.dtype("<u8") and words.shape == (9,)
    assert (unpack(words) == cells).all()
    # One changed pixel alone is noise; a picture smaller than the grid still maps onto it.
    lone = np.zeros((90, 160), dtype=bool)
    lone[40, 80] = True
    assert not unpack(moved_words(lone)).any()
    tiny = np.ones((9, 16), dtype=bool)
    assert unpack(moved_words(tiny)).all()


def test_region_cells_of_rectangles_and_a_triangle() -> None:
    left = region_cells(LEFT)
    assert left[:, :16].all() and not left[:, 16:].any()
    assert region_cells(WHOLE).all()
    triangle = region_cells([[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]])
    assert triangle[0, :].sum() > triangle[-1, :].sum() >= 1
    assert triangle[:, 0].all() and not triangle[-1, -1]
    assert (unpack(region_words(LEFT + RIGHT)) == region_cells(WHOLE)).all()


def write_seconds(store: ActivityStore, channel: str, seconds: dict[int, np.ndarray | None], labels: int = 0) -> None:
    activity = store.channel(channel)
    for second in sorted(seconds):
        for frame in range(5):  # five analysed pictures a second
            changed = seconds[second]
            activity.picture(second + frame / 5, None if changed is None else moved_words(changed), labels)
    activity.release()
    store.flush()


def test_written_seconds_are_found_in_their_region_only(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    moving = {T0 + s: picture_moving_at(0.1, 0.3) for s in range(10, 15)}
    moving |= {T0 + s: picture_moving_at(0.7, 0.9) for s in range(60, 62)}
    quiet = {T0 + s: None for s in range(0, 120) if T0 + s not in moving}
    write_seconds(store, "cam", moving | quiet)
    store.close()
    records = read_records(tmp_path, "cam", T0, T0 + 120)
    assert records.dtype == RECORD and len(records) == 7  # quiet seconds take no room
    assert day_files(tmp_path, "cam", T0)[0].stat().st_size == 7 * RECORD.itemsize
    left = search(tmp_path, "cam", T0, T0 + 120, LEFT)
    assert [(m.start, m.end) for m in left.matches] == [(T0 + 10 - PAD, T0 + 15 + PAD)]
    assert left.moving_seconds == 5 and left.matches[0].cells >= 1
    right = search(tmp_path, "cam", T0, T0 + 120, RIGHT)
    assert [(m.start, m.end) for m in right.matches] == [(T0 + 60 - PAD, T0 + 62 + PAD)]
    # A bigger minimum than the moving box has cells: nothing.
    assert search(tmp_path, "cam", T0, T0 + 120, LEFT, min_cells=200).matches == []
    # The span cuts the pads.
    assert search(tmp_path, "cam", T0 + 11, T0 + 13, LEFT).matches[0].start == T0 + 11


def test_labels_narrow_the_search(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    write_seconds(store, "cam", {T0 + s: picture_moving_at(0.1, 0.3) for s in range(0, 3)})
    write_seconds(store, "cam", {T0 + s: picture_moving_at(0.1, 0.3) for s in range(30, 33)}, label_bits(["person"]))
    store.close()
    every = search(tmp_path, "cam", T0, T0 + 60, WHOLE)
    assert len(every.matches) == 2 and every.matches[1].labels == ("person",)
    people = search(tmp_path, "cam", T0, T0 + 60, WHOLE, labels=["person"])
    assert [m.peak for m in people.matches] == [T0 + 30]
    assert search(tmp_path, "cam", T0, T0 + 60, WHOLE, labels=["vehicle"]).matches == []


def test_not_indexed_is_the_footage_no_analysis_covered(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    write_seconds(store, "cam", {T0 + s: None for s in range(100, 200)})
    store.close()
    assert analysed_spans(tmp_path, "cam", T0, T0 + 1000) == [(T0 + 100, T0 + 200)]
    result = search(tmp_path, "cam", T0, T0 + 1000, WHOLE, footage=[(T0, T0 + 300), (T0 + 500, T0 + 600)])
    assert result.not_indexed == [(T0, T0 + 100), (T0 + 200, T0 + 300), (T0 + 500, T0 + 600)]
    assert subtract([(0, 10)], [(2, 3), (5, 20)]) == [(0, 2), (3, 5)]
    # A channel that was never analysed: everything recorded is not indexed, and nothing fails.
    never = search(tmp_path, "other", T0, T0 + 1000, WHOLE, footage=[(T0, T0 + 300)])
    assert never.matches == [] and never.not_indexed == [(T0, T0 + 300)]


def test_a_growing_span_is_rewritten_in_place(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    activity = store.channel("cam")
    for second in range(T0, T0 + 50):
        activity.picture(second, None)
        store.flush()
    activity.picture(T0 + 100, None)  # a gap: a second span
    activity.release()
    store.close()
    _, spans = day_files(tmp_path, "cam", T0)
    assert spans.stat().st_size == 16
    assert analysed_spans(tmp_path, "cam", T0, T0 + 200) == [(T0, T0 + 50), (T0 + 100, T0 + 101)]


def test_a_span_across_midnight_is_rewritten_in_place_in_both_days(tmp_path: Path) -> None:
    midnight = T0 - T0 % 86400 + 86400
    store = ActivityStore(tmp_path, flush=3600)
    activity = store.channel("cam")
    for second in range(midnight - 30, midnight + 30):
        activity.picture(second, None)
        store.flush()
    activity.release()
    store.close()
    for day in (midnight - 1, midnight):
        assert day_files(tmp_path, "cam", day)[1].stat().st_size == 8  # one pair each, however many writes
    assert analysed_spans(tmp_path, "cam", midnight - 60, midnight + 60) == [(midnight - 30, midnight + 30)]


def test_a_span_of_days_writes_each_day_once(tmp_path: Path) -> None:
    """A camera analysed for three days on end: one pair per day file, rewritten in place, however many writes."""
    start = T0 - T0 % 86400 + 80000
    store = ActivityStore(tmp_path, flush=3600)
    activity = store.channel("cam")
    for second in range(start, start + 3 * 86400, 2):
        activity.picture(second, None)
        if second % 3600 == 0:
            store.flush()
    activity.release()
    store.close()
    days = sorted((tmp_path / "cam" / "activity").glob("*.cov"))
    assert len(days) == 4 and all(day.stat().st_size == 8 for day in days)
    assert analysed_spans(tmp_path, "cam", start - 10, start + 4 * 86400) == [(start, start + 3 * 86400 - 1)]


def test_keyframes_a_long_gop_apart_are_one_analysed_span(tmp_path: Path) -> None:
    """Only keyframes analysed (low power, an overloaded host), 10 s apart: still analysed, not "not indexed"."""
    store = ActivityStore(tmp_path, flush=3600)
    activity = store.channel("cam")
    for second in range(T0, T0 + 600, 10):
        activity.picture(second, None)
    activity.picture(T0 + 700, None)  # a real gap (a camera lost for 100 s): a new span
    activity.release()
    store.close()
    assert analysed_spans(tmp_path, "cam", T0, T0 + 1000) == [(T0, T0 + 591), (T0 + 700, T0 + 701)]


def test_pictures_after_the_release_are_ignored(tmp_path: Path) -> None:
    """A motion worker that outlived its stop's deadline: what it still offers is not kept in memory."""
    store = ActivityStore(tmp_path, flush=3600)
    activity = store.channel("cam")
    activity.picture(T0, moved_words(picture_moving_at(0.1, 0.3)))
    activity.release()
    for n in range(100):
        activity.picture(T0 + 1 + n, moved_words(picture_moving_at(0.1, 0.3)))
    assert activity.take() == ([], [], None)
    store.close()
    assert read_records(tmp_path, "cam", T0, T0 + 1000)["t"].tolist() == [T0]


def test_torn_records_from_a_crash_are_left_out_and_written_over(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    write_seconds(store, "cam", {T0 + 1: picture_moving_at(0.1, 0.3)})
    path, _ = day_files(tmp_path, "cam", T0)
    with path.open("ab") as out:
        out.write(b"\x01\x02\x03")  # half a record
    assert len(read_records(tmp_path, "cam", T0, T0 + 10)) == 1
    write_seconds(store, "cam", {T0 + 5: picture_moving_at(0.1, 0.3)})
    store.close()
    assert read_records(tmp_path, "cam", T0, T0 + 10)["t"].tolist() == [T0 + 1, T0 + 5]


def test_missing_index_is_made_again_and_a_span_limit(tmp_path: Path) -> None:
    store = ActivityStore(tmp_path, flush=3600)
    write_seconds(store, "cam", {T0 + 1: picture_moving_at(0.1, 0.3)})
    for path in (tmp_path / "cam" / "activity").iterdir():
        path.unlink()
    (tmp_path / "cam" / "activity").rmdir()
    assert search(tmp_path, "cam", T0, T0 + 10, WHOLE).matches == []
    write_seconds(store, "cam", {T0 + 3: picture_moving_at(0.1, 0.3)})
    store.close()
    assert [m.peak for m in search(tmp_path, "cam", T0, T0 + 10, WHOLE).matches] == [T0 + 3]
    with pytest.raises(ValueError):
        search(tmp_path, "cam", T0, T0 + MAX_SPAN + 3600, WHOLE)
    with pytest.raises(ValueError):
        search(tmp_path, "cam", T0, T0, WHOLE)


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/Berlin", "2026-03-29"), ("Europe/Berlin", "2026-10-25"), ("America/New_York", "2026-11-01")],
)
def test_a_daylight_saving_day_is_searched_whole(tmp_path: Path, zone: str, day: str) -> None:
    """A local day of 23 or 25 hours: motion every local hour is found once, in files of UTC days."""
    tz = ZoneInfo(zone)
    start = int(datetime.fromisoformat(day).replace(tzinfo=tz).timestamp())
    end = int((datetime.fromisoformat(day).replace(tzinfo=tz) + timedelta(days=1)).timestamp())
    hours = (end - start) // 3600
    assert hours in (23, 25)
    store = ActivityStore(tmp_path, flush=3600)
    write_seconds(store, "cam", {start + h * 3600 + 30: picture_moving_at(0.1, 0.3) for h in range(hours)})
    store.close()
    result = search(tmp_path, "cam", start, end, WHOLE)
    assert [m.peak for m in result.matches] == [start + h * 3600 + 30 for h in range(hours)]
    local_hours = [datetime.fromtimestamp(m.peak, tz).hour for m in result.matches]
    # Spring skips a local hour (23 hours, 23 distinct); autumn repeats one (25 hours, 24 distinct).
    assert len(set(local_hours)) == min(hours, 24)
    assert local_hours == sorted(local_hours) or hours == 25


def test_retention_prunes_the_days_without_footage(tmp_path: Path) -> None:
    day = 86400
    now = T0 - T0 % day + 10 * day + 3600
    index = RecordingIndex(tmp_path / "index.db")
    try:
        store = ActivityStore(tmp_path, flush=3600)
        for n in range(10):  # ten days of activity on two channels
            write_seconds(store, "cam", {now - (9 - n) * day: picture_moving_at(0.1, 0.3)})
            write_seconds(store, "gone", {now - (9 - n) * day: picture_moving_at(0.1, 0.3)})
        store.close()
        # Footage of "cam" from 3 days ago on: its older activity days go; "gone" has no footage:
        # only the days past the retention go.
        index.add_segment("cam", now - 3 * day, "cam/x.mp4", now - 3 * day + 60, 1000, complete=True)
        Pruner(tmp_path, index, RetentionPolicy(retain_days=5, event_retain_days=5), clock=lambda: now).prune()
        assert len(list((tmp_path / "cam" / "activity").glob("*.act"))) == 4
        assert len(list((tmp_path / "gone" / "activity").glob("*.act"))) == 6
        assert prune_activity(tmp_path, lambda _c: None, now + 2 * day) == 20
    finally:
        index.close()


def test_the_motion_workers_side_never_waits_for_the_disk(tmp_path: Path) -> None:
    """A writer stuck on a slow disk does not hold up pictures: they only go in a list."""
    store = ActivityStore(tmp_path, flush=0.05)
    activity = store.channel("cam")
    words = moved_words(picture_moving_at(0.1, 0.3))
    done = threading.Event()

    def pictures() -> None:
        for n in range(2000):
            activity.picture(T0 + n / 5, words)
        done.set()

    with store._io:  # the write lock, held as a stuck disk would hold it
        threading.Thread(target=pictures, daemon=True).start()
        assert done.wait(60), "pictures waited for the stuck write"
    assert store.close(timeout=30.0)
    assert len(read_records(tmp_path, "cam", T0, T0 + 1000)) == 400
