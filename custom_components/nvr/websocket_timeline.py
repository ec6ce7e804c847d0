"""WebSocket commands of the NVR page's timeline (any logged-in user; no admin rights needed).

* ``nvr/timeline``: for one NVR's channels (all configured ones by default)
  over a span, or over a ``day`` in Home Assistant's time zone (23 or 25 hours
  on the days clocks change), where footage exists (adjacent files merged,
  real gaps kept) and the events, each with a signed thumbnail URL.
* ``nvr/timeline/days``: the days (in HA's time zone) on which any of those
  channels has footage, newest first: the page's day picker dims the others.

Bad input gets a translated error: an unknown NVR or channel, a span that
ends before it starts or is longer than ``MAX_SPAN``, a malformed day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import voluptuous as vol
from homeassistant.components import websocket_api
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .engine import MAIN, channel_timeline
from .views import footage_channel, loaded_entry, thumbnail_url

MAX_SPAN = 31 * 86400
"""Longest span one ``nvr/timeline`` call covers."""
MAX_CHANNELS = 64
DAYS_LISTED = 62
THUMBNAIL_EXPIRY = timedelta(hours=24)


@callback
def async_register_timeline_websocket(hass: HomeAssistant) -> None:
    """Register the commands (once per run)."""
    websocket_api.async_register_command(hass, ws_timeline)
    websocket_api.async_register_command(hass, ws_timeline_days)


ENGLISH = {
    "nvr_not_found": "There is no loaded NVR with this id.",
    "channel_not_found": "There is no channel {channel} in this NVR.",
    "invalid_day": "The day must be a date such as 2026-12-02.",
    "invalid_span": "The span must end after it starts and last at most {max_days} days.",
}
"""The errors' English text (strings.json has them all, for translation by key)."""


def _error(connection: websocket_api.ActiveConnection, msg_id: int, code: str, key: str, **placeholders: str) -> None:
    connection.send_error(
        msg_id,
        code,
        ENGLISH[key].format(**placeholders),
        translation_key=key,
        translation_domain=DOMAIN,
        translation_placeholders=placeholders or None,
    )


def day_bounds(day: date) -> tuple[float, float]:
    """Epoch seconds of the start of ``day`` and of the next day, in HA's time zone (DST-aware)."""
    start = dt_util.start_of_local_day(day)
    following = dt_util.start_of_local_day(day + timedelta(days=1))
    return start.timestamp(), following.timestamp()


def _day_of(timestamp: float) -> tuple[date, float]:
    local = dt_util.as_local(dt_util.utc_from_timestamp(timestamp))
    return local.date(), dt_util.start_of_local_day(local.date()).timestamp()


def _channels(hass: HomeAssistant, connection, msg: dict[str, Any]):
    """(entry, [FootageChannel]) of the message, or None after sending the error."""
    entry = loaded_entry(hass, msg["entry_id"])
    if entry is None or entry.runtime_data.stopped:
        _error(connection, msg["id"], websocket_api.ERR_NOT_FOUND, "nvr_not_found")
        return None
    wanted = msg.get("channels")
    if wanted is None:
        runtimes = sorted(entry.runtime_data.channels.values(), key=lambda r: r.name.lower())
        wanted = [r.subentry_id for r in runtimes]
    channels = []
    for channel_id in wanted:
        footage = footage_channel(entry, channel_id)
        if footage is None:
            _error(connection, msg["id"], websocket_api.ERR_NOT_FOUND, "channel_not_found", channel=channel_id)
            return None
        channels.append(footage)
    return entry, channels


def _span(msg: dict[str, Any]) -> tuple[float, float] | str:
    """The span asked for, or the translation key of what is wrong with it."""
    if "day" in msg:
        if "start" in msg:
            return "invalid_span"  # a day, or a span: not both
        try:
            return day_bounds(date.fromisoformat(msg["day"]))
        except ValueError:
            return "invalid_day"
    if "start" not in msg or "end" not in msg:
        return "invalid_span"
    start, end = float(msg["start"]), float(msg["end"])
    if not end > start or end - start > MAX_SPAN:
        return "invalid_span"
    return start, end


CHANNEL_IDS = vol.All([str], vol.Length(min=1, max=MAX_CHANNELS))


@websocket_api.websocket_command(
    {
        vol.Required("type"): "nvr/timeline",
        vol.Required("entry_id"): str,
        vol.Optional("channels"): CHANNEL_IDS,
        vol.Optional("day"): str,
        vol.Inclusive("start", "span"): vol.Coerce(float),
        vol.Inclusive("end", "span"): vol.Coerce(float),
    }
)
@websocket_api.async_response
async def ws_timeline(hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]) -> None:
    """Footage spans and events of the channels over the span."""
    found = _channels(hass, connection, msg)
    if found is None:
        return
    entry, channels = found
    span = _span(msg)
    if isinstance(span, str):
        _error(connection, msg["id"], websocket_api.ERR_INVALID_FORMAT, span, max_days=str(MAX_SPAN // 86400))
        return
    start, end = span
    index = entry.runtime_data.archive.index if entry.runtime_data.archive is not None else None

    def _read():
        return [channel_timeline(index, c.id, start, end) if index is not None else None for c in channels]

    timelines = await hass.async_add_executor_job(_read)
    entry_id = entry.entry_id
    result = []
    for footage, timeline in zip(channels, timelines, strict=True):
        runtime = entry.runtime_data.channels.get(footage.id)
        info = runtime.channel.status(MAIN).info if runtime is not None else None
        events = []
        for event in timeline.events if timeline is not None else ():
            thumbnail = None
            if event.thumbnail:
                thumbnail = async_sign_path(hass, thumbnail_url(entry_id, footage.id, event.id), THUMBNAIL_EXPIRY)
            events.append(
                {"id": event.id, "kind": event.kind, "start": event.start, "end": event.end, "thumbnail": thumbnail}
            )
        result.append(
            {
                "id": footage.id,
                "name": footage.name,
                "removed": footage.removed is not None,
                "codec": info.codec if info is not None else None,
                "spans": [list(s) for s in timeline.spans] if timeline is not None else [],
                "events": events,
            }
        )
    connection.send_result(
        msg["id"],
        {
            "entry_id": entry_id,
            "start": start,
            "end": end,
            "now": dt_util.utcnow().timestamp(),
            "time_zone": hass.config.time_zone,
            "channels": result,
        },
    )


@websocket_api.websocket_command(
    {
        vol.Required("type"): "nvr/timeline/days",
        vol.Required("entry_id"): str,
        vol.Optional("channels"): CHANNEL_IDS,
    }
)
@websocket_api.async_response
async def ws_timeline_days(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Days with footage on any of the channels, newest first."""
    found = _channels(hass, connection, msg)
    if found is None:
        return
    entry, channels = found
    archive = entry.runtime_data.archive

    def _read() -> list[str]:
        if archive is None:
            return []
        days: set[date] = set()
        for channel in channels:
            days.update(archive.index.footage_days(channel.id, _day_of, limit=DAYS_LISTED))
        return [d.isoformat() for d in sorted(days, reverse=True)[:DAYS_LISTED]]

    connection.send_result(msg["id"], {"days": await hass.async_add_executor_job(_read)})
