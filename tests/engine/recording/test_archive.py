"""Archive: clip export, index rebuild and recovery, on real recorded footage."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from engine import Archive, EventKind, ExportError, RecorderSettings, export_clip
from engine.recording.layout import INDEX_NAME, segment_relpath
from support import wait_for

from ..recsupport import decode_errors, ffprobe, recording, video_packets, wait_segments

FRAME = 1 / 15
GOP = 1.0


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 7 s of H.264 in 2 s files, with one finished motion event."""
    root = tmp_path_factory.mktemp("footage")
    with recording(recording_server.url("/h264"), root, RecorderSettings(segment_seconds=2)) as (arc, rec, _chan):
        wait_for(lambda: rec.status.recording, 10)
        time.sleep(1.0)
        event_id = rec.start_event(EventKind.MOTION)
        time.sleep(1.0)
        rec.end_event(event_id, score=0.5)
        wait_segments(arc, 3, 15)
    arc.close()
    return root


def _copy(footage: Path, tmp_path: Path) -> Path:
    root = tmp_path / "nvr"
    shutil.copytree(footage, root)
    return root


def _index_rows(root: Path) -> list[tuple]:
    with sqlite3.connect(root / INDEX_NAME) as db:
        return db.execute("SELECT path, start, end, bytes, complete FROM segments ORDER BY start").fetchall()


def test_export_clip_spans_the_request(footage: Path, tmp_path: Path) -> None:
    arc = Archive(footage)
    try:
        segments = arc.index.segments()
        assert len(segments) >= 4
        start = segments[0].start + 0.5
        end = segments[2].start + 1.2
        clip = export_clip(arc.index, footage, "chan1", start, end, tmp_path / "out" / "clip.mp4")
    finally:
        arc.close()
    assert clip.path.exists() and not clip.path.with_name("clip.mp4.part").exists()
    # The clip opens at the keyframe at or before the start: at most a GOP early.
    assert start - GOP - FRAME <= clip.start <= start
    info = ffprobe(clip.path)
    duration = float(info["format"]["duration"])
    assert duration == pytest.approx(end - start, abs=GOP + FRAME)
    assert duration == pytest.approx(end - clip.start, abs=FRAME * 1.5)
    assert clip.duration == pytest.approx(duration, abs=FRAME)
    assert video_packets(clip.path) == clip.video_frames
    assert clip.video_frames == pytest.approx((end - clip.start) / FRAME, abs=1.5)
    assert decode_errors(clip.path) == ""


def test_export_clip_errors(footage: Path, tmp_path: Path) -> None:
    arc = Archive(footage)
    try:
        first = arc.index.segments()[0]
        with pytest.raises(ExportError) as err:
            export_clip(arc.index, footage, "chan1", first.start + 2, first.start + 1, tmp_path / "a.mp4")
        assert err.value.reason == "end_before_start"
        with pytest.raises(ExportError) as err:
            export_clip(arc.index, footage, "chan1", first.start + 1, first.start + 1, tmp_path / "b.mp4")
        assert err.value.reason == "end_before_start"
        with pytest.raises(ExportError) as err:
            export_clip(arc.index, footage, "chan1", first.start - 60, first.start - 10, tmp_path / "c.mp4")
        assert err.value.reason == "no_footage"
        with pytest.raises(ExportError) as err:
            export_clip(arc.index, footage, "other", first.start, first.start + 5, tmp_path / "d.mp4")
        assert err.value.reason == "no_footage"
    finally:
        arc.close()
    assert not list(tmp_path.glob("*.mp4*"))


def test_damaged_index_is_rebuilt_from_the_files(footage: Path, tmp_path: Path) -> None:
    root = _copy(footage, tmp_path)
    original = _index_rows(root)
    with sqlite3.connect(root / INDEX_NAME) as db:
        events = db.execute("SELECT id, kind, start, end, score FROM events").fetchall()
    assert len(events) == 1 and events[0][3] is not None
    for suffix in ("-wal", "-shm"):
        (root / (INDEX_NAME + suffix)).unlink(missing_ok=True)
    (root / INDEX_NAME).write_bytes(b"this is no database " * 512)
    arc = Archive(root)
    try:
        assert arc.recover() == len(original)
        assert arc.rebuilt
        assert len(list(root.glob(f"{INDEX_NAME}.damaged-*"))) == 1
        rebuilt = arc.index.segments()
        assert [s.path for s in rebuilt] == [row[0] for row in original]
        for segment, (_path, start, end, size, _complete) in zip(rebuilt, original, strict=True):
            assert segment.complete
            assert segment.start == pytest.approx(start, abs=1e-3)  # the file name keeps milliseconds
            assert segment.duration == pytest.approx(end - start, abs=1e-3)
            assert segment.bytes == size
        (event,) = arc.index.events()
        assert (event.id, event.kind, event.start, event.end, event.score) == events[0]
    finally:
        arc.close()


def test_recover_indexes_unknown_files_of_the_newest_hour(footage: Path, tmp_path: Path) -> None:
    root = _copy(footage, tmp_path)
    arc = Archive(root)
    segments = arc.index.segments()
    last = segments[-1]
    arc.index.delete_segments([last.id])
    junk_rel = segment_relpath("chan1", last.end + 30)
    (root / junk_rel).parent.mkdir(parents=True, exist_ok=True)  # 30 s on may be the next hour's folder
    (root / junk_rel).write_bytes(b"\0\0\0\x08junk" * 100)  # not playable
    arc.close()
    arc = Archive(root)
    try:
        assert not arc.index.known_paths() >= {last.path}
        assert arc.recover() == 1
        assert not arc.rebuilt
        again = arc.index.segments()
        assert [s.path for s in again] == [s.path for s in segments]
        back = again[-1]
        assert back.complete
        assert back.start == pytest.approx(last.start, abs=1e-3)
        assert back.duration == pytest.approx(last.duration, abs=1e-3)
        assert not (root / junk_rel).exists()
        assert arc.recover() == 0  # nothing left to do
    finally:
        arc.close()
