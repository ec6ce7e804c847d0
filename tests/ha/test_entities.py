"""Entities and devices of a channel, stills and live view through HA."""

from __future__ import annotations

from homeassistant.components.camera import CameraEntityFeature, async_get_image, async_get_stream_source
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from support import async_get_until, async_wait_for, jpeg_size, shows_picture

from custom_components.nvr.const import DOMAIN
from custom_components.nvr.engine import ENGLISH_CAPTION, current_caption, set_caption
from custom_components.nvr.engine.stills.placeholder import no_signal_jpeg

from .conftest import channel_data, entry_device


async def test_devices_and_entities(hass: HomeAssistant, live_entry) -> None:
    (subentry,) = live_entry.subentries.values()
    nvr = entry_device(hass, live_entry.entry_id, (DOMAIN, live_entry.entry_id))
    channel = entry_device(hass, live_entry.entry_id, (DOMAIN, f"{live_entry.entry_id}_{subentry.subentry_id}"))
    assert nvr is not None and channel is not None
    assert channel.via_device_id == nvr.id
    assert channel.name == "Front door"

    entities = er.async_get(hass)
    assert entities.async_get("camera.front_door").unique_id == f"{subentry.subentry_id}_main"
    assert entities.async_get("camera.front_door").config_subentry_id == subentry.subentry_id
    sub = entities.async_get("camera.front_door_sub_stream")
    assert sub.disabled_by is None, "the wall card plays the sub stream on big layouts"
    assert entities.async_get("binary_sensor.front_door_video_signal").device_id == channel.id

    await async_wait_for(hass, lambda: hass.states.get("binary_sensor.front_door_video_signal").state == STATE_ON, 10)
    signal = hass.states.get("binary_sensor.front_door_video_signal")
    assert signal.attributes["device_class"] == "connectivity"
    assert signal.attributes["codec"] == "h264"
    assert signal.attributes["resolution"] == "640x360"
    # Channels record continuously by default: the camera reads "recording".
    await async_wait_for(hass, lambda: hass.states.get("camera.front_door").state == "recording", 10)
    camera = hass.states.get("camera.front_door")
    assert camera.attributes["supported_features"] == CameraEntityFeature.STREAM


async def test_snapshot_from_memory(hass: HomeAssistant, live_entry) -> None:
    channel = next(iter(live_entry.runtime_data.channels.values())).channel
    await async_wait_for(hass, lambda: shows_picture(channel.readers["main"]), 10)
    image = await async_get_image(hass, "camera.front_door", width=320, height=180)
    assert image.content_type == "image/jpeg"
    assert jpeg_size(image.content) == (320, 180)
    image = await async_get_image(hass, "camera.front_door")
    assert jpeg_size(image.content) == (640, 360)


async def test_stream_source_carries_credentials(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    """Not sharing its connection, a channel gives HA the camera's URL, credentials joined in."""
    data = channel_data("Till", rtsp_basic.url("/live"), username="admin", password="p@ss word")
    entry = make_entry({**data, "share_connection": False})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    source = await async_get_stream_source(hass, "camera.till")
    assert source == rtsp_basic.url("/live").replace("rtsp://", "rtsp://admin:p%40ss%20word@")
    state = hass.states.get("camera.till")
    assert "p@ss" not in str(state.attributes)


async def test_shared_stream_source_is_the_relay(hass: HomeAssistant, make_entry, rtsp_basic) -> None:
    """Sharing (the default), HA gets the relay's loopback URL: no credentials in it."""
    entry = make_entry(channel_data("Till", rtsp_basic.url("/live"), username="admin", password="p@ss word"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    source = await async_get_stream_source(hass, "camera.till")
    assert source.startswith("http://127.0.0.1:")
    assert "admin" not in source and "p%40ss" not in source


async def test_placeholder_and_reconnect(hass: HomeAssistant, make_entry, clips) -> None:
    from rtsp_peer import RtspServer, live_mount

    with RtspServer([live_mount("/live", clips / "live.ts")]) as server:
        entry = make_entry(channel_data("Gate", server.url("/live")))
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

        def signal() -> str:
            return hass.states.get("binary_sensor.gate_video_signal").state

        await async_wait_for(hass, lambda: signal() == STATE_ON, 10)
        live = (await async_get_image(hass, "camera.gate", width=320, height=180)).content

        server.stop()
        await async_wait_for(hass, lambda: signal() == STATE_OFF, 10)
        assert hass.states.get("camera.gate").state == "idle"
        assert hass.states.get("binary_sensor.gate_video_signal").attributes["failure"] == "cannot_connect"
        placeholder = (await async_get_image(hass, "camera.gate", width=320, height=180)).content
        assert jpeg_size(placeholder) == (320, 180)
        assert placeholder != live

        server.start()
        back = await async_wait_for(hass, lambda: signal() == STATE_ON, 10)
        assert back < 5
        channel = next(iter(entry.runtime_data.channels.values())).channel
        await async_wait_for(hass, lambda: shows_picture(channel.readers["main"]), 5)
        again = (await async_get_image(hass, "camera.gate", width=320, height=180)).content
        assert again != placeholder
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_placeholder_follows_the_language(hass: HomeAssistant, hass_client, make_entry) -> None:
    """HA's language (set before or changed after start) is the language of the "No video signal" picture."""
    hass.config.language = "zh-Hans"
    entry = make_entry(channel_data("Gate", "rtsp://127.0.0.1:9/none"))
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        chinese = current_caption()
        assert chinese.text == "无视频信号"
        assert chinese.font_path is not None, "no CJK font: scripts/test installs fonts-noto-cjk as root"
        picture = (await async_get_image(hass, "camera.gate", width=320, height=180)).content
        assert picture == no_signal_jpeg("Gate", 320, 180)

        await hass.config.async_update(language="ko")
        await async_wait_for(hass, lambda: current_caption().text == "비디오 신호 없음", 10)
        # On a loaded machine a still may answer with the picture made before (the stills' budget):
        # the next ones are the new language's.
        url = "/api/camera_proxy/camera.gate?width=320&height=180"
        korean = await async_get_until(await hass_client(), url, 30, lambda body: body != picture)
        assert korean == no_signal_jpeg("Gate", 320, 180)

        await hass.config.async_update(language="en")
        await async_wait_for(hass, lambda: current_caption() == ENGLISH_CAPTION, 10)
        assert hass.states.get("binary_sensor.gate_video_signal").state == STATE_OFF
    finally:
        set_caption(ENGLISH_CAPTION)
