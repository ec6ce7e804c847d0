"""HLS playlists of recorded footage: an hour (the media browser) or any span (the timeline).

* ``/api/nvr/<entry>/<channel>/hour/<epoch>.m3u8``: the files that start in
  that hour.
* ``/api/nvr/<entry>/<channel>/range/<start>-<end>.m3u8``: the footage from
  ``start`` to ``end`` (UTC epoch seconds, at most ``MAX_RANGE`` apart). It
  begins with the media segment showing ``start`` (from the keyframe before
  it), crosses files, hours and days, and closes up gaps. A span that
  reaches the present is an EVENT playlist: players reload it and it grows
  while recording goes on.

Both are fMP4 over the recorded files, never remuxed (see
``engine/playback/playlist.py``). Each carries ``EXT-X-PROGRAM-DATE-TIME``
per file: the wall time its first media segment shows, from which a player
maps its position back to the clock. Their file URLs are signed for the same
user, and expire no later than the playlist's own signature. The same auth
and id rules as every other view apply (``views.py``).
"""

from __future__ import annotations

import time
from http import HTTPStatus

from aiohttp import hdrs, web
from homeassistant.components.http.auth import async_sign_path

from .const import DOMAIN
from .engine import Playlist, build_playlist
from .views import HOUR, PLAYLIST_MIME, URL_BASE, NvrView, not_found, segment_url, url_expiry

MAX_RANGE = 6 * HOUR
"""Longest span one range playlist covers (a player asks for the next one as it goes)."""


def _response(request: web.Request, hass, entry_id: str, channel: str, playlist: Playlist) -> web.Response:
    expiry = url_expiry(request)

    def _uri(item) -> str:
        path = segment_url(entry_id, channel, item.segment.id, round(item.shift * 1_000_000))
        return async_sign_path(hass, path, expiry)

    response = web.Response(
        text=playlist.render(_uri), content_type=PLAYLIST_MIME, headers={hdrs.CACHE_CONTROL: "no-store"}
    )
    response.enable_compression()
    return response


class PlaylistView(NvrView):
    """One hour of a channel as an HLS playlist."""

    url = URL_BASE + r"/{entry_id}/{channel}/hour/{start:\d{1,12}}.m3u8"
    name = f"api:{DOMAIN}:hour"

    async def get(self, request: web.Request, entry_id: str, channel: str, start: str) -> web.StreamResponse:
        """Build the playlist from the index and the files' boxes."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, _footage, state = context
        begin = int(start)
        if begin % 900:  # hours of every time zone start on a quarter hour
            return not_found()
        index = entry.runtime_data.archive.index

        def _build() -> Playlist:
            segments = index.segments_starting(channel, begin, begin + HOUR)
            return build_playlist(state.root, segments, state.layouts)

        playlist = await hass.async_add_executor_job(_build)
        if not playlist.files:
            return not_found()
        return _response(request, hass, entry_id, channel, playlist)


class RangePlaylistView(NvrView):
    """Any span of a channel as an HLS playlist; a live EVENT playlist when it reaches now."""

    url = URL_BASE + r"/{entry_id}/{channel}/range/{start:\d{1,12}}-{end:\d{1,12}}.m3u8"
    name = f"api:{DOMAIN}:range"

    async def get(self, request: web.Request, entry_id: str, channel: str, start: str, end: str) -> web.StreamResponse:
        """Build the playlist of the footage from ``start`` to ``end``."""
        context = self._context(request, entry_id, channel)
        if context is None:
            return not_found()
        hass, entry, _footage, state = context
        begin, finish = int(start), int(end)
        if finish <= begin or finish - begin > MAX_RANGE:
            return web.Response(
                status=HTTPStatus.BAD_REQUEST, text=f"400: a span ends after it starts, at most {MAX_RANGE} s later"
            )
        live = finish > time.time()
        index = entry.runtime_data.archive.index

        def _build() -> Playlist:
            segments = index.segments(channel, begin, finish)
            return build_playlist(state.root, segments, state.layouts, span=(begin, finish), live=live)

        playlist = await hass.async_add_executor_job(_build)
        if not playlist.files and not live:
            return not_found()
        return _response(request, hass, entry_id, channel, playlist)
