"""The still view: auth, bad input, and how old its picture is, fresh or on a host too busy to make one."""

from __future__ import annotations

import asyncio
import threading
from http import HTTPStatus

import pytest
from homeassistant.core import HomeAssistant
from support import async_wait_for, jpeg_size, shows_picture

from custom_components.nvr.engine import Channel
from custom_components.nvr.stills import _stills, still_keeper


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
    for query in ("?width=abc", "?width=0", "?height=99999", "?width=-5", "?width=²", "?height=" + "1" * 5000):
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


async def test_a_late_still_is_never_one_of_another_size(
    hass: HomeAssistant, live_entry, channel, hass_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stuck stills threads: each size is answered with the last still of that size, or the placeholder."""
    client = await hass_client()
    full = await (await client.get(_url(live_entry))).read()
    small = await (await client.get(_url(live_entry, query="?width=320&height=180"))).read()
    assert jpeg_size(small) == (320, 180) and jpeg_size(full) != (320, 180)

    release = threading.Event()
    made = Channel.still
    one_at_a_time = threading.Lock()  # PyAV 13 crashes scaling one frame on two threads at once

    def stuck(self, *args, **kwargs):
        release.wait(30)
        with one_at_a_time:
            return made(self, *args, **kwargs)

    monkeypatch.setattr(Channel, "still", stuck)
    try:
        late_full = await client.get(_url(live_entry))
        assert late_full.headers["X-Picture-Source"] == "earlier"
        assert await late_full.read() == full
        late_small = await client.get(_url(live_entry, query="?width=320&height=180"))
        assert late_small.headers["X-Picture-Source"] == "earlier"
        assert await late_small.read() == small
        unseen = await client.get(_url(live_entry, query="?width=160&height=90"))
        assert unseen.headers["X-Picture-Source"] == "no_signal"  # no still of this size yet
        assert jpeg_size(await unseen.read()) == (160, 90)
    finally:
        release.set()
    # The late stills, made after all, are kept at their own sizes.
    keeper = still_keeper(hass, channel)
    await async_wait_for(hass, lambda: keeper.last("main", (160, 90)) is not None, 10)
    assert jpeg_size(keeper.last("main", (160, 90)).jpeg) == (160, 90)
    assert jpeg_size(keeper.last("main", (320, 180)).jpeg) == (320, 180)
    assert jpeg_size(keeper.last("main").jpeg) == jpeg_size(full)


async def test_stills_asked_for_while_one_is_late_wait_for_it(
    hass: HomeAssistant, live_entry, channel, hass_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stuck stills threads: many calls for one stream and size make one still, not one each."""
    client = await hass_client()
    release = threading.Event()
    made = Channel.still
    asked: list[tuple] = []
    one_at_a_time = threading.Lock()  # PyAV 13 crashes scaling one frame on two threads at once

    def stuck(self, *args, **kwargs):
        asked.append(args)
        release.wait(30)
        with one_at_a_time:
            return made(self, *args, **kwargs)

    monkeypatch.setattr(Channel, "still", stuck)
    url = _url(live_entry, query="?width=320&height=180")
    try:
        responses = await asyncio.gather(*(client.get(url) for _ in range(6)))
        assert all(response.status == HTTPStatus.OK for response in responses)
        later = await client.get(url)  # after the others gave up on it: still the same one
        assert later.status == HTTPStatus.OK
    finally:
        release.set()
    making = _stills(hass, channel).making
    await async_wait_for(hass, lambda: not making, 10)
    assert asked.count(("main", 320, 180)) == 1, asked
    assert still_keeper(hass, channel).last("main", (320, 180)) is not None  # kept when it was made
