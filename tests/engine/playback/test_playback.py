"""Playback engine: MP4 box parsing, the hour playlist, timestamp shifting, the clip cache,
and the index's browsing queries. On real footage recorded from an RTSP feed."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import struct
import subprocess
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from engine import Archive, RecorderSettings, RecordingIndex
from engine.playback.boxes import BoxError, LayoutCache, parse_file, read_boxes
from engine.playback.clips import CACHE_FOLDER, ClipCache
from engine.playback.playlist import ShiftedFile, build_playlist
from engine.recording.layout import segment_relpath
from support import wait_for

from ..recsupport import ffprobe, recording, video_packets, wait_segments

FRAME = 1 / 15


@pytest.fixture(scope="module")
def footage(recording_server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 8 s of H.264 + AAC (from G.711) in 2 s files."""
    root = tmp_path_factory.mktemp("pb_footage")
    with recording(recording_server.url("/av"), root, RecorderSettings(segment_seconds=2)) as (arc, rec, _chan):
        wait_for(lambda: rec.status.recording, 10)
        wait_segments(arc, 4, 20)
    arc.close()
    return root


def _segments(root: Path):
    arc = Archive(root)
    try:
        return [s for s in arc.index.segments() if s.complete and s.end > s.start]
    finally:
        arc.close()


def _packets(target: str, stream: str = "v") -> list[tuple[float, float]]:
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-allowed_extensions",
            "ALL",
            "-select_streams",
            stream,
            "-show_entries",
            "packet=dts_time,duration_time",
            "-of",
            "json",
            target,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [(float(p["dts_time"]), float(p.get("duration_time") or 0)) for p in json.loads(proc.stdout)["packets"]]


def test_parse_file_reads_the_fragments(footage: Path) -> None:
    segments = _segments(footage)
    assert len(segments) >= 3
    for segment in segments:
        path = footage / segment.path
        layout = parse_file(path)
        assert 0 < layout.init_size < 4096
        assert path.read_bytes()[4:8] == b"ftyp"
        assert {t.video for t in layout.tracks.values()} == {True, False}  # video and audio
        assert layout.fragments and layout.fragments[0].keyframe
        assert sum(f.keyframe for f in layout.fragments) >= segment.duration - 1  # a keyframe a second
        assert layout.fragments[0].offset == layout.init_size
        # Fragments tile the file up to its end, each a moof + mdat.
        for a, b in itertools.pairwise(layout.fragments):
            assert a.offset + a.size == b.offset
            assert a.start < b.start
        last = layout.fragments[-1]
        assert layout.size == path.stat().st_size
        with path.open("rb") as f:  # after the last fragment only an index box (mfra) may follow
            assert {b.type for b in read_boxes(f, last.offset + last.size, layout.size)} <= {b"mfra"}
        # Fragments are at most about a second; the file is as long as the index says.
        assert all(b.start - a.start <= 1.0 + 2 * FRAME for a, b in itertools.pairwise(layout.fragments))
        assert layout.duration == pytest.approx(segment.duration, abs=0.15)
        # One tfdt per track fragment: every fragment has one or two (video, audio).
        assert len(layout.fragments) <= len(layout.tfdt_fields) <= 2 * len(layout.fragments)
        assert all(f.video or f.audio for f in layout.fragments)


def test_parse_file_rejects_junk_and_stops_at_a_torn_box(footage: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0\0\0\x10notanmp4atall" * 10)
    with pytest.raises(BoxError):
        parse_file(junk)
    source = footage / _segments(footage)[0].path
    whole = parse_file(source)
    torn = tmp_path / "torn.mp4"
    cut = whole.fragments[-1].offset + whole.fragments[-1].size // 2
    torn.write_bytes(source.read_bytes()[:cut])
    layout = parse_file(torn)
    assert layout.fragments == whole.fragments[:-1]


def test_hour_playlist_plays_as_one_continuous_timeline(footage: Path, tmp_path: Path) -> None:
    segments = _segments(footage)
    playlist = build_playlist(footage, segments, min_part_seconds=1.5)
    assert not playlist.skipped
    assert len(playlist.files) == len(segments)
    # Each boundary may add up to an audio frame or two (AAC padding is not overlapped).
    slack = 0.15 * len(segments)
    assert sum(s.duration for s in segments) - 0.1 <= playlist.duration <= sum(s.duration for s in segments) + slack
    # Shift each file as the view would and let ffmpeg's HLS demuxer read the playlist.
    for item in playlist.files:
        shifted = ShiftedFile(footage / item.segment.path, item.layout, item.shift)
        (tmp_path / f"{item.segment.id}.mp4").write_bytes(shifted.read(0, shifted.size))
    text = playlist.render(lambda item: f"{item.segment.id}.mp4")
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert text.count("#EXT-X-MAP:") == len(segments)
    assert text.count("#EXT-X-DISCONTINUITY\n") == len(segments) - 1
    extinf = [float(line[8:-1]) for line in text.splitlines() if line.startswith("#EXTINF:")]
    target = int(text.split("#EXT-X-TARGETDURATION:")[1].split("\n")[0])
    assert max(extinf) <= target
    assert sum(extinf) == pytest.approx(playlist.duration, abs=1e-3)
    m3u8 = tmp_path / "hour.m3u8"
    m3u8.write_text(text)

    video = _packets(str(m3u8), "v")
    dts = [d for d, _ in video]
    assert all(b > a for a, b in itertools.pairwise(dts)), "video timestamps go backwards"
    assert max(b - a for a, b in itertools.pairwise(dts)) < 0.25  # no hole at the file boundaries
    assert len(video) == sum(video_packets(footage / s.path) for s in segments)
    audio = [d for d, _ in _packets(str(m3u8), "a")]
    assert audio and all(b > a for a, b in itertools.pairwise(audio))
    end = dts[-1] + video[-1][1]
    assert end - dts[0] == pytest.approx(playlist.duration, abs=0.3)

    # Copied into one file, it is one timeline of the hour's length.
    out = tmp_path / "hour.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-allowed_extensions", "ALL", "-i", str(m3u8), "-c", "copy", str(out)],
        check=True,
        timeout=60,
    )
    assert float(ffprobe(out)["format"]["duration"]) == pytest.approx(playlist.duration, abs=0.3)


def test_playlist_without_shifting_goes_backwards(footage: Path, tmp_path: Path) -> None:
    """The control: the raw files restart at 0, which is why the view shifts them."""
    segments = _segments(footage)
    playlist = build_playlist(footage, segments, min_part_seconds=1.5)
    for item in playlist.files:
        shutil.copy(footage / item.segment.path, tmp_path / f"{item.segment.id}.mp4")
    (tmp_path / "raw.m3u8").write_text(playlist.render(lambda item: f"{item.segment.id}.mp4"))
    dts = [d for d, _ in _packets(str(tmp_path / "raw.m3u8"), "v")]
    assert any(b < a for a, b in itertools.pairwise(dts))


def test_shifted_ranges_match_the_whole(footage: Path) -> None:
    segment = _segments(footage)[1]
    path = footage / segment.path
    layout = parse_file(path)
    shifted = ShiftedFile(path, layout, 3600.25)
    whole = shifted.read(0, shifted.size)
    original = path.read_bytes()
    assert len(whole) == len(original) == shifted.size
    for offset, width, track_id, value in layout.tfdt_fields:
        before = int.from_bytes(original[offset : offset + width], "big")
        after = int.from_bytes(whole[offset : offset + width], "big")
        assert before == value
        assert after - before == round(3600.25 * layout.tracks[track_id].timescale)
    # Everything but the tfdt values is untouched.
    mask = bytearray(original)
    for offset, width, _track, _value in layout.tfdt_fields:
        mask[offset : offset + width] = whole[offset : offset + width]
    assert bytes(mask) == whole
    # Any range, even one that cuts a tfdt value in two, is a slice of the whole.
    offset, width, _track, _value = layout.tfdt_fields[3]
    for start, end in [(0, 100), (offset + 2, offset + width + 50), (offset - 3, offset + 2), (5000, 10**9)]:
        assert shifted.read(start, end) == whole[start:end]
    assert shifted.read(shifted.size, shifted.size + 10) == b""


def test_only_shifts_a_playlist_can_make(footage: Path) -> None:
    """A shift that would make a timestamp negative (or overflow its field) is refused."""
    path = footage / _segments(footage)[1].path
    layout = parse_file(path)
    first = min(value / layout.tracks[track].timescale for _o, _w, track, value in layout.tfdt_fields)
    ShiftedFile(path, layout, -first)  # the first fragment moved to zero: what a playlist does
    with pytest.raises(ValueError):
        ShiftedFile(path, layout, -first - 0.5)
    with pytest.raises(ValueError):
        ShiftedFile(path, layout, -5.0)
    with pytest.raises(ValueError):
        ShiftedFile(path, layout, 1e15)  # past a 64-bit field


def test_layout_cache_reparses_a_growing_file(footage: Path, tmp_path: Path) -> None:
    source = footage / _segments(footage)[0].path
    whole = parse_file(source)
    path = tmp_path / "growing.mp4"
    data = source.read_bytes()
    path.write_bytes(data[: whole.fragments[1].offset])
    cache = LayoutCache(capacity=2)
    assert len(cache.get(path).fragments) == 1
    assert cache.get(path) is cache.get(path)
    path.write_bytes(data)
    assert len(cache.get(path).fragments) == len(whole.fragments)


def test_clip_cache_is_bounded_and_least_recently_used(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_bytes=250_000)
    made: list[str] = []

    def maker(key: str, size: int = 100_000):
        def make(dest: Path) -> None:
            made.append(key)
            dest.write_bytes(b"x" * size)

        return make

    a = cache.get("a", maker("a"))
    assert a.parent == tmp_path / CACHE_FOLDER / "clips"
    assert cache.name("chan/event-id/1.5/9.5") == f"{hashlib.sha256(b'chan/event-id/1.5/9.5').hexdigest()[:32]}.mp4"
    time.sleep(0.01)
    cache.get("b", maker("b"))
    time.sleep(0.01)
    assert cache.get("a", maker("a")) == a  # a hit: made once, now most recent
    assert made == ["a", "b"]
    time.sleep(0.01)
    cache.get("c", maker("c"))  # 300 kB > 250 kB: b (least recently used) goes
    assert cache.usage() <= 250_000
    assert a.exists() and not (cache.folder / cache.name("b")).exists()
    # A clip larger than the cap is kept until the next one.
    big = cache.get("big", maker("big", 400_000))
    assert big.exists() and cache.usage() == 400_000
    cache.clear()
    assert cache.usage() == 0


def test_clip_cache_makes_a_clip_once_for_concurrent_requests(tmp_path: Path) -> None:
    cache = ClipCache(tmp_path, max_bytes=10**9)
    calls: list[int] = []

    def make(dest: Path) -> None:
        calls.append(1)
        time.sleep(0.2)
        dest.write_bytes(b"clip")

    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", make))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(set(results)) == 1


def test_cache_folder_is_never_indexed(footage: Path, tmp_path: Path) -> None:
    root = tmp_path / "nvr"
    shutil.copytree(footage, root)
    segment = _segments(root)[0]
    stray = root / CACHE_FOLDER / segment_relpath("chan1", segment.start).split("/", 1)[1]
    stray.parent.mkdir(parents=True)
    shutil.copy(root / segment.path, stray)
    (root / "index.db").unlink()
    for suffix in ("-wal", "-shm"):
        (root / f"index.db{suffix}").unlink(missing_ok=True)
    arc = Archive(root)
    try:
        arc.recover()
        assert arc.rebuilt
        assert not [s for s in arc.index.segments() if CACHE_FOLDER in s.path]
        assert arc.index.channels() == ["chan1"]
        arc.recover()  # the incremental pass (newest hours of every folder) skips it too
        assert not [s for s in arc.index.segments() if CACHE_FOLDER in s.path]
    finally:
        arc.close()
    assert stray.exists()


# -- browsing queries ---------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _day_of(moment: float) -> tuple[date, float]:
    day = datetime.fromtimestamp(moment, BERLIN).date()
    return day, datetime.combine(day, datetime.min.time(), BERLIN).timestamp()


@pytest.fixture
def index(tmp_path: Path):
    db = RecordingIndex(tmp_path / "index.db")
    yield db
    db.close()


def _add(index: RecordingIndex, channel: str, start: float, length: float = 60.0) -> None:
    index.add_segment(channel, start, segment_relpath(channel, start), start + length, 1000, complete=True)


def test_footage_days_and_hours_in_local_time_across_dst(index: RecordingIndex) -> None:
    # Berlin, 2026: clocks go forward on 29 March (02:00 -> 03:00), back on 25 October (03:00 -> 02:00).
    spring = datetime(2026, 3, 29, tzinfo=BERLIN)
    autumn = datetime(2026, 10, 25, tzinfo=BERLIN)
    for day in (spring, autumn):
        start = day.timestamp()
        for hour in range(26):
            _add(index, "cam", start + hour * 3600 + 10)
    # 23:30 local on the day before: UTC is still that day's 22:30, but it is a day of its own.
    _add(index, "cam", datetime(2026, 10, 23, 23, 30, tzinfo=BERLIN).timestamp())
    _add(index, "cam", datetime(2026, 10, 24, 23, 59, tzinfo=BERLIN).timestamp())
    _add(index, "other", spring.timestamp() + 100)

    days = index.footage_days("cam", _day_of)
    assert days == [
        date(2026, 10, 26),  # 25 hours after midnight on a 25-hour day is 00:xx on the 26th
        date(2026, 10, 25),
        date(2026, 10, 24),
        date(2026, 10, 23),
        date(2026, 3, 30),
        date(2026, 3, 29),
    ]
    # Paging: the days before a day's start.
    assert index.footage_days("cam", _day_of, limit=2) == days[:2]
    before = _day_of(datetime(2026, 10, 24, 12, tzinfo=BERLIN).timestamp())[1]
    assert index.footage_days("cam", _day_of, before=before) == days[3:]

    # The autumn day has 25 hours, every one with footage; the spring day 23.
    for day, hours in ((autumn, 25), (spring, 23)):
        start = day.timestamp()
        end = datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), BERLIN).timestamp()
        assert end - start == hours * 3600
        buckets = index.footage_buckets("cam", start, end)
        assert buckets == [start + n * 3600 for n in range(hours)]
    # Empty hours are left out.
    start = autumn.timestamp()
    assert index.footage_buckets("cam", start - 2 * 3600, start) == [start - 3600]


def test_segments_starting_and_lookups(index: RecordingIndex) -> None:
    base = 1_780_000_000.0 - 1_780_000_000.0 % 3600
    for n in range(120):
        _add(index, "cam", base + n * 60)
    hour = index.segments_starting("cam", base + 3600, base + 7200)
    assert len(hour) == 60 and hour[0].start == base + 3600 and hour == sorted(hour, key=lambda s: s.start)
    assert index.segments_starting("other", base, base + 7200) == []
    assert index.segment(hour[0].id) == hour[0]
    assert index.segment(10**9) is None
    assert index.event_count("cam") == 0


def test_browsing_queries_stay_fast_with_a_month_of_footage(index: RecordingIndex) -> None:
    base = 1_780_000_000.0 - 1_780_000_000.0 % 86400
    rows = [
        (ch, base + n * 60, f"{ch}/{n}.mp4", base + n * 60 + 60, 1, 1) for ch in ("a", "b") for n in range(30 * 1440)
    ]
    with index._lock:
        index._db.executemany(
            "INSERT INTO segments (channel, start, path, end, bytes, complete) VALUES (?, ?, ?, ?, ?, ?)", rows
        )
    began = time.perf_counter()
    days = index.footage_days("a", _day_of, limit=32)
    hours = index.footage_buckets("a", base + 10 * 86400, base + 11 * 86400)
    segments = index.segments_starting("a", hours[5], hours[5] + 3600)
    elapsed = time.perf_counter() - began
    assert len(days) in (30, 31) and len(hours) == 24 and len(segments) == 60
    assert elapsed < 0.2, f"browsing queries took {elapsed * 1000:.0f} ms"


def test_struct_sizes_are_big_endian(tmp_path: Path) -> None:
    """The parser reads 64-bit box sizes (size == 1) too."""
    data = struct.pack(">I4sQ", 1, b"free", 24) + b"\0" * 8 + struct.pack(">I4s", 12, b"skip") + b"abcd"
    path = tmp_path / "largesize.bin"
    path.write_bytes(data)
    with path.open("rb") as f:
        boxes = read_boxes(f, 0, len(data))
    assert [(b.type, b.offset, b.size, b.header) for b in boxes] == [(b"free", 0, 24, 16), (b"skip", 24, 12, 8)]
