"""The timeline's footage spans, and playlists of any span (trimmed, or live while a file grows)."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine import RecorderSettings, RecordingIndex
from engine.playback.playlist import build_playlist
from engine.playback.timeline import channel_timeline, merge_spans
from engine.recording.index import Event, Segment
from support import wait_for

from ..recsupport import recording, wait_segments


def test_merge_spans_joins_adjacent_files_and_keeps_gaps() -> None:
    files = [(0, 60), (60.04, 120), (121.5, 180), (300, 360), (360, 420)]
    assert merge_spans(files, 0, 1000) == ((0, 180), (300, 420))
    assert merge_spans(files, 30, 330) == ((30, 180), (300, 330)), "clipped to the span asked for"
    assert merge_spans([(0, 60), (70, 80)], 0, 100, join=2) == ((0, 60), (70, 80))
    assert merge_spans([(5, 5), (10, 9)], 0, 100) == (), "files without footage add nothing"


def test_channel_timeline_reads_spans_and_events(tmp_path: Path) -> None:
    index = RecordingIndex(tmp_path / "index.db")
    for n, start in enumerate((1000.0, 1060.0, 1500.0)):
        index.add_segment("a", start, f"a/{n}.mp4", start + 60, 10, complete=True)
    index.add_segment("b", 1000.0, "b/0.mp4", 1060.0, 10, complete=True)
    index.add_event(Event("e1", "a", "motion", 1010.0, 1020.0, 0.5, "a/e1.jpg"))
    index.add_event(Event("e0", "a", "manual", 1001.0, None))
    index.add_event(Event("e2", "a", "motion", 5000.0, 5010.0))
    timeline = channel_timeline(index, "a", 900, 2000)
    assert timeline.spans == ((1000.0, 1120.0), (1500.0, 1560.0))
    assert [e.id for e in timeline.events] == ["e0", "e1"], "oldest first, only those in the span"
    index.close()


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 8 s of H.264 + AAC in 2 s files (a keyframe every second)."""
    root = tmp_path_factory.mktemp("range_footage")
    with recording(recording_server.url("/av"), root, RecorderSettings(segment_seconds=2)) as (arc, rec, _chan):
        wait_for(lambda: rec.status.recording, 10)
        wait_segments(arc, 4, 20)
    arc.close()
    return root


def _segments(root: Path) -> list[Segment]:
    index = RecordingIndex(root / "index.db")
    try:
        return [s for s in index.segments() if s.complete and s.end > s.start]
    finally:
        index.close()


def test_a_span_keeps_the_parts_that_show_it(footage: Path) -> None:
    segments = _segments(footage)
    whole = build_playlist(footage, segments, min_part_seconds=0.5)
    middle = segments[1].start + 0.7
    span = build_playlist(footage, segments, min_part_seconds=0.5, span=(middle, segments[2].start + 0.3))
    assert [f.segment.id for f in span.files] == [segments[1].id, segments[2].id]
    first = span.files[0]
    # It starts on the part showing the span's start: not after it, and less than a part before.
    assert first.start <= middle < first.start + first.parts[0][2] + 1e-6
    assert first.start > segments[1].start - 1e-6
    assert span.duration < whole.duration
    text = span.render(lambda item: "x.mp4")
    assert "#EXT-X-ENDLIST" in text and not span.live
    # A player starts at the span's start (hls.js would start a live one near its end).
    assert f"#EXT-X-START:TIME-OFFSET={middle - first.start:.3f},PRECISE=YES" in text
    assert "#EXT-X-START" not in whole.render(lambda item: "x.mp4"), "a whole recording plays from its start"


def test_a_live_playlist_lists_only_finished_parts_of_a_growing_file(footage: Path) -> None:
    segment = _segments(footage)[0]
    growing = Segment(segment.id, segment.channel, segment.start, segment.end, segment.path, segment.bytes, False)
    done = build_playlist(footage, [segment], min_part_seconds=0.5)
    live = build_playlist(footage, [growing], min_part_seconds=0.5, live=True)
    assert len(live.files[0].parts) == len(done.files[0].parts) - 1, "the last part may still grow"
    assert live.files[0].parts == done.files[0].parts[:-1]
    text = live.render(lambda item: "x.mp4")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
