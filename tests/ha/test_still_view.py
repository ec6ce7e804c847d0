"""The still view: auth, bad input, and how old its picture is, fresh or on a host too busy to make one."""

from __future__ import annotations

import threading
from http import HTTPStatus

import pytest
from homeassistant.core import HomeAssistant
from support import async_wait_for, jpeg_size, shows_picture

from custom_components.nvr.engine import Channel


def _url(entry, role: str = "main", query: str = "") -> str:
    (subentry,) = entry.subentries.values()
    return f"/api/nvr/{entry.entry_id}/{subentry.subentry_id}/still/{role}.jpg{query}"


@pytest.fixture
async def channel(hass: HomeAssistant, live_entry) -> Channel:
    channel = next(iter(live_entry.runtime_data.channels.values())).channel
    await async_wait_for(hass, lambda: shows_picture(channel.readers["main"]), 10)
    return channel


async def test_still_needs_auth_and_rejects_bad_input(
    hass: HomeAssistant, live_entry, channel, hass_client, hass_client_no_auth
) -> None:
    assert (await (await hass_client_no_auth()).get(_url(live_entry))).status == HTTPStatus.UNAUTHORIZED
    client = await hass_client()
    (subentry,) = live_entry.subentries.values()
    for url in (
        f"/api/nvr/{live_entry.entry_id}/nochannel/still/main.jpg",
        f"/api/nvr/nope/{subentry.subentry_id}/still/main.jpg",
        _url(live_entry, "third"),
    ):
        assert (await client.get(url)).status == HTTPStatus.NOT_FOUND, url
    traversal = await client.get(f"/api/nvr/{live_entry.entry_id}/..%2F..%2Fetc/still/main.jpg")
    assert traversal.status in (HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND)  # HA's filter answers first
    for query in ("?width=abc", "?width=0", "?height=99999", "?width=-5"):
        response = await client.get(_url(live_entry, query=query))
        assert response.status == HTTPStatus.BAD_REQUEST, query


async def test_fresh_still_says_how_old_it_is(hass: HomeAssistant, live_entry, channel, hass_client) -> None:
    client = await hass_client()
    response = await client.get(_url(live_entry, query="?width=320&height=180"))
    assert response.status == HTTPStatus.OK
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Picture-Source"] in ("live", "keyframe")
    if response.headers["X-Picture-Source"] == "live":
        assert float(response.headers["X-Picture-Age"]) >= 0
    assert jpeg_size(await response.read()) == (320, 180)


async def test_a_still_that_cannot_be_made_in_time_answers_with_the_last_one(
    hass: HomeAssistant, live_entry, channel, hass_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stills threads are stuck (an overloaded host): the last still answers, and says so."""
    client = await hass_client()
    first = await client.get(_url(live_entry))
    assert first.status == HTTPStatus.OK
    first_jpeg = await first.read()

    release = threading.Event()
    made = Channel.still

    def stuck(self, *args, **kwargs):
        release.wait(30)  # never for ever: the pool must end at teardown
        return made(self, *args, **kwargs)

    monkeypatch.setattr(Channel, "still", stuck)
    try:
        late = await client.get(_url(live_entry))
        assert late.status == HTTPStatus.OK
        assert late.headers["X-Picture-Source"] == "earlier"
        assert await late.read() == first_jpeg
        state = hass.states.get("camera.front_door")
        image = await client.get(f"/api/camera_proxy/camera.front_door?token={state.attributes['access_token']}")
        assert image.status == HTTPStatus.OK  # HA's camera proxy too: the earlier picture, not a 500
        assert await image.read() == first_jpeg
    finally:
        release.set()
    monkeypatch.setattr(Channel, "still", made)
    fresh = await client.get(_url(live_entry))
    assert fresh.headers["X-Picture-Source"] in ("live", "keyframe")


async def test_no_still_yet_and_none_in_time_gives_the_no_signal_picture(
    hass: HomeAssistant, live_entry, channel, hass_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    made = Channel.still

    def stuck(self, *args, **kwargs):
        release.wait(30)
        return made(self, *args, **kwargs)

    monkeypatch.setattr(Channel, "still", stuck)
    try:
        response = await (await hass_client()).get(_url(live_entry, "sub"))
        assert response.status == HTTPStatus.OK
        assert response.headers["X-Picture-Source"] == "no_signal"
        assert "X-Picture-Age" not in response.headers
        assert jpeg_size(await response.read())[0] > 0
    finally:
        release.set()
