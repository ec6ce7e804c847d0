"""Runtime behaviour: our work never holds the event loop, threads never linger,
diagnostics hide credentials, and a lost feed raises a repair issue."""

from __future__ import annotations

import json
import logging
import threading
import time
from unittest.mock import patch

from homeassistant.components.camera import async_get_image
from homeassistant.components.camera.img_util import TurboJPEGSingleton
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import get_diagnostics_for_config_entry
from rtsp_peer import free_port
from support import async_wait_for, reader_threads

from custom_components.nvr.const import DOMAIN

from .conftest import channel_data
from .loop_steps import LoopSteps

MAX_STEP_CPU = 0.02
"""CPU seconds our code may hold the event loop in one step (it measures a few ms)."""
HA_COMPONENTS = ("camera", "binary_sensor", "event", "image", "number", "select", "sensor")


async def test_our_work_never_holds_the_event_loop(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    """16 channels set up, give stills, are reloaded and unload without a long step of ours on the loop.

    Measured in CPU time of the loop thread, so a busy machine does not
    count; HA's own first-time set-up of its components is done before.
    """
    for component in HA_COMPONENTS:
        assert await async_setup_component(hass, component, {})
    TurboJPEGSingleton.instance()  # HA loads its JPEG scaler on the first still it scales
    entry = make_entry(
        *(channel_data(f"C{n}", rtsp_server.url(f"/live?c={n}"), rtsp_server.url(f"/sub?c={n}")) for n in range(15)),
        channel_data("Down", f"rtsp://127.0.0.1:{free_port()}/down"),
    )
    started_on_loop: list[str] = []
    original_start = threading.Thread.start

    def _start(thread: threading.Thread) -> None:
        if thread.name.startswith("nvr-") and threading.current_thread() is threading.main_thread():
            started_on_loop.append(thread.name)
        original_start(thread)

    steps = LoopSteps()
    with patch.object(threading.Thread, "start", _start), steps.record():
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        live = [r.channel for r in entry.runtime_data.channels.values() if r.name != "Down"]
        await async_wait_for(hass, lambda: all(c.readers["main"].gop.latest() for c in live), 30)
        for n in range(15):
            await async_get_image(hass, f"camera.c{n}", width=640, height=360)
        await async_get_image(hass, "camera.down", width=640, height=360)
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    assert started_on_loop == [], "engine threads were started on the event loop"
    ours = steps.ours()
    assert len(ours) > 100
    worst = ours[0]
    assert worst.cpu < MAX_STEP_CPU, f"a step of ours held the loop {worst.cpu * 1000:.1f} ms (CPU): {worst.where}"


async def test_unload_and_reload_leave_no_threads(hass: HomeAssistant, make_entry, rtsp_server) -> None:
    entry = make_entry(
        channel_data("A", rtsp_server.url("/live"), rtsp_server.url("/sub")),
        channel_data("B", rtsp_server.url("/live?b=2")),
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert len(reader_threads()) == 3
    first = set(reader_threads())
    # Once connected, a reader stops between packets, well within 2 s. (A reader
    # still inside FFmpeg's open cannot be interrupted: see test_reader.py.)
    channels = [r.channel for r in entry.runtime_data.channels.values()]
    await async_wait_for(hass, lambda: all(c.status().connected for c in channels), 10)

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert not first & set(reader_threads()), "old reader threads survived the reload"
    assert len(reader_threads()) == 3
    channels = [r.channel for r in entry.runtime_data.channels.values()]
    await async_wait_for(hass, lambda: all(c.status().connected for c in channels), 10)

    # Stills decode on at most two threads of the NVR's own.
    for _ in range(3):
        for entity_id in ("camera.a", "camera.b"):
            await async_get_image(hass, entity_id, width=320, height=180)
    snapshot_threads = [t for t in threading.enumerate() if t.name.startswith("nvr-snapshot")]
    assert 1 <= len(snapshot_threads) <= 2

    start = time.monotonic()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert reader_threads() == []
    assert not any(t.is_alive() for t in snapshot_threads)
    assert time.monotonic() - start < 2.0


async def test_diagnostics_hide_credentials(hass: HomeAssistant, hass_client, make_entry, rtsp_basic) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    entry = make_entry(channel_data("Till", rtsp_basic.url("/live"), username="admin", password="secret"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    channel = next(iter(entry.runtime_data.channels.values())).channel
    await async_wait_for(hass, lambda: channel.status().connected, 10)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert "secret" not in text
    assert "admin" not in text
    (info,) = diagnostics["channels"]
    assert info["streams"]["main"]["connected"] is True
    assert info["streams"]["main"]["info"]["codec"] == "h264"


async def test_wrong_password_raises_repair_issue(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    entry = make_entry(channel_data("Till", rtsp_basic.url("/live"), username="admin", password="changed"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    (subentry,) = entry.subentries.values()
    issue_id = f"channel_offline_{entry.entry_id}_{subentry.subentry_id}"
    issues = ir.async_get(hass)
    await async_wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None, 10)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue.translation_key == "invalid_auth"
    assert issue.translation_placeholders["channel"] == "Till"
    assert "changed" not in json.dumps(issue.translation_placeholders)


async def test_lost_feed_raises_and_clears_issue(hass: HomeAssistant, make_entry, clips, monkeypatch) -> None:
    from rtsp_peer import RtspServer, live_mount

    monkeypatch.setattr("custom_components.nvr.repairs.CHANNEL_OFFLINE_GRACE", 1.0)
    with RtspServer([live_mount("/live", clips / "live.ts")]) as server:
        entry = make_entry(channel_data("Gate", server.url("/live")))
        assert await hass.config_entries.async_setup(entry.entry_id)
        (subentry,) = entry.subentries.values()
        issue_id = f"channel_offline_{entry.entry_id}_{subentry.subentry_id}"
        issues = ir.async_get(hass)
        channel = entry.runtime_data.channels[subentry.subentry_id].channel
        await async_wait_for(hass, lambda: channel.status().connected, 10)
        server.stop()
        await async_wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None, 10)
        assert issues.async_get_issue(DOMAIN, issue_id).translation_key == "channel_offline"
        server.start()
        await async_wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None, 10)
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_credentials_never_logged(hass: HomeAssistant, make_entry, rtsp_basic, caplog) -> None:
    """Not from our code, not from FFmpeg's messages that PyAV forwards."""
    caplog.set_level(logging.DEBUG)
    entry = make_entry(channel_data("Till", rtsp_basic.url("/live"), username="admin", password="hunter2-pw"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    (subentry,) = entry.subentries.values()
    channel = entry.runtime_data.channels[subentry.subentry_id].channel
    await async_wait_for(hass, lambda: channel.status().failure is not None, 10)
    # The channel flow's probe fails the same way and must not leak either.
    result = await hass.config_entries.subentries.async_init((entry.entry_id, "channel"), context={"source": "user"})
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {"name": "X", "main_url": rtsp_basic.url("/live?other", "admin", "hunter2-pw"), "rtsp_transport": "tcp"},
    )
    assert result["errors"] == {"main_url": "invalid_auth"}
    assert caplog.records, "nothing was logged at all"
    assert "hunter2" not in caplog.text
    assert "hunter2" not in json.dumps(result.get("description_placeholders"))
