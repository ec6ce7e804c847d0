"""A file that ends without a next keyframe ends its audio with its last picture."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest
from engine import Archive, Recorder, RecorderSettings
from engine.stream.gop import EncodedPacket
from engine.stream.mediaformat import MediaFormat
from rtsp_peer import make_clip

from ..recsupport import files_of_one_take, packet_times

VIDEO_UNTIL = 2.5
"""Seconds of the clip's video fed before the connection ends."""
AUDIO_UNTIL = 3.0
"""Seconds of its audio fed: on a busy machine audio runs ahead of the pictures."""


def _packets(clip: Path) -> tuple[MediaFormat, list[tuple[float, EncodedPacket, bool]]]:
    """The clip's format, and its packets as (seconds, packet, is audio) in stream order."""
    with av.open(str(clip)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        media = MediaFormat(video, audio)
        packets = []
        for packet in container.demux(video, audio):
            if not packet.size or packet.pts is None:
                continue
            is_audio = packet.stream_index == audio.index
            packets.append((float(packet.pts * packet.time_base), EncodedPacket.of(packet), is_audio))
    return media, packets


def test_audio_after_the_last_picture_is_not_written(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "av.mkv", 320, 180, fps=15, gop=15, seconds=AUDIO_UNTIL + 0.5, audio=True)
    media, packets = _packets(clip)
    arc = Archive(tmp_path / "rec")
    arc.recover()
    recorder = Recorder("c", arc.root, arc.index, RecorderSettings(segment_seconds=60))
    recorder.start()
    try:
        start = time.time()
        recorder.stream_started(media, start)
        for seconds, packet, is_audio in packets:
            if seconds >= (AUDIO_UNTIL if is_audio else VIDEO_UNTIL):
                continue
            # A camera's pace: the recorder maps stream time to the clock it sees packets at.
            time.sleep(max(0.0, start + seconds - time.time()))
            recorder.packet(packet, is_audio)
        recorder.stream_ended()
    finally:
        assert recorder.stop(10.0)
    segment = files_of_one_take(arc)[-1]  # the file that ended with the stream
    times = packet_times(arc.root / segment.path)
    video_end = max(pts + duration for pts, duration in times["video"])
    audio_end = max(pts + duration for pts, duration in times["audio"])
    audio_packet = max(duration for _pts, duration in times["audio"])
    assert video_end == pytest.approx(segment.duration, abs=1 / 15)
    # The file's audio ends within one audio packet of its last picture, not half a second on.
    assert video_end - audio_packet <= audio_end <= video_end + audio_packet
