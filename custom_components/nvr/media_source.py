"""Recordings in HA's media browser.

The tree::

    NVR > Channel > Events            newest first, "Motion"/"Manual" + local time + duration
                  > Recordings > Day > Hour (plays the whole hour) > the files in it
        > Removed channels > Channel > (the same)    deleted channels whose footage is kept

Days and hours are in HA's time zone; a day with a daylight-saving change has
23 or 25 hours, and an hour that occurs twice is titled with its UTC offset.
Media ids carry only the entry id, the channel (subentry) id and numbers
(hours are UTC epochs), never a path or a credential; every id is validated.
Long lists are paged ("Older …" folders) so each level stays one or a few
indexed queries however much footage there is.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from homeassistant.components.media_player import BrowseError, MediaClass, MediaType
from homeassistant.components.media_source import BrowseMediaSource, MediaSource, MediaSourceItem, PlayMedia
from homeassistant.components.media_source.error import Unresolvable
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant

from .const import DOMAIN
from .engine import Event, Segment
from .runtime import channel_subentries
from .views import (
    HOUR,
    FootageChannel,
    event_url,
    footage_channel,
    hour_url,
    loaded_entry,
    playback_state,
    segment_url,
    thumbnail_url,
)

EVENTS_PAGE = 50
DAYS_PAGE = 31
SEGMENTS_LIMIT = 240
HOUR_ALIGN = 900
"""Local hours start on a quarter of a UTC hour (+05:30, +05:45 zones), so hour ids must too."""
HLS_MIME = "application/x-mpegURL"
"""What HA's frontend hands to its HLS player (it compares this exact string); cast accepts it too."""
KIND_TITLES = {
    "motion": "Motion",
    "manual": "Manual",
    "person": "Person",
    "vehicle": "Vehicle",
    "bicycle": "Bicycle",
    "animal": "Animal",
}
REMOVED = "removed"
"""The folder of deleted channels (not a valid channel id: those are ULIDs)."""

_NUM = r"-?\d{1,15}"
_PATTERNS = {
    "channel": re.compile(r"^$"),
    "events": re.compile(rf"^events(?:/(?P<before>{_NUM}))?$"),
    "event": re.compile(r"^event/(?P<event>[A-Za-z0-9_-]{1,64})$"),
    "days": re.compile(rf"^days(?:/(?P<before>{_NUM}))?$"),
    "day": re.compile(r"^day/(?P<day>\d{4}-\d{2}-\d{2})$"),
    "hour": re.compile(r"^hour/(?P<hour>\d{1,12})$"),
    "segment": re.compile(r"^segment/(?P<segment>\d{1,18})$"),
}


async def async_get_media_source(hass: HomeAssistant) -> MediaSource:
    """The NVR media source."""
    return NvrMediaSource(hass)


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def day_bounds(day: date, tz: tzinfo) -> tuple[float, float]:
    """UTC epochs of a local day's start and the next day's start."""
    start = datetime.combine(day, datetime.min.time(), tz).timestamp()
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).timestamp()
    return start, end


def day_hours(day: date, tz: tzinfo) -> list[tuple[int, str]]:
    """(UTC epoch, title) of every hour of a local day: 23, 24 or 25 of them.

    An hour that occurs twice (the clocks go back) gets its UTC offset in the title.
    """
    start, end = day_bounds(day, tz)
    starts = [int(start) + n * HOUR for n in range(round((end - start) / HOUR))]
    labels = []
    for epoch in starts:
        begin = datetime.fromtimestamp(epoch, tz)
        finish = datetime.fromtimestamp(epoch + HOUR, tz)
        labels.append((begin, f"{begin:%H:%M}–{finish:%H:%M}"))
    counts: dict[str, int] = {}
    for _begin, label in labels:
        counts[label[:5]] = counts.get(label[:5], 0) + 1
    return [
        (epoch, f"{label} ({_offset(begin)})" if counts[label[:5]] > 1 else label)
        for epoch, (begin, label) in zip(starts, labels, strict=True)
    ]


class NvrMediaSource(MediaSource):
    """Browse and play the recordings of every loaded NVR."""

    name = "NVR"

    def __init__(self, hass: HomeAssistant) -> None:
        """One source for all NVR entries."""
        super().__init__(DOMAIN)
        self.hass = hass

    @property
    def _tz(self) -> tzinfo:
        return ZoneInfo(self.hass.config.time_zone)

    # -- identifiers ------------------------------------------------------------

    def _parse(self, identifier: str, error: type[Exception]):
        """(entry, channel or None, kind, match) of an identifier; raises ``error``."""
        if not identifier:
            return None, None, "root", None
        parts = identifier.split("/", 2)
        entry = loaded_entry(self.hass, parts[0])
        if entry is None or playback_state(self.hass, entry) is None:
            raise error("Unknown or unavailable NVR")
        if len(parts) == 1:
            return entry, None, "entry", None
        if parts[1] == REMOVED and len(parts) == 2:
            return entry, None, "removed", None
        channel = footage_channel(entry, parts[1])
        if channel is None:
            raise error("Unknown channel")
        rest = parts[2] if len(parts) == 3 else ""
        for kind, pattern in _PATTERNS.items():
            if match := pattern.match(rest):
                return entry, channel, kind, match
        raise error("Unknown media")

    # -- resolve ------------------------------------------------------------------

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """An event, an hour or a file: a URL of the NVR's own views (HA signs it)."""
        entry, footage, kind, match = self._parse(item.identifier, Unresolvable)
        if footage is None or match is None:
            raise Unresolvable("Not playable")
        channel = footage.id
        index = entry.runtime_data.archive.index
        if kind == "event":
            event = await self.hass.async_add_executor_job(index.event, match["event"])
            if event is None or event.channel != channel:
                raise Unresolvable("Unknown event")
            return PlayMedia(event_url(entry.entry_id, channel, event.id), "video/mp4")
        if kind == "hour":
            start = int(match["hour"])
            if start % HOUR_ALIGN:
                raise Unresolvable("Not an hour")
            return PlayMedia(hour_url(entry.entry_id, channel, start), HLS_MIME)
        if kind == "segment":
            segment = await self.hass.async_add_executor_job(index.segment, int(match["segment"]))
            if segment is None or segment.channel != channel:
                raise Unresolvable("Unknown recording")
            return PlayMedia(segment_url(entry.entry_id, channel, segment.id), "video/mp4")
        raise Unresolvable("Not playable")

    # -- browse -------------------------------------------------------------------

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """One level of the tree."""
        entry, footage, kind, match = self._parse(item.identifier, BrowseError)
        if kind == "root":
            return self._root()
        if kind == "removed":
            return self._removed(entry)
        if footage is None:
            return self._entry(entry)
        channel, name = footage.id, footage.name
        if kind == "channel":
            return await self._channel(entry, channel, name)
        if kind == "events":
            before = int(match["before"]) / 1000 if match["before"] else None
            return await self._events(entry, channel, name, before)
        if kind == "days":
            before = int(match["before"]) if match["before"] else None
            return await self._days(entry, channel, name, before)
        if kind == "day":
            try:
                day = date.fromisoformat(match["day"])
            except ValueError as err:
                raise BrowseError("Unknown day") from err
            return await self._day(entry, channel, name, day)
        if kind == "hour":
            return await self._hour(entry, channel, name, int(match["hour"]))
        raise BrowseError("Not a folder")

    def _folder(self, identifier: str, title: str, children_class=MediaClass.DIRECTORY, **kwargs) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.VIDEO,
            title=title,
            can_play=False,
            can_expand=True,
            children_media_class=children_class,
            **kwargs,
        )

    def _root(self) -> BrowseMediaSource:
        root = self._folder("", self.name or "NVR")
        root.identifier = None
        entries = [
            e
            for e in self.hass.config_entries.async_entries(DOMAIN)
            if loaded_entry(self.hass, e.entry_id) is not None and playback_state(self.hass, e) is not None
        ]
        root.children = [
            self._folder(e.entry_id, e.data.get(CONF_NAME) or e.title)
            for e in sorted(entries, key=lambda e: e.title.lower())
        ]
        return root

    def _entry(self, entry: ConfigEntry) -> BrowseMediaSource:
        node = self._folder(entry.entry_id, entry.data.get(CONF_NAME) or entry.title)
        channels = sorted(channel_subentries(entry), key=lambda s: (s.data.get(CONF_NAME) or s.title).lower())
        node.children = [
            self._folder(f"{entry.entry_id}/{s.subentry_id}", s.data.get(CONF_NAME) or s.title) for s in channels
        ]
        if entry.runtime_data.removed:
            node.children.append(self._folder(f"{entry.entry_id}/{REMOVED}", "Removed channels"))
        return node

    def _removed(self, entry: ConfigEntry) -> BrowseMediaSource:
        """Deleted channels whose footage is still kept (until retention deletes it)."""
        node = self._folder(f"{entry.entry_id}/{REMOVED}", "Removed channels")
        removed = [footage_channel(entry, c) for c in entry.runtime_data.removed]
        node.children = [self._folder(f"{entry.entry_id}/{c.id}", self._removed_title(c)) for c in removed if c]
        return node

    def _removed_title(self, channel: FootageChannel) -> str:
        assert channel.removed is not None
        return f"{channel.name} (removed {datetime.fromtimestamp(channel.removed, self._tz):%Y-%m-%d})"

    async def _channel(self, entry: ConfigEntry, channel: str, name: str) -> BrowseMediaSource:
        index = entry.runtime_data.archive.index
        count = await self.hass.async_add_executor_job(index.event_count, channel)
        base = f"{entry.entry_id}/{channel}"
        node = self._folder(base, name)
        node.children = [
            self._folder(f"{base}/events", f"Events ({count})", MediaClass.VIDEO),
            self._folder(f"{base}/days", "Recordings"),
        ]
        return node

    def _event_child(self, entry: ConfigEntry, channel: str, event: Event) -> BrowseMediaSource:
        moment = datetime.fromtimestamp(event.start, self._tz)
        length = _duration(event.end - event.start) if event.end is not None else "ongoing"
        kind = KIND_TITLES.get(event.kind, event.kind.capitalize())
        thumbnail = thumbnail_url(entry.entry_id, channel, event.id) if event.thumbnail else None
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=f"{entry.entry_id}/{channel}/event/{event.id}",
            media_class=MediaClass.VIDEO,
            media_content_type=MediaType.VIDEO,
            title=f"{kind} · {moment:%a %Y-%m-%d %H:%M:%S} · {length}",
            can_play=True,
            can_expand=False,
            thumbnail=thumbnail,
        )

    async def _events(self, entry: ConfigEntry, channel: str, name: str, before: float | None) -> BrowseMediaSource:
        index = entry.runtime_data.archive.index
        events = await self.hass.async_add_executor_job(
            lambda: index.events(channel, end=before, limit=EVENTS_PAGE + 1, newest_first=True)
        )
        base = f"{entry.entry_id}/{channel}"
        suffix = f"/{round(before * 1000)}" if before is not None else ""
        node = self._folder(f"{base}/events{suffix}", f"{name} · Events", MediaClass.VIDEO)
        node.children = [self._event_child(entry, channel, e) for e in events[:EVENTS_PAGE]]
        if len(events) > EVENTS_PAGE:
            oldest = events[EVENTS_PAGE - 1].start
            node.children.append(self._folder(f"{base}/events/{round(oldest * 1000)}", "Older events…"))
        return node

    async def _days(self, entry: ConfigEntry, channel: str, name: str, before: int | None) -> BrowseMediaSource:
        index = entry.runtime_data.archive.index
        tz = self._tz

        def day_of(moment: float) -> tuple[date, float]:
            day = datetime.fromtimestamp(moment, tz).date()
            return day, day_bounds(day, tz)[0]

        days = await self.hass.async_add_executor_job(
            lambda: index.footage_days(channel, day_of, before, limit=DAYS_PAGE + 1)
        )
        base = f"{entry.entry_id}/{channel}"
        suffix = f"/{before}" if before is not None else ""
        node = self._folder(f"{base}/days{suffix}", f"{name} · Recordings")
        node.children = [self._folder(f"{base}/day/{d.isoformat()}", f"{d:%a %Y-%m-%d}") for d in days[:DAYS_PAGE]]
        if len(days) > DAYS_PAGE:
            oldest = int(day_bounds(days[DAYS_PAGE - 1], tz)[0])
            node.children.append(self._folder(f"{base}/days/{oldest}", "Older days…"))
        return node

    async def _day(self, entry: ConfigEntry, channel: str, name: str, day: date) -> BrowseMediaSource:
        index = entry.runtime_data.archive.index
        tz = self._tz
        start, end = day_bounds(day, tz)
        buckets = await self.hass.async_add_executor_job(index.footage_buckets, channel, start, end, float(HOUR))
        present = {int(b) for b in buckets}
        base = f"{entry.entry_id}/{channel}"
        node = self._folder(f"{base}/day/{day.isoformat()}", f"{name} · {day:%a %Y-%m-%d}", MediaClass.VIDEO)
        node.children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{base}/hour/{epoch}",
                media_class=MediaClass.VIDEO,
                media_content_type=MediaType.VIDEO,
                title=title,
                can_play=True,
                can_expand=True,
            )
            for epoch, title in day_hours(day, tz)
            if epoch in present
        ]
        return node

    async def _hour(self, entry: ConfigEntry, channel: str, name: str, start: int) -> BrowseMediaSource:
        if start % HOUR_ALIGN:
            raise BrowseError("Not an hour")
        index = entry.runtime_data.archive.index
        segments: list[Segment] = await self.hass.async_add_executor_job(
            index.segments_starting, channel, float(start), float(start + HOUR)
        )
        tz = self._tz
        moment = datetime.fromtimestamp(start, tz)
        base = f"{entry.entry_id}/{channel}"
        node = BrowseMediaSource(
            domain=DOMAIN,
            identifier=f"{base}/hour/{start}",
            media_class=MediaClass.VIDEO,
            media_content_type=MediaType.VIDEO,
            title=f"{name} · {moment:%a %Y-%m-%d %H:%M} ({_offset(moment)})",
            can_play=True,
            can_expand=True,
            children_media_class=MediaClass.VIDEO,
        )
        node.children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{base}/segment/{s.id}",
                media_class=MediaClass.VIDEO,
                media_content_type=MediaType.VIDEO,
                title=f"{datetime.fromtimestamp(s.start, tz):%H:%M:%S} · {_duration(s.duration)}",
                can_play=True,
                can_expand=False,
            )
            for s in segments[:SEGMENTS_LIMIT]
        ]
        node.not_shown = max(0, len(segments) - SEGMENTS_LIMIT)
        return node


__all__ = ["NvrMediaSource", "async_get_media_source"]
