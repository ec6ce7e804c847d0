"""A real full disk: a tiny tmpfs as the storage folder (needs root)."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from engine import Archive, RecorderSettings, RecordingFault, RetentionPolicy
from engine.recording.segment import scan_segment
from support import wait_for

from ..recsupport import ffprobe, recording


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1.2 MB tmpfs mounted on a fresh folder; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1200k,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        result = subprocess.run(["umount", str(mount_point)], capture_output=True, check=False)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _remount(mount_point: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount_point)], check=True)


def test_disk_full_pauses_and_resumes(rtsp_server, tiny_disk: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    arc = Archive(tiny_disk, RetentionPolicy(min_free_gb=0, max_storage_gb=0))
    arc.recover()
    statuses = []
    settings = RecorderSettings(segment_seconds=2)
    try:
        with recording(
            rtsp_server.url("/live"),
            tiny_disk,
            settings,
            archive=arc,
            on_status=statuses.append,
            make_room=arc.pruner.make_room,
        ) as (_arc, rec, _chan):
            wait_for(lambda: rec.status.fault is not None, 30)
            status = rec.status
            assert status.fault == RecordingFault.DISK_FULL, status
            assert not status.recording
            assert rec._thread is not None and rec._thread.is_alive()
            # The files indexed as finished (a retry may be creating a file meanwhile).
            full = [tiny_disk / s.path for s in arc.index.segments() if s.complete]
            assert full
            # Every file written so far plays (the cut-off one up to its last whole fragment).
            for path in full:
                assert scan_segment(path) is not None, path
                ffprobe(path)
                with av.open(str(path)) as container:
                    assert sum(1 for _ in container.decode(video=0)) > 0
            time.sleep(1.0)
            assert rec.status.fault == RecordingFault.DISK_FULL  # stays paused while the disk is full
            _remount(tiny_disk, "16m")
            freed = time.monotonic()
            wait_for(lambda: rec.status.fault is None and rec.status.recording, 10)
            assert time.monotonic() - freed < 5 + 1.5  # the next retry, then the next keyframe
            new_file = rec.status.segment
            wait_for(lambda: rec.status.segment != new_file, 5)  # a whole new file written
        (resumed_entry,) = [s for s in arc.index.segments() if s.path == new_file]
        assert resumed_entry.complete and resumed_entry.duration > 1.0
    finally:
        arc.close()
    resumed = tiny_disk / new_file
    assert scan_segment(resumed) is not None
    assert ffprobe(resumed)["streams"][0]["codec_name"] == "h264"
    assert any(s.fault == RecordingFault.DISK_FULL for s in statuses)
    errors = [r for r in caplog.records if r.exc_info or r.levelno >= logging.CRITICAL]
    assert not errors, [r.getMessage() for r in errors]
    messages = [r.getMessage() for r in caplog.records]
    assert any("paused: disk_full" in m for m in messages), messages
    assert any("resumed" in m for m in messages), messages
    with contextlib.suppress(FileNotFoundError):
        assert not list(tiny_disk.glob("**/*.part"))
