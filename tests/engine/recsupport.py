"""Helpers for the recording tests: a counting recorder, ffprobe, NAL units."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine import Archive, Channel, ChannelConfig, Recorder, RecorderSettings, StreamSource
from engine.recording.index import Segment
from engine.stream.gop import EncodedPacket
from engine.stream.mediaformat import MediaFormat


@dataclass
class Received:
    """What the reader handed to the recorder."""

    video: list[EncodedPacket] = field(default_factory=list)
    audio: int = 0
    media: list[MediaFormat] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: int = 0


class CountingRecorder(Recorder):
    """A Recorder that keeps what its sink methods received (reader thread)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.received = Received()
        self._received_lock = threading.Lock()

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        with self._received_lock:
            self.received.media.append(media)
            self.received.starts.append(wall_time)
        super().stream_started(media, wall_time)

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        with self._received_lock:
            if audio:
                self.received.audio += 1
            else:
                self.received.video.append(packet)
        super().packet(packet, audio)

    def stream_ended(self) -> None:
        with self._received_lock:
            self.received.ends += 1
        super().stream_ended()

    @property
    def video_count(self) -> int:
        with self._received_lock:
            return len(self.received.video)


@contextlib.contextmanager
def recording(
    url: str, root: Path, settings: RecorderSettings, archive: Archive | None = None, channel: str = "chan1", **kwargs
) -> Iterator[tuple[Archive, CountingRecorder, Channel]]:
    """Run an archive, a counting recorder and a channel on ``url``; stop them after."""
    arc = archive or Archive(root)
    if archive is None:
        arc.recover()
    rec = CountingRecorder(channel, root, arc.index, settings, **kwargs)
    rec.start()
    chan = Channel(ChannelConfig(channel, "Test", StreamSource(url)), recorder=rec)
    chan.start()
    try:
        yield arc, rec, chan
    finally:
        chan.stop(5.0)
        assert rec.stop(10.0), "recorder thread did not end"


def ffprobe(path: Path) -> dict:
    """ffprobe's streams and format of a file, packets counted; fails on errors."""
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_type,codec_name,codec_tag_string,nb_read_packets,start_time,duration,sample_rate"
            ":format=duration",
            "-of",
            "json",
            str(path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"ffprobe failed on {path}: {proc.stderr}"
    return json.loads(proc.stdout)


def packet_times(path: Path) -> dict[str, list[tuple[float, float]]]:
    """(pts, duration) in seconds of the video and the audio packets of a file, as ffprobe reads them."""
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,pts_time,duration_time",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    times: dict[str, list[tuple[float, float]]] = {"video": [], "audio": []}
    for packet in json.loads(proc.stdout)["packets"]:
        times[packet["codec_type"]].append((float(packet["pts_time"]), float(packet.get("duration_time") or 0)))
    for packets in times.values():
        packets.sort()
    return times


def decode_errors(path: Path) -> str:
    """Errors ffmpeg reports while decoding the whole file (empty when none)."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc.stderr.strip() if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()}"


def video_packets(path: Path) -> int:
    """Video packets in a file, as ffprobe counts them."""
    streams = [s for s in ffprobe(path)["streams"] if s["codec_type"] == "video"]
    assert len(streams) == 1, streams
    return int(streams[0]["nb_read_packets"])


def wait_segments(arc: Archive, count: int, timeout: float, complete: bool = True) -> None:
    """Wait until the index has ``count`` (complete) segments."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        segments = arc.index.segments()
        if len([s for s in segments if s.complete or not complete]) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} segments after {timeout}s: {arc.index.segments()}")


def files_of_one_take(arc: Archive, channel: str | None = None) -> list[Segment]:
    """The files of one uninterrupted recording: one, or more when it went past the top of an hour.

    The recorder starts a new file on the hour too (at its first keyframe), so a test's few
    seconds of footage can land in two files, back to back.
    """
    segments = arc.index.segments(channel) if channel else arc.index.segments()
    assert segments, "nothing was recorded"
    for before, after in itertools.pairwise(segments):
        assert int(after.start // 3600) != int(before.start // 3600), f"split within an hour: {segments}"
        assert abs(after.start - before.end) < 0.2, f"not back to back: {segments}"
    return segments


_START_CODE = re.compile(b"\x00\x00\x01")


def annexb_nals(data: bytes) -> list[bytes]:
    """NAL units of an Annex B packet (start codes and trailing zeros removed)."""
    starts = [m.end() for m in _START_CODE.finditer(data)]
    nals = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nals.append(data[begin:end].rstrip(b"\x00"))
    return [n for n in nals if n]


def length_prefixed_nals(data: bytes, size: int = 4) -> list[bytes]:
    """NAL units of an MP4 (AVCC/HVCC) packet."""
    nals, pos = [], 0
    while pos + size <= len(data):
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        nals.append(data[pos : pos + length])
        pos += length
    assert pos == len(data), "malformed length-prefixed packet"
    return nals
