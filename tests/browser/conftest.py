"""Browser tests: the NVR wall card in headless Chromium against a real Home Assistant.

Session fixtures:

* ``feeds``: live RTSP mounts (gst-rtsp-server): Front door (main and sub),
  Driveway and Garden (a person crossing grass every 4 s, composed from real
  photographs: motion, and person detection) on one server,
  Garage on a server of its own that tests stop and start. Front door's
  and Garage's main streams burn their frame number into every picture
  (``rtsp_peer.read_frame_code``), so playback tests can tell which moment a
  picture shows;
* ``nvr_hass``: a ``hass`` process with the NVR and those four channels,
  created through the real flows, and a dashboard of wall cards;
* ``browser``: headless Chromium logged in as the onboarded user.

Screenshots of every case go to ``.artifacts/browser/`` (not committed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from objects_scenes import crossing, encode
from rtsp_peer import RtspServer, live_mount, make_clip

from .browser import Browser
from .harness import Hass, free_port, loopback_only

WALL = "/nvr-test/wall"
STILLS = "/nvr-test/stills"
GARAGE = "/nvr-test/garage"
NINE = "/nvr-test/nine"
GARDEN = crossing("cameraman", "grass", 0.08, seconds=4.0, enter=0.5, leave=2.0)
"""A person crossing grass from 0.5 s to 2 s of every 4 s (like a motion test's box)."""
CODED_SECONDS = 120
"""Length of the coded clips: a frame number names one moment within this long."""


@pytest.fixture(autouse=True)
def loopback_sockets() -> None:
    """HA, chromedriver and the RTSP peers are on 127.0.0.1: the tests talk to them, and nothing else."""
    loopback_only()


class Feeds:
    """The RTSP servers behind the channels."""

    def __init__(self, folder: Path) -> None:
        steady = [
            live_mount("/front", make_clip(folder / "front.ts", 640, 360, seconds=CODED_SECONDS, coded=True)),
            live_mount("/front_sub", make_clip(folder / "front_sub.ts", 320, 180, seconds=6, pattern="testsrc2")),
            live_mount("/driveway", make_clip(folder / "driveway.ts", 640, 360, seconds=6, pattern="smptebars")),
            live_mount("/garden", encode(GARDEN, folder / "garden.ts")),
        ]
        self.steady = RtspServer(steady)
        garage = make_clip(folder / "garage.ts", 640, 360, seconds=CODED_SECONDS, coded=True)
        self.garage = RtspServer([live_mount("/garage", garage)])

    def channels(self) -> list[dict[str, Any]]:
        """What the channel flow is given, in the order the wall shows them."""
        return [
            {"name": "Front door", "main_url": self.steady.url("/front"), "sub_url": self.steady.url("/front_sub")},
            {"name": "Driveway", "main_url": self.steady.url("/driveway")},
            {"name": "Garden", "main_url": self.steady.url("/garden"), "objects": ["person", "vehicle"]},
            {"name": "Garage", "main_url": self.garage.url("/garage")},
        ]


@pytest.fixture(scope="session")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feeds]:
    feeds = Feeds(tmp_path_factory.mktemp("wall_feeds"))
    feeds.steady.start()
    feeds.garage.start()
    yield feeds
    feeds.garage.stop()
    feeds.steady.stop()


def dashboard(entry_id: str, channels: list[dict[str, Any]]) -> dict[str, Any]:
    ids = [c["subentry_id"] for c in channels]
    wall = {"type": "custom:nvr-wall-card", "entry_id": entry_id, "channels": ids, "layout": 4, "stream": "main"}
    return {
        "title": "NVR test",
        "views": [
            {"title": "Wall", "path": "wall", "type": "panel", "cards": [{**wall, "mode": "live"}]},
            {"title": "Stills", "path": "stills", "type": "panel", "cards": [{**wall, "mode": "stills"}]},
            {
                "title": "Garage",
                "path": "garage",
                "type": "panel",
                "cards": [{**wall, "channels": ids[3:], "layout": 1, "mode": "live"}],
            },
            {
                "title": "Nine",
                "path": "nine",
                "type": "panel",
                "cards": [{**wall, "layout": 9, "stream": "auto", "mode": "live"}],
            },
            {"title": "Empty", "path": "empty", "cards": []},
        ],
    }


@pytest.fixture(scope="session")
def nvr_hass(feeds: Feeds, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hass]:
    loopback_only()
    hass = Hass(tmp_path_factory.mktemp("hass_config"), free_port())
    hass.start()
    try:
        asyncio.run(hass.async_setup(feeds.channels()))
        assert [c["title"] for c in hass.channels] == [c["name"] for c in feeds.channels()], hass.log_tail()
        hass.ws(
            "lovelace/dashboards/create", url_path="nvr-test", title="NVR test", mode="storage", show_in_sidebar=True
        )
        hass.ws("lovelace/config/save", url_path="nvr-test", config=dashboard(hass.entry_id, hass.channels))
        yield hass
    finally:
        hass.stop()
    hass.assert_log_clean()


@pytest.fixture(scope="session")
def browser(nvr_hass: Hass) -> Iterator[Browser]:
    loopback_only()
    browser = Browser(nvr_hass.base, nvr_hass.token)
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def no_bad_urls(request: pytest.FixtureRequest) -> Iterator[None]:
    """The NVR page never fetches ``undefined`` (a player given no URL or poster yet).

    Only our page's: HA's own camera player (``ha-camera-stream``, on the wall)
    sets its video's poster before it knows its thumbnail, and fetches
    ``undefined`` relative to the dashboard, in every dashboard.
    """
    yield
    if "browser" in request.fixturenames:
        browser: Browser = request.getfixturevalue("browser")
        ours = [bad for bad in browser.bad_urls() if bad["page"] == "/nvr"]
        assert not ours, f"the NVR page fetched {ours}"
