"""Recording a live feed: continuity, drop-outs, audio, crashes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest
from engine import Archive, RecorderSettings, RecordingMode
from engine.recording.segment import scan_segment
from engine.stream.gop import EncodedPacket
from engine.stream.timestamps import TimestampFixer
from rtsp_peer import live_mount
from support import wait_for

from ..recsupport import (
    annexb_nals,
    decode_errors,
    ffprobe,
    length_prefixed_nals,
    packet_times,
    recording,
    video_packets,
    wait_segments,
)

FPS = 15
FRAME = 1 / FPS
GOP = 1.0
TICK = 90000 // FPS


def test_timestamp_fixer_first_packets_without_dts() -> None:
    """The start of an RTSP B-frame stream as FFmpeg delivers it: the keyframe has
    no timestamps, the next two only a pts. Their timestamps are worked out
    backwards from the first dts: the true ones, not a squeezed timeline."""
    fixer = TimestampFixer()
    raw = [  # (pts, dts) in frames; I P B B P B B, 2-frame reorder delay, stream starting at frame 12
        EncodedPacket(b"I", None, True, None, TICK),
        EncodedPacket(b"P", 15 * TICK, False, None, TICK),
        EncodedPacket(b"B", 13 * TICK, False, None, TICK),
        EncodedPacket(b"B", 14 * TICK, False, 13 * TICK, TICK),
        EncodedPacket(b"P", 18 * TICK, False, 14 * TICK, TICK),
        EncodedPacket(b"B", 16 * TICK, False, 15 * TICK, TICK),
        EncodedPacket(b"B", 17 * TICK, False, 15 * TICK, TICK),  # a repeated dts
    ]
    fixed: list[EncodedPacket] = []
    for packet in raw:
        fixed.extend(fixer.feed(packet))
    assert [p.data for p in fixed] == [p.data for p in raw]
    assert [(p.pts, p.dts) for p in fixed[:4]] == [
        (12 * TICK, 10 * TICK),
        (15 * TICK, 11 * TICK),
        (13 * TICK, 12 * TICK),
        (14 * TICK, 13 * TICK),
    ]
    dts = [p.dts for p in fixed]
    assert all(b > a for a, b in itertools.pairwise(dts)), dts
    assert all(p.pts >= p.dts for p in fixed), fixed
    assert fixed[4] is raw[4]  # good timestamps pass through untouched
    # Without B-frames: only the first packet lacks them.
    fixer = TimestampFixer()
    out = fixer.feed(EncodedPacket(b"I", None, True, None, TICK))
    assert out == []
    out = fixer.feed(EncodedPacket(b"P", 6 * TICK, False, 6 * TICK, TICK))
    assert [(p.pts, p.dts) for p in out] == [(5 * TICK, 5 * TICK), (6 * TICK, 6 * TICK)]
    # A stream that never gives a dts is not held forever.
    fixer = TimestampFixer()
    out = []
    for i in range(40):
        out.extend(fixer.feed(EncodedPacket(b"x", i * TICK if i else None, i == 0, None, TICK)))
    assert len(out) >= 40 - 16
    assert all(b.dts > a.dts for a, b in itertools.pairwise(out))


@pytest.mark.parametrize("mount", ["/h264", "/h264b", "/h265", "/h265b"])
def test_continuous_segments_join_and_keep_every_frame(recording_server, tmp_path: Path, mount: str) -> None:
    """3+ segments: all playable, joined within a frame, every received frame written."""
    settings = RecorderSettings(segment_seconds=2)
    with recording(recording_server.url(mount), tmp_path, settings) as (arc, rec, _chan):
        wait_segments(arc, 3, 20)
        wait_for(lambda: rec.status.recording, 5)
    received = rec.received
    assert received.ends == 1 and len(received.media) == 1
    video = received.video
    assert video[0].keyframe
    if mount.endswith("b"):
        # Really B-frames over RTSP: reordered pts, and the first packets come without dts.
        assert any(p.dts is not None and p.pts is not None and p.pts != p.dts for p in video)
        assert video[0].dts is None
    segments = arc.index.segments()
    assert len(segments) >= 4
    assert all(s.complete for s in segments)
    written = 0
    for segment in segments:
        path = tmp_path / segment.path
        info = ffprobe(path)
        (stream,) = info["streams"]
        assert stream["codec_name"] == ("hevc" if "265" in mount else "h264")
        if "265" in mount:
            assert stream["codec_tag_string"] == "hvc1"
        assert decode_errors(path) == ""
        frames = int(stream["nb_read_packets"])
        written += frames
        # The index's duration (stream time) is the frames' total duration, B-frame
        # streams' first file included (their first packets come without dts).
        assert segment.duration == pytest.approx(frames * FRAME, abs=FRAME / 2), (segment, frames)
        assert segment.bytes == path.stat().st_size
    for before, after in itertools.pairwise(segments):
        gap = after.start - before.end
        assert -1e-3 <= gap <= FRAME + 1e-3, (before, after)
    for segment, after in itertools.pairwise(segments[1:]):
        if int(after.start // 3600) != int(segment.start // 3600):
            continue  # a file also ends on the hour (at its first keyframe): it can be shorter
        assert segment.duration == pytest.approx(2.0, abs=GOP / 2 + 0.01)
    assert written == len(video)


def test_stream_drop_closes_segment_and_recording_resumes(rtsp_server_factory, rec_clips, tmp_path: Path) -> None:
    """Camera gone mid-segment: the file closes playable, recording resumes, the gap shows."""
    server = rtsp_server_factory([live_mount("/live", rec_clips["/h264"])])
    settings = RecorderSettings(segment_seconds=30)
    with recording(server.url("/live"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.status.recording, 10)
        time.sleep(2.5)
        server.stop()
        dropped = time.time()
        wait_for(lambda: not rec.status.recording, 8)
        (first,) = arc.index.segments()
        assert first.complete
        assert first.end <= dropped + 0.2
        assert first.duration > 2.0
        time.sleep(1.0)
        server.start()
        back = time.time()
        wait_for(lambda: len(arc.index.segments()) == 2 and rec.status.recording, 15)
        time.sleep(1.5)
    assert rec.received.ends == 2
    first, second = arc.index.segments()
    assert first.complete and second.complete
    assert second.start - first.end >= 1.0  # the outage is a hole in the index
    assert second.start >= back - 0.2
    for segment in (first, second):
        path = tmp_path / segment.path
        assert decode_errors(path) == ""
        assert video_packets(path) * FRAME == pytest.approx(segment.duration, abs=FRAME)
    assert sum(video_packets(tmp_path / s.path) for s in (first, second)) == len(rec.received.video)


AAC_FRAME = 1024 / 8000
G711_PACKET = 0.025
"""The camera's audio packets: 20 ms of G.711, and some jitter."""


def test_g711_audio_becomes_aac_and_video_is_copied(recording_server, tmp_path: Path) -> None:
    """H.264 + A-law: AAC audio track; video packets are the received bytes, unchanged."""
    settings = RecorderSettings(segment_seconds=2)
    with recording(recording_server.url("/av"), tmp_path, settings) as (arc, rec, _chan):
        wait_segments(arc, 3, 30)
    (media,) = rec.received.media
    assert media.audio is not None and media.audio.codec == "pcm_alaw"
    assert rec.received.audio > 0
    segments = arc.index.segments()
    mp4_nals: list[list[bytes]] = []
    for segment in segments:
        path = tmp_path / segment.path
        info = ffprobe(path)
        kinds = {s["codec_type"]: s for s in info["streams"]}
        assert kinds["video"]["codec_name"] == "h264"
        assert kinds["audio"]["codec_name"] == "aac"
        assert int(kinds["audio"]["sample_rate"]) == 8000
        assert int(kinds["audio"]["nb_read_packets"]) > 0
        # The file's audio starts with its first picture: no audio is lost at a connection's
        # start or at a new file (the muxer would stretch the first audio sample over a hole).
        times = packet_times(path)
        first_audio = times["audio"][0]
        assert first_audio[0] <= 0.001 and first_audio[1] <= AAC_FRAME + G711_PACKET, f"{path.name}: {first_audio}"
        # The video lasts what the index says, and the audio as long, within an AAC frame.
        video_end = max(pts + duration for pts, duration in times["video"])
        assert video_end == pytest.approx(segment.duration, abs=FRAME)
        audio_end = max(pts + duration for pts, duration in times["audio"])
        assert audio_end == pytest.approx(video_end, abs=AAC_FRAME + G711_PACKET)
        assert decode_errors(path) == ""
        with av.open(str(path)) as container:
            for packet in container.demux(video=0):
                if packet.size:
                    mp4_nals.append(length_prefixed_nals(bytes(packet)))
    received = [annexb_nals(p.data) for p in rec.received.video]
    assert len(mp4_nals) == len(received)
    for i, (got, sent) in enumerate(zip(mp4_nals, received, strict=True)):
        assert [n.rstrip(b"\x00") for n in got] == sent, f"packet {i} differs"


CRASH_SCRIPT = """
import sys, time
sys.path.append({engine_parent!r})  # after the stdlib: the integration has a select.py
from pathlib import Path
from engine import Archive, Channel, ChannelConfig, Recorder, RecorderSettings, StreamSource
root = Path(sys.argv[2])
arc = Archive(root)
arc.recover()
rec = Recorder("chan1", root, arc.index, RecorderSettings(segment_seconds=float(sys.argv[3])))
rec.start()
Channel(ChannelConfig("chan1", "Crash", StreamSource(sys.argv[1])), recorder=rec).start()
print("RUNNING", flush=True)
time.sleep(120)
"""


def test_sigkill_leaves_a_playable_file_that_recover_indexes(recording_server, tmp_path: Path) -> None:
    """Killed mid-segment: the partial file plays up to ~the kill and is indexed on recovery."""
    engine_parent = str(Path(__file__).resolve().parents[3] / "custom_components" / "nvr")
    script = tmp_path / "crash.py"
    script.write_text(CRASH_SCRIPT.format(engine_parent=engine_parent))
    root = tmp_path / "rec"
    proc = subprocess.Popen(
        [sys.executable, str(script), recording_server.url("/h264"), str(root), "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        files = lambda: sorted(root.glob("chan1/*/*/*.mp4"))  # noqa: E731

        def mid_segment() -> bool:
            # A closed file, and an open one with a few seconds of fragments on disk. Waiting
            # on what is written, not on a sleep: a starved process may catch up with a burst
            # and start a third file, which holds no fragment for a moment.
            if len(files()) < 2:
                return False
            scanned = scan_segment(files()[-1])
            return scanned is not None and 2.0 <= scanned.duration <= 4.5

        wait_for(mid_segment, 40, step=0.25)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.time()
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    partial = files()[-1]
    scanned = scan_segment(partial)
    assert scanned is not None
    with av.open(str(partial)) as container:  # decodes, picture by picture
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == scanned.video_frames
    assert decode_errors(partial) == ""
    arc = Archive(root)
    try:
        segments = arc.index.segments()
        assert [s.complete for s in segments] == [True] * (len(segments) - 1) + [False]
        assert arc.recover() == 1
        *_, first, second = arc.index.segments()
        assert first.complete and second.complete
        assert second.path == partial.relative_to(root).as_posix()
        assert second.duration == pytest.approx(scanned.duration, abs=1e-3)
        assert second.duration == pytest.approx(decoded * FRAME, abs=FRAME)
        assert second.bytes == partial.stat().st_size
        # Footage reaches to within 2 s of the kill (fragments are flushed every second).
        assert killed - 2.0 <= second.end <= killed + 0.2, (second.end, killed)
        assert second.start == pytest.approx(first.end, abs=FRAME + 1e-3)
    finally:
        arc.close()


def test_mode_off_records_nothing(recording_server, tmp_path: Path) -> None:
    settings = RecorderSettings(mode=RecordingMode.OFF, segment_seconds=2)
    with recording(recording_server.url("/h264"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.video_count > 2 * FPS, 10)
        assert not rec.status.recording
    assert arc.index.segments() == []
    assert not list(tmp_path.glob("chan1/**/*.mp4"))


def test_recording_status_does_not_blink_between_files(rtsp_server, tmp_path: Path) -> None:
    """A new file every 2 s: 'recording' stays on across the switch (automations watch it)."""
    statuses = []
    settings = RecorderSettings(segment_seconds=2)
    with recording(rtsp_server.url("/live"), tmp_path, settings, on_status=statuses.append) as (arc, _rec, _chan):
        wait_segments(arc, 3, 20)
        seen = list(statuses)
    first_on = next(i for i, s in enumerate(seen) if s.recording)
    files = {s.segment for s in seen[first_on:]}
    assert len(files) >= 3, files  # it did switch files while watched
    assert all(s.recording for s in seen[first_on:]), [(s.recording, s.segment) for s in seen[first_on:]]
