"""Home Assistant fixtures: an NVR entry whose channels point at real peers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from support import ha_report_about_us

from custom_components.nvr.const import (
    CONF_MAIN_URL,
    CONF_MOTION_ENABLED,
    CONF_RTSP_TRANSPORT,
    CONF_STORAGE_PATH,
    CONF_SUB_URL,
    DOMAIN,
    SUBENTRY_CHANNEL,
)
from custom_components.nvr.engine import stream_key


class _HaReports(logging.Handler):
    """Keeps what HA logs about this integration's use of its APIs (see ``ha_report_about_us``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            return
        if ha_report_about_us(message):
            self.reports.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def ha_reports(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Fail a test after which HA reported a deprecated or wrong use of its API by nvr (both HA lines).

    HA only logs these (a custom integration's deprecated call goes on
    working until the release that removes it), so a test would pass on a
    call that the next HA release breaks. A test marked
    ``ha_reports_expected`` gets the reports to check itself.
    """
    handler = _HaReports()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.reports
    finally:
        root.removeHandler(handler)
    if handler.reports and request.node.get_closest_marker("ha_reports_expected") is None:
        pytest.fail("HA reported nvr's use of its API:\n" + "\n".join(handler.reports), pytrace=False)


@pytest.fixture(autouse=True)
def closed_websocket_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WebSocket that HA's server has closed schedules no heartbeat again.

    aiohttp 3.14 (HA 2026) resets the heartbeat on the data a WebSocket
    receives, also while it reads the client's closing frame after it was
    closed, so a connection HA closes (a refused login) leaves a heartbeat
    timer behind, which HA's harness fails as lingering. This keeps aiohttp
    from arming it on a closed WebSocket; any other lingering timer still fails.
    """
    reset = web.WebSocketResponse._reset_heartbeat

    def reset_unless_closed(self: web.WebSocketResponse) -> None:
        if not self.closed:
            reset(self)

    monkeypatch.setattr(web.WebSocketResponse, "_reset_heartbeat", reset_unless_closed)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/nvr."""


@pytest.fixture(autouse=True)
def relay_sockets(socket_enabled: None) -> None:
    """Let the live relay listen: it opens its own socket on 127.0.0.1 (test traffic stays on loopback)."""


def channel_data(
    name: str, main_url: str, sub_url: str = "", username: str = "", password: str = "", motion: bool = False
) -> dict[str, Any]:
    """Subentry data of a channel, as the channel flow stores it.

    Motion detection is off unless ``motion`` is set: the test feeds move all
    the time, and other tests should not pay for (or see events of) it.
    """
    return {
        "name": name,
        CONF_MAIN_URL: main_url,
        CONF_SUB_URL: sub_url,
        "username": username,
        "password": password,
        CONF_RTSP_TRANSPORT: "tcp",
        CONF_MOTION_ENABLED: motion,
    }


def entry_device(hass: HomeAssistant, entry_id: str, identifier: tuple[str, str]) -> dr.DeviceEntry | None:
    """The device of config entry ``entry_id`` with ``identifier``, or None.

    Looked up among the entry's own devices: from HA 2026.8 on, identifiers are
    unique per config entry only, and ``async_get_device`` raises when a test
    calls it; its replacement ``async_get_device_by_identifier`` is missing from
    HA 2025.4.
    """
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)
    return next((device for device in devices if identifier in device.identifiers), None)


def nvr_entry(
    hass: HomeAssistant, storage: Path, *channels: dict[str, Any], subentry_ids: tuple[str, ...] = ()
) -> MockConfigEntry:
    """Add (not set up) an NVR entry on ``storage`` with the given channels' data.

    ``subentry_ids`` fixes the ids of the first channels (the rest get random ones).
    """
    subentries = []
    for n, data in enumerate(channels):
        subentry = {
            "data": data,
            "subentry_type": SUBENTRY_CHANNEL,
            "title": data["name"],
            "unique_id": stream_key(data[CONF_MAIN_URL]),
        }
        if n < len(subentry_ids):
            subentry["subentry_id"] = subentry_ids[n]
        subentries.append(subentry)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Shop NVR",
        data={"name": "Shop NVR", CONF_STORAGE_PATH: str(storage)},
        unique_id=str(storage),
        subentries_data=subentries,
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def make_entry(hass: HomeAssistant, tmp_path) -> Callable[..., MockConfigEntry]:
    """Build (not set up) an NVR entry with the given channels' data."""

    def _make(*channels: dict[str, Any]) -> MockConfigEntry:
        storage = tmp_path / "nvr"
        storage.mkdir(exist_ok=True)
        return nvr_entry(hass, storage, *channels)

    return _make


@pytest.fixture
async def live_entry(hass: HomeAssistant, make_entry, rtsp_server) -> MockConfigEntry:
    """A loaded NVR with one channel (main and sub stream) on a live feed."""
    entry = make_entry(channel_data("Front door", rtsp_server.url("/live"), rtsp_server.url("/sub")))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture(autouse=True)
def no_lan_discovery(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """No WS-Discovery probe leaves the machine: the NVR's scan finds nothing (tests/devices probes in a netns).

    Returns the list the scans are counted in.
    """
    scans: list[int] = []

    def _scan(timeout: float = 3.0) -> list[Any]:
        scans.append(1)
        return []

    monkeypatch.setattr("custom_components.nvr.devices.discovery.discover_onvif", _scan)
    return scans
