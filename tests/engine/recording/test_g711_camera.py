"""A camera with G.711 audio: every connection has its real size and frame rate, and records.

FFmpeg's short probe of such a stream often stops before it learnt the
picture size; the reader then read 0x0, the muxer refused the stream with
"Invalid argument", and recording paused for good as a "write error".
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import av
import pytest
from engine import Archive, RecorderSettings, RecordingFault, StreamSource
from engine.recording import files
from engine.stream import avopen
from engine.stream.mediaformat import MediaFormat
from engine.stream.reader import StreamReader
from rtsp_peer import av_launch, launch_mount
from support import wait_for

from ..recsupport import CountingRecorder

CONNECTIONS = 20
MOUNTS = {"/pcma": "alaw", "/pcmu": "mulaw"}


def _size_and_audio(path: Path) -> tuple[tuple[int, int], str]:
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,width,height",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    streams = json.loads(proc.stdout)["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    audio = next(s["codec_name"] for s in streams if s["codec_type"] == "audio")
    return (video["width"], video["height"]), audio


def _connect_and_record(url: str, root: Path, problems: list[str]) -> None:
    try:
        _connect_and_record_n(url, root, problems)
    except Exception as err:  # a worker thread: the test must see it
        problems.append(f"{url}: {err!r}")


def _connect_and_record_n(url: str, root: Path, problems: list[str]) -> None:
    archive = Archive(root)
    archive.recover()
    recorder = CountingRecorder("chan1", root, archive.index, RecorderSettings(segment_seconds=60))
    recorder.start()
    try:
        for n in range(CONNECTIONS):
            reader = StreamReader(StreamSource(url), f"g711-{n}", sink=recorder)
            reader.start()
            try:
                step = "connect"
                wait_for(lambda: reader.status.connected, 15)  # noqa: B023
                info = reader.status.info
                if (info.width, info.height) != (640, 360):
                    problems.append(f"{url} connection {n}: {info.width}x{info.height}")
                step = "measure fps"
                wait_for(lambda: reader.status.info.fps is not None, 10)  # noqa: B023
                if abs(reader.status.info.fps - 15) > 1.5:
                    problems.append(f"{url} connection {n}: {reader.status.info.fps} fps")
                step = "record"
                wait_for(lambda: recorder.status.recording or recorder.status.fault, 15)
                if recorder.status.fault is not None:
                    problems.append(f"{url} connection {n}: {recorder.status.fault} {recorder.status.fault_detail}")
            except AssertionError as err:
                raise AssertionError(f"connection {n}, {step}: {err}; reader {reader.status}") from None
            finally:
                assert reader.stop(5.0)
            wait_for(lambda: not recorder.status.recording, 10)
        segments = [s for s in archive.index.segments("chan1") if s.complete]
        if len(segments) != CONNECTIONS:
            problems.append(f"{url}: {len(segments)} files for {CONNECTIONS} connections")
        for segment in segments:
            size, audio = _size_and_audio(root / segment.path)
            if size != (640, 360) or audio != "aac":
                problems.append(f"{url}: {segment.path} is {size} with {audio}")
    finally:
        recorder.stop(10.0)
        archive.close()


def test_g711_cameras_connect_with_their_size_and_record_every_time(
    rtsp_server_factory, tmp_path: Path, monkeypatch
) -> None:
    """Each connection has the right size and frame rate, and records, however short FFmpeg's probe.

    In the field, under load, the probe often ended before it learnt the
    picture size. Here it is cut short on purpose, so that every connection
    meets that case.
    """
    monkeypatch.setattr(avopen, "_PROBE_OPTIONS", {"analyzeduration": "0", "probesize": "32"})
    server = rtsp_server_factory([launch_mount(m, av_launch(640, 360, law)) for m, law in MOUNTS.items()])
    problems: list[str] = []
    workers = [
        threading.Thread(target=_connect_and_record, args=(server.url(m), tmp_path / m[1:], problems)) for m in MOUNTS
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(600)
    assert problems == []


def test_a_refused_stream_is_no_disk_fault_and_is_retried(recording_server, tmp_path: Path, monkeypatch) -> None:
    """The muxer really refuses a 0x0 track: the recorder says so, retries with backoff, and recovers."""
    monkeypatch.setattr(files, "RETRY_INTERVAL", 0.2)
    refusals = {"left": 3}
    real_add_video = MediaFormat.add_video

    def add_video(self: MediaFormat, output):
        stream = real_add_video(self, output)
        if refusals["left"] > 0:
            refusals["left"] -= 1
            stream.codec_context.width = stream.codec_context.height = 0
        return stream

    monkeypatch.setattr(MediaFormat, "add_video", add_video)
    archive = Archive(tmp_path)
    archive.recover()
    statuses = []
    recorder = CountingRecorder("chan1", tmp_path, archive.index, RecorderSettings(), on_status=statuses.append)
    recorder.start()
    reader = StreamReader(StreamSource(recording_server.url("/pcma")), "refused", sink=recorder)
    reader.start()
    try:
        wait_for(lambda: recorder.status.fault is not None, 15)
        assert recorder.status.fault == RecordingFault.STREAM_REJECTED
        assert not recorder.status.fault.disk
        wait_for(lambda: recorder.status.recording and recorder.status.fault is None, 30)
        assert refusals["left"] == 0
        assert all(s.fault in (None, RecordingFault.STREAM_REJECTED) for s in statuses)
    finally:
        reader.stop(5.0)
        recorder.stop(10.0)
    (segment,) = [s for s in archive.index.segments("chan1") if s.complete]
    archive.close()
    with av.open(str(tmp_path / segment.path)) as container:
        assert container.streams.video[0].codec_context.width == 640


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (av.error.InvalidDataError(1094995529, "Invalid data found"), RecordingFault.STREAM_REJECTED),
        (OSError(28, "No space left on device"), RecordingFault.DISK_FULL),
        (OSError(13, "Permission denied"), RecordingFault.UNWRITABLE),
        (OSError(5, "Input/output error"), RecordingFault.WRITE_ERROR),
        (OSError(22, "Invalid argument"), RecordingFault.WRITE_ERROR),
    ],
)
def test_fault_classes(error: BaseException, fault: RecordingFault) -> None:
    from engine.recording.status import classify_fault

    assert classify_fault(error) == fault
