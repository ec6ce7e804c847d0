"""HTTP views that serve recordings to HA's media browser, players and cast devices.

Every view requires authentication: a bearer token, or a path signed by HA
(``authSig``, what the media browser and cast devices get). URLs carry only
the entry id, the channel (subentry) id and numbers (a deleted channel's id
stays valid while its footage is kept); files are looked up in
the index by id, never taken from the URL, and a file whose real path is not
inside the storage folder (a tampered index, a symlink) is refused.

* ``/api/nvr/<entry>/<channel>/hour/<epoch>.m3u8`` and
  ``/api/nvr/<entry>/<channel>/range/<start>-<end>.m3u8``: an hour, or any
  span, as an HLS (fMP4) playlist over the recorded files (see
  ``playlist_views.py``).
* ``/api/nvr/<entry>/<channel>/segment/<id>.mp4``: one recorded file.
* ``/api/nvr/<entry>/<channel>/segment/<id>/<shift µs>.mp4``: the same, with
  its timestamps shifted onto the playlist's timeline (byte ranges served
  here; the file is never rewritten).
* ``/api/nvr/<entry>/<channel>/event/<event id>.mp4``: an event from its
  pre-roll to its post-roll, remuxed once into a bounded cache.
* ``/api/nvr/<entry>/<channel>/event/<event id>.jpg``: the event's thumbnail.
* ``/api/nvr/<entry>/<channel>/frame/<epoch ms>.jpg``: the recorded picture at
  a moment (a smart search match's thumbnail; see ``websocket_search.py``).
* ``/api/nvr/<entry>/<channel>/still/<main|sub>.jpg``: a live still within
  the still budget; ``X-Picture-Age`` (s) and ``X-Picture-Source`` say how
  old it is and where it came from (see ``engine/stills/keeper.py``).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path

import jwt
from aiohttp import hdrs, web
from homeassistant.components.http import HomeAssistantView
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS
from homeassistant.util import raise_if_invalid_path

from .const import CONF_POST_ROLL, CONF_PRE_ROLL, DEFAULT_POST_ROLL, DEFAULT_PRE_ROLL, DOMAIN, SUBENTRY_CHANNEL
from .engine import BoxError, ClipCache, ExportError, LayoutCache, Segment, ShiftedFile, export_clip
from .stills import async_still

_LOGGER = logging.getLogger(__name__)

URL_BASE = f"/api/{DOMAIN}"
HOUR = 3600
CLIP_CACHE_BYTES = 512 * 1024 * 1024
"""Most space the remuxed event clips may take (least recently played go first)."""
SIGN_EXPIRY = timedelta(hours=24)
"""Lifetime of the file URLs in a playlist fetched with a bearer token (as HA's own)."""
CHUNK = 1024 * 1024
PLAYLIST_MIME = "application/vnd.apple.mpegurl"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATA_VIEWS = f"{DOMAIN}_playback_views"
_DATA_STATE = f"{DOMAIN}_playback_state"


def valid_id(value: str) -> bool:
    """Entry, channel and event ids: letters, digits, - and _ only."""
    return bool(_ID.match(value))


def hour_url(entry_id: str, channel: str, start: int) -> str:
    """Playlist of the hour starting at ``start`` (UTC epoch)."""
    return f"{URL_BASE}/{entry_id}/{channel}/hour/{start}.m3u8"


def range_url(entry_id: str, channel: str, start: int, end: int) -> str:
    """Playlist of the footage from ``start`` to ``end`` (UTC epoch seconds)."""
    return f"{URL_BASE}/{entry_id}/{channel}/range/{start}-{end}.m3u8"


def segment_url(entry_id: str, channel: str, segment_id: int, shift_us: int | None = None) -> str:
    """One recorded file, optionally shifted onto a playlist's timeline."""
    if shift_us is None:
        return f"{URL_BASE}/{entry_id}/{channel}/segment/{segment_id}.mp4"
    return f"{URL_BASE}/{entry_id}/{channel}/segment/{segment_id}/{shift_us}.mp4"


def event_url(entry_id: str, channel: str, event_id: str) -> str:
    """An event's clip (pre-roll to post-roll)."""
    return f"{URL_BASE}/{entry_id}/{channel}/event/{event_id}.mp4"


def thumbnail_url(entry_id: str, channel: str, event_id: str) -> str:
    """An event's thumbnail JPEG."""
    return f"{URL_BASE}/{entry_id}/{channel}/event/{event_id}.jpg"


@dataclass
class PlaybackState:
    """Per NVR entry: parsed file layouts and the clip cache."""

    root: Path
    layouts: LayoutCache
    clips: ClipCache


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the views once per HA run."""
    if hass.data.get(_DATA_VIEWS):
        return
    hass.data[_DATA_VIEWS] = True
    from .playlist_views import PlaylistView, RangePlaylistView  # they build on this module
    from .websocket_search import FrameView

    for view in (
        PlaylistView,
        RangePlaylistView,
        SegmentView,
        ShiftedSegmentView,
        EventClipView,
        ThumbnailView,
        FrameView,
    ):
        hass.http.register_view(view())
    hass.http.register_view(StillView())


def playback_state(hass: HomeAssistant, entry: ConfigEntry) -> PlaybackState | None:
    """The entry's playback state, or None while it records nowhere."""
    data = getattr(entry, "runtime_data", None)
    archive = getattr(data, "archive", None)
    if archive is None:
        return None
    root = Path(archive.root).resolve()
    states: dict[str, PlaybackState] = hass.data.setdefault(_DATA_STATE, {})
    state = states.get(entry.entry_id)
    if state is None or state.root != root:
        state = states[entry.entry_id] = PlaybackState(root, LayoutCache(), ClipCache(root, CLIP_CACHE_BYTES))
    return state


def loaded_entry(hass: HomeAssistant, entry_id: str) -> ConfigEntry | None:
    """A loaded NVR entry by id."""
    if not valid_id(entry_id):
        return None
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        return None
    return entry


@dataclass(frozen=True, slots=True)
class FootageChannel:
    """A channel whose footage can be played: a configured one, or a deleted one whose footage is kept."""

    id: str
    name: str
    pre_roll: float
    post_roll: float
    removed: float | None = None
    """When it was deleted (None: it is configured)."""


def footage_channel(entry: ConfigEntry, channel: str) -> FootageChannel | None:
    """The channel with this id, configured or deleted with footage kept; None if unknown."""
    if not valid_id(channel):
        return None
    subentry = entry.subentries.get(channel)
    if subentry is not None and subentry.subentry_type == SUBENTRY_CHANNEL:
        data = subentry.data
        return FootageChannel(
            channel,
            data.get(CONF_NAME) or subentry.title,
            float(data.get(CONF_PRE_ROLL, DEFAULT_PRE_ROLL)),
            float(data.get(CONF_POST_ROLL, DEFAULT_POST_ROLL)),
        )
    removed = getattr(getattr(entry, "runtime_data", None), "removed", {}).get(channel)
    if removed is None:
        return None
    return FootageChannel(
        channel,
        removed.name,
        DEFAULT_PRE_ROLL if removed.pre_roll is None else removed.pre_roll,
        DEFAULT_POST_ROLL if removed.post_roll is None else removed.post_roll,
        removed.removed,
    )


def safe_file(root: Path, relpath: str) -> Path | None:
    """The real path of a file under ``root`` from an index path, or None if it escapes or is missing.

    Blocking (resolves symlinks).
    """
    try:
        raise_if_invalid_path(relpath)
    except ValueError:
        return None
    if not relpath or "\x00" in relpath or relpath.startswith(("/", "\\")) or Path(relpath).is_absolute():
        return None
    try:
        real = (root / relpath).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def not_found() -> web.Response:
    """The answer to anything unknown, refused or missing (never says which)."""
    return web.Response(status=HTTPStatus.NOT_FOUND, text="404: Not Found")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """[start, end) of a single ``bytes=`` range; None without one; False if unsatisfiable."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # unsupported (e.g. several ranges): the whole file
    if not match.group(1):
        length = int(match.group(2))
        return (max(0, size - length), size) if length else False
    start = int(match.group(1))
    end = min(size, int(match.group(2)) + 1) if match.group(2) else size
    if start >= size or end <= start:
        return False
    return start, end


def url_expiry(request: web.Request) -> timedelta:
    """How long the URLs inside a playlist stay valid: no longer than the playlist's signature."""
    signature = request.query.get("authSig")
    if signature:
        try:
            # Already verified by HA's auth middleware; only its expiry is read here.
            claims = jwt.decode(signature, options={"verify_signature": False})
            return timedelta(seconds=max(1, int(claims["exp"]) - int(time.time())))
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            return timedelta(seconds=1)
    return SIGN_EXPIRY


class NvrView(HomeAssistantView):
    """A view of one NVR's channel: HA auth or a signed path; ids looked up, never trusted."""

    requires_auth = True

    def _context(self, request: web.Request, entry_id: str, channel: str):
        hass: HomeAssistant = request.app[KEY_HASS]
        entry = loaded_entry(hass, entry_id)
        if entry is None:
            return None
        footage = footage_channel(entry, channel)
        state = playback_state(hass, entry)
        if footage is None or state is None:
            return None
        return hass, entry, footage, state


class SegmentView(NvrView):
    """One recorded file as it is on disk (Range supported)."""

    url = URL_BASE + r"/{entry_id}/{channel}/segment/{segment_id:\d{1,18}}.mp4"
    name = f"api:{DOMAIN}:segment"

    async def get(self, request: web.Request, entry_id: str, channel: str, segment_id: str) -> web.StreamResponse:
        """Serve the file with aiohttp's FileResponse (Range, conditional requests)."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, _footage, state = context
        path = await hass.async_add_executor_job(_segment_file, entry, state, channel, int(segment_id))
        if path is None:
            return not_found()
        return web.FileResponse(path, headers={hdrs.CONTENT_TYPE: "video/mp4"})


def _segment_file(entry: ConfigEntry, state: PlaybackState, channel: str, segment_id: int) -> Path | None:
    segment: Segment | None = entry.runtime_data.archive.index.segment(segment_id)
    if segment is None or segment.channel != channel:
        return None
    return safe_file(state.root, segment.path)


class ShiftedSegmentView(NvrView):
    """One recorded file with its timestamps moved onto a playlist's timeline (Range supported)."""

    url = URL_BASE + r"/{entry_id}/{channel}/segment/{segment_id:\d{1,18}}/{shift:-?\d{1,13}}.mp4"
    name = f"api:{DOMAIN}:segment_shifted"

    async def get(
        self, request: web.Request, entry_id: str, channel: str, segment_id: str, shift: str
    ) -> web.StreamResponse:
        """Serve a byte range (or all) of the shifted file."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, _footage, state = context

        def _open() -> ShiftedFile | None:
            path = _segment_file(entry, state, channel, int(segment_id))
            if path is None:
                return None
            try:
                return ShiftedFile(path, state.layouts.get(path), int(shift) / 1_000_000)
            except (OSError, BoxError, ValueError, IndexError):
                return None

        shifted = await hass.async_add_executor_job(_open)
        if shifted is None:
            return not_found()
        span = _parse_range(request.headers.get(hdrs.RANGE), shifted.size)
        if span is False:
            return web.Response(
                status=HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                headers={hdrs.CONTENT_RANGE: f"bytes */{shifted.size}"},
            )
        headers = {hdrs.ACCEPT_RANGES: "bytes", hdrs.CONTENT_TYPE: "video/mp4"}
        if span is None:
            begin, end, status = 0, shifted.size, HTTPStatus.OK
        else:
            begin, end = span
            status = HTTPStatus.PARTIAL_CONTENT
            headers[hdrs.CONTENT_RANGE] = f"bytes {begin}-{end - 1}/{shifted.size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = end - begin
        await response.prepare(request)
        pos = begin
        try:
            while pos < end:
                chunk = await hass.async_add_executor_job(shifted.read, pos, min(end, pos + CHUNK))
                if not chunk:
                    break
                await response.write(chunk)
                pos += len(chunk)
            await response.write_eof()
        except ConnectionResetError:  # the player went away (a seek, a closed page): nothing more to send
            _LOGGER.debug("A player left %s of %s at byte %d", segment_id, channel, pos)
        return response


class EventClipView(NvrView):
    """An event from pre-roll to post-roll as one MP4, remuxed once and cached."""

    url = URL_BASE + r"/{entry_id}/{channel}/event/{event_id:[A-Za-z0-9_-]{1,64}}.mp4"
    name = f"api:{DOMAIN}:event"

    async def get(self, request: web.Request, entry_id: str, channel: str, event_id: str) -> web.StreamResponse:
        """Serve the clip with FileResponse (Range supported)."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, footage, state = context
        pre, post = footage.pre_roll, footage.post_roll
        index = entry.runtime_data.archive.index

        def _clip() -> Path | None:
            event = index.event(event_id)
            if event is None or event.channel != channel:
                return None
            start = event.start - pre
            # An event still going on plays up to now (cached per 10 s of growth).
            end = (event.end if event.end is not None else (time.time() // 10) * 10) + post
            key = f"{channel}/{event_id}/{start:.3f}/{end:.3f}"
            try:
                path = state.clips.get(key, lambda dest: export_clip(index, state.root, channel, start, end, dest))
            except ExportError:
                return None
            return safe_file(state.root, path.relative_to(state.root).as_posix())

        path = await hass.async_add_executor_job(_clip)
        if path is None:
            return not_found()
        return web.FileResponse(path, headers={hdrs.CONTENT_TYPE: "video/mp4"})


class ThumbnailView(NvrView):
    """An event's thumbnail JPEG."""

    url = URL_BASE + r"/{entry_id}/{channel}/event/{event_id:[A-Za-z0-9_-]{1,64}}.jpg"
    name = f"api:{DOMAIN}:thumbnail"

    async def get(self, request: web.Request, entry_id: str, channel: str, event_id: str) -> web.StreamResponse:
        """Serve the JPEG the motion detector saved."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, _footage, state = context
        index = entry.runtime_data.archive.index

        def _file() -> Path | None:
            event = index.event(event_id)
            if event is None or event.channel != channel or not event.thumbnail:
                return None
            return safe_file(state.root, event.thumbnail)

        path = await hass.async_add_executor_job(_file)
        if path is None:
            return not_found()
        return web.FileResponse(path, headers={hdrs.CONTENT_TYPE: "image/jpeg"})


class StillView(HomeAssistantView):
    """A still of a channel's live stream, with how old its picture is."""

    requires_auth = True
    url = URL_BASE + r"/{entry_id}/{channel}/still/{role:(main|sub)}.jpg"
    name = f"api:{DOMAIN}:still"

    async def get(self, request: web.Request, entry_id: str, channel: str, role: str) -> web.StreamResponse:
        """Answer within the still budget (an older picture on an overloaded host)."""
        hass: HomeAssistant = request.app[KEY_HASS]
        entry = loaded_entry(hass, entry_id)
        runtime = entry.runtime_data.channels.get(channel) if entry is not None and valid_id(channel) else None
        if runtime is None or role not in runtime.channel.readers:
            return not_found()
        width, height = (request.query.get(key, "") for key in ("width", "height"))
        if not all(
            len(value) <= 4 and value.isascii() and value.isdigit() and 0 < int(value) <= 7680
            for value in (width, height)
            if value
        ):
            return web.Response(status=HTTPStatus.BAD_REQUEST, text="400: width and height are pixels")
        size = (int(width) if width else None, int(height) if height else None)
        still = await async_still(hass, entry.runtime_data.snapshots, runtime.channel, role, *size)
        headers = {hdrs.CACHE_CONTROL: "no-store", "X-Picture-Source": still.source}
        age = still.age()
        if age is not None:
            headers["X-Picture-Age"] = f"{age:.3f}"
        return web.Response(body=still.jpeg, content_type="image/jpeg", headers=headers)
