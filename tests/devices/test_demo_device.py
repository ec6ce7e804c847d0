"""scripts/develop's demo Hikvision recorder: what "Connect a device" finds on it, and its motion."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import aiohttp

from custom_components.nvr.devices.connect import async_read_device, event_reader
from custom_components.nvr.devices.model import EVENT_MOTION, DeviceConnection, DeviceEvent, Protocol

from .test_isapi import until

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "develop_demo.py"


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("develop_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("develop_demo", module)
    spec.loader.exec_module(module)
    return module


async def test_demo_recorder_offers_the_demo_streams_and_reports_motion() -> None:
    demo = _demo()
    device = demo.DemoDevice(port=0)  # in its own thread and loop, as scripts/develop runs it
    await asyncio.to_thread(device.start)
    try:
        conn = DeviceConnection("127.0.0.1", device.server.port, *demo.DEVICE_LOGIN)
        async with aiohttp.ClientSession() as session:
            info, channels = await async_read_device(session, conn, None, 10)
            assert info.protocol is Protocol.ISAPI
            assert [c.name for c in channels] == [ch["name"] for ch in demo.DEVICE_CHANNELS]
            assert all(c.online for c in channels)
            # Every stream the device names is one of the demo's RTSP mounts, so its channels play.
            mounts = demo.device_mounts()
            urls = [c.main.url for c in channels] + [c.sub.url for c in channels if c.sub is not None]
            assert len(urls) == len(mounts)
            for url in urls:
                parts = urlsplit(url)
                assert (parts.hostname, parts.port) == ("127.0.0.1", demo.STEADY_PORT)
                assert parts.path in mounts, url
            events: list[DeviceEvent] = []
            reader = asyncio.create_task(event_reader(Protocol.ISAPI, session, conn, events.append, lambda _s: None)())
            try:
                await until(lambda: device.server.open_streams == 1, 10, "the alertStream")
                device.motion(1, "active")
                await until(lambda: any(e.active for e in events), 10, "motion")
                device.motion(1, "inactive")
                await until(lambda: events and not events[-1].active, 10, "motion's end")
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            assert {(e.channel, e.kind) for e in events} == {("1", EVENT_MOTION)}
    finally:
        await asyncio.to_thread(device.stop)
