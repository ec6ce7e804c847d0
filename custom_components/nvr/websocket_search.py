"""Smart search (any logged-in user): ``nvr/search`` and the recorded picture of a match.

* ``nvr/search``: a channel, a span (at most 7 days), a region (1-16
  polygons of 3-64 points in picture coordinates, 0..1 from the top left),
  an optional minimum size (percent of the picture that must move inside the
  region) and object labels → the matches (merged, padded), each with a
  signed thumbnail URL, and the footage no analysis covered (``not_indexed``).
* ``/api/nvr/<entry>/<channel>/frame/<epoch ms>.jpg``: the recorded picture
  at a moment (HA auth or a signed path; the file is looked up in the index).

Bad input gets a translated error; a channel never analysed answers with no
matches and its footage as not indexed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from typing import Any

import voluptuous as vol
from aiohttp import hdrs, web
from homeassistant.components import websocket_api
from homeassistant.components.http.auth import async_sign_path
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN
from .engine import ACTIVITY_CELLS, OBJECT_LABELS, recorded_jpeg, search_activity
from .views import URL_BASE, NvrView, footage_channel, loaded_entry, not_found, safe_file

_LOGGER = logging.getLogger(__name__)

MAX_SPAN = 7 * 86400
MAX_POLYGONS = 16
MAX_POINTS = 64
FRAME_EXPIRY = timedelta(hours=24)
FRAME_DECODES = 2
"""Match pictures decoded at once: each may decode a GOP of the main stream, and HA's executor is shared
(a page lists many matches, and the browser asks for their pictures together)."""
_DATA_FRAME_SLOTS = f"{DOMAIN}_frame_slots"
OPEN_FILE_REACH = 7200
"""How far back (s) the file being written may have started (the index's longest file)."""

ENGLISH = {
    "nvr_not_found": "There is no loaded NVR with this id.",
    "channel_not_found": "There is no channel {channel} in this NVR.",
    "invalid_span": "The span must end after it starts and last at most {max_days} days.",
    "invalid_region": "A region is 1 to {polygons} polygons of 3 to {points} points, each x and y between 0 and 1.",
    "invalid_labels": "Labels must be among: {labels}.",
    "invalid_min_size": "The minimum size is a percentage of the picture, from 0 to 100.",
    "search_failed": "The search could not read the recordings' index: {error}",
}
"""The errors' English text (strings.json has them, for translation by key)."""


@callback
def async_register_search_websocket(hass: HomeAssistant) -> None:
    """Register the command (once per run; ``views.async_register_views`` registers the view)."""
    websocket_api.async_register_command(hass, ws_search)


def frame_url(entry_id: str, channel: str, at: float) -> str:
    """The recorded picture of a channel at ``at`` (epoch s)."""
    return f"{URL_BASE}/{entry_id}/{channel}/frame/{round(at * 1000)}.jpg"


def _error(connection: websocket_api.ActiveConnection, msg_id: int, key: str, **placeholders: str) -> None:
    code = websocket_api.ERR_NOT_FOUND if key.endswith("_not_found") else websocket_api.ERR_INVALID_FORMAT
    if key == "search_failed":
        code = websocket_api.ERR_UNKNOWN_ERROR
    connection.send_error(
        msg_id,
        code,
        ENGLISH[key].format(**placeholders),
        translation_key=key,
        translation_domain=DOMAIN,
        translation_placeholders=placeholders or None,
    )


def parse_region(value: Any) -> list[list[tuple[float, float]]] | None:
    """The polygons of a region, or None when it is malformed."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_POLYGONS:
        return None
    polygons = []
    for polygon in value:
        if not isinstance(polygon, list) or not 3 <= len(polygon) <= MAX_POINTS:
            return None
        points = []
        for point in polygon:
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                return None
            try:
                x, y = float(point[0]), float(point[1])
            except (TypeError, ValueError):
                return None
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):  # also refuses NaN
                return None
            points.append((x, y))
        polygons.append(points)
    return polygons


def _number(value: Any) -> float | None:
    """A finite number (not a bool, not a string), or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _checked(msg: dict[str, Any]) -> tuple[str, dict[str, str]] | dict[str, Any]:
    """The search's arguments, or (translation key, placeholders) of what is wrong."""
    start, end = _number(msg["start"]), _number(msg["end"])
    if start is None or end is None or not end > start or end - start > MAX_SPAN:
        return "invalid_span", {"max_days": str(MAX_SPAN // 86400)}
    region = parse_region(msg["region"])
    if region is None:
        return "invalid_region", {"polygons": str(MAX_POLYGONS), "points": str(MAX_POINTS)}
    labels = msg.get("labels", [])
    if not isinstance(labels, list) or any(label not in OBJECT_LABELS for label in labels):
        return "invalid_labels", {"labels": ", ".join(OBJECT_LABELS)}
    min_size = _number(msg.get("min_size", 0.0))
    if min_size is None or not 0.0 <= min_size <= 100.0:
        return "invalid_min_size", {}
    return {
        "start": start,
        "end": end,
        "region": region,
        "labels": labels,
        "min_cells": max(1, math.ceil(min_size / 100.0 * ACTIVITY_CELLS)),
    }


@websocket_api.websocket_command(
    {
        vol.Required("type"): "nvr/search",
        # Checked in the command, so that each bad value gets its own translated error.
        vol.Required("entry_id"): object,
        vol.Required("channel"): object,
        vol.Required("start"): object,
        vol.Required("end"): object,
        vol.Required("region"): object,
        vol.Optional("min_size"): object,
        vol.Optional("labels"): object,
    }
)
@websocket_api.async_response
async def ws_search(hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]) -> None:
    """The moments something moved in the region."""
    entry = loaded_entry(hass, msg["entry_id"]) if isinstance(msg["entry_id"], str) else None
    if entry is None or entry.runtime_data.stopped:
        _error(connection, msg["id"], "nvr_not_found")
        return
    channel = msg["channel"]
    footage = footage_channel(entry, channel) if isinstance(channel, str) else None
    if footage is None:
        shown = channel if isinstance(channel, str) and len(channel) <= 64 else str(channel)[:64] + "…"
        _error(connection, msg["id"], "channel_not_found", channel=shown)
        return
    args = _checked(msg)
    if isinstance(args, tuple):
        _error(connection, msg["id"], args[0], **args[1])
        return
    archive = entry.runtime_data.archive

    def _search():
        if archive is None:
            return None
        spans = archive.index.segment_times(footage.id, args["start"], args["end"])
        return search_activity(
            archive.root,
            footage.id,
            args["start"],
            args["end"],
            args["region"],
            min_cells=args["min_cells"],
            labels=args["labels"],
            footage=[(max(a, args["start"]), min(b, args["end"])) for a, b in spans],
        )

    try:
        result = await hass.async_add_executor_job(_search)
    except Exception as err:  # sqlite3.Error, OSError: a vanished disk; said, not a traceback
        _LOGGER.warning("Smart search on %s failed: %s", footage.name, err)
        _error(connection, msg["id"], "search_failed", error=str(err)[:200])
        return
    matches = []
    for match in result.matches if result is not None else ():
        thumbnail = async_sign_path(hass, frame_url(entry.entry_id, footage.id, match.peak + 0.5), FRAME_EXPIRY)
        matches.append(
            {
                "start": match.start,
                "end": match.end,
                "peak": match.peak,
                "cells": match.cells,
                "labels": list(match.labels),
                "thumbnail": thumbnail,
            }
        )
    connection.send_result(
        msg["id"],
        {
            "channel": footage.id,
            "start": args["start"],
            "end": args["end"],
            "matches": matches,
            "not_indexed": [list(s) for s in result.not_indexed] if result is not None else [],
            "moving_seconds": result.moving_seconds if result is not None else 0,
            "truncated": result.truncated if result is not None else False,
        },
    )


class FrameView(NvrView):
    """The recorded picture of a channel at a moment (a search match's thumbnail)."""

    url = URL_BASE + r"/{entry_id}/{channel}/frame/{at_ms:\d{1,15}}.jpg"
    name = f"api:{DOMAIN}:frame"

    async def get(self, request: web.Request, entry_id: str, channel: str, at_ms: str) -> web.StreamResponse:
        """Decode the picture from the file recorded at that moment."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, footage, state = context
        index = entry.runtime_data.archive.index
        at = int(at_ms) / 1000.0

        def _picture() -> bytes | None:
            segments = index.segments(footage.id, at, at + 0.001, limit=1)
            if not segments:
                # The file being written: its end in the index trails by up to 10 s, its fragments by 1 s.
                started = index.segments_starting(footage.id, at - OPEN_FILE_REACH, at + 0.001)
                segments = [s for s in started[-1:] if not s.complete]
            if not segments:
                return None
            path = safe_file(state.root, segments[0].path)
            return recorded_jpeg(path, at - segments[0].start) if path is not None else None

        slots = hass.data.get(_DATA_FRAME_SLOTS)
        if slots is None:
            slots = hass.data[_DATA_FRAME_SLOTS] = asyncio.Semaphore(FRAME_DECODES)
        async with slots:
            jpeg = await hass.async_add_executor_job(_picture)
        if jpeg is None:
            return not_found()
        return web.Response(
            body=jpeg, headers={hdrs.CONTENT_TYPE: "image/jpeg", hdrs.CACHE_CONTROL: "private, max-age=86400"}
        )
