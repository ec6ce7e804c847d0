"""Retention: age rules, the storage cap and free space, oldest footage first."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from engine import Event, RecordingIndex, RetentionPolicy
from engine.recording.layout import segment_relpath
from engine.recording.retention import DAY, GB, DiskSpace, Pruner

NOW = 1_800_000_000.0
"""A fixed "now" (2027-01-15T08:00Z), handed to the pruner as its clock."""
SIZE = GB // 4
"""What the index says each fake segment weighs (the files themselves are tiny)."""


@dataclass
class FakeDisk:
    """Free space that follows the fake segments still on disk."""

    root: Path
    total: int = 4 * GB
    sizes: dict[str, int] = field(default_factory=dict)

    def __call__(self, _path: Path) -> DiskSpace:
        used = sum(size for rel, size in self.sizes.items() if (self.root / rel).exists())
        return DiskSpace(self.total, self.total - used)


@pytest.fixture
def setup(tmp_path: Path):
    index = RecordingIndex(tmp_path / "index.db")
    disk = FakeDisk(tmp_path)

    def add(start: float, length: float = 60.0, complete: bool = True, channel: str = "cam") -> str:
        rel = segment_relpath(channel, start)
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 16)
        index.add_segment(channel, start, rel, start + length, SIZE, complete=complete)
        disk.sizes[rel] = SIZE
        return rel

    def event(start: float, end: float | None, channel: str = "cam", name: str | None = None) -> str:
        event_id = name or f"e{start:.0f}"
        index.add_event(Event(event_id, channel, "motion", start, end))
        return event_id

    def pruner(**policy) -> Pruner:
        return Pruner(tmp_path, index, RetentionPolicy(**policy), space=disk, clock=lambda: NOW)

    yield index, disk, add, event, pruner
    index.close()


def _left(index: RecordingIndex) -> list[str]:
    return [s.path for s in index.segments()]


def test_age_rules_keep_event_footage_longer(setup, tmp_path: Path) -> None:
    index, _disk, add, event, pruner = setup
    recent = add(NOW - 0.5 * DAY)
    old_plain = add(NOW - 2 * DAY)
    old_event = add(NOW - 2 * DAY + 600)
    event(NOW - 2 * DAY + 610, NOW - 2 * DAY + 620)
    ancient_event = add(NOW - 4 * DAY)
    event(NOW - 4 * DAY + 10, NOW - 4 * DAY + 20)
    result = pruner(retain_days=1, event_retain_days=3, min_free_gb=0).prune()
    assert set(_left(index)) == {recent, old_event}
    assert result.files == 2 and result.reasons == ("age",)
    assert not (tmp_path / old_plain).exists() and not (tmp_path / ancient_event).exists()
    assert [e.id for e in index.events()] == [f"e{NOW - 2 * DAY + 610:.0f}"]  # the expired event went too


def test_event_retention_shorter_than_retain_days(setup) -> None:
    """Event footage never goes before plain footage of the same age."""
    index, _disk, add, event, pruner = setup
    young_event = add(NOW - 2 * DAY)
    event(NOW - 2 * DAY + 10, NOW - 2 * DAY + 20)
    young_plain = add(NOW - 2 * DAY + 600)
    add(NOW - 4 * DAY)
    pruner(retain_days=3, event_retain_days=1, min_free_gb=0).prune()
    assert set(_left(index)) == {young_event, young_plain}


def test_max_storage_deletes_oldest_plain_footage_first(setup) -> None:
    index, _disk, add, event, pruner = setup
    hour = 3600.0
    rels = [add(NOW - (10 - i) * hour) for i in range(6)]  # 1.5 GB, oldest first
    event(NOW - 10 * hour + 5, NOW - 10 * hour + 30)  # the oldest file holds a young event
    writing = add(NOW - 11 * hour, complete=False)  # (an old file still being written: never touched)
    result = pruner(max_storage_gb=1.0, min_free_gb=0).prune()
    # 1.75 GB indexed, cap 1 GB: three files go, plain ones first, oldest first.
    assert result.reasons == ("max_storage",)
    assert set(_left(index)) == {writing, rels[0], rels[4], rels[5]}
    assert index.total_bytes() <= GB
    assert len(index.events()) == 1


def test_low_free_space_deletes_event_footage_only_when_needed(setup, tmp_path: Path) -> None:
    index, disk, add, event, pruner = setup
    plain = add(NOW - 3600)
    ev1 = add(NOW - 7200)
    event(NOW - 7200 + 5, NOW - 7200 + 10, name="old")
    ev2 = add(NOW - 1800)
    event(NOW - 1800 + 5, None, name="going-on")
    writing = add(NOW - 60, complete=False)
    # 1 GB used of 4: plenty free.
    prune = pruner(min_free_gb=2.5, retain_days=30)
    assert not prune.low_on_space()
    prune.make_room()
    assert len(_left(index)) == 4
    # Down to 2.25 GB free: one file must go, the plain one, though not the oldest.
    disk.total = 3 * GB + GB // 4
    assert prune.low_on_space()
    prune.make_room()
    assert set(_left(index)) == {ev1, ev2, writing}
    assert not (tmp_path / plain).exists()
    # Much shorter: event footage goes too, oldest first; the file being written stays.
    disk.total = 2 * GB + GB // 2
    result = prune.prune()
    assert result.reasons == ("min_free",)
    assert set(_left(index)) == {writing}
    assert (tmp_path / writing).exists()
    assert [e.id for e in index.events()] == ["going-on"]  # the finished event went with its footage


def test_empty_folders_are_removed(setup, tmp_path: Path) -> None:
    index, _disk, add, _event, pruner = setup
    gone = add(NOW - 5 * DAY)
    kept = add(NOW - 3600)
    pruner(retain_days=1, event_retain_days=1, min_free_gb=0).prune()
    assert _left(index) == [kept]
    hour_dir = (tmp_path / gone).parent
    assert not hour_dir.exists() and not hour_dir.parent.exists()
    assert (tmp_path / "cam").is_dir() and (tmp_path / kept).exists()
