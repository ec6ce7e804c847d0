"""The ONVIF client and PullPoint events with the real library against a loopback responder (captured replies)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp import web

from custom_components.nvr.devices import onvif_events
from custom_components.nvr.devices.model import (
    EVENT_INTRUSION,
    EVENT_MOTION,
    DeviceConnection,
    DeviceError,
    DeviceErrorReason,
    DeviceEvent,
    Protocol,
)
from custom_components.nvr.devices.onvif import OnvifClient, strip_credentials
from custom_components.nvr.devices.onvif_events import OnvifEventSubscription, topic_path

from .onvif_responder import OnvifResponder

USER = "admin"
PASSWORD = "secret"


async def wait_until(predicate: Callable[[], object], timeout: float = 8.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the callbacks set no event
            await asyncio.sleep(0.02)
    assert predicate(), what


@pytest.fixture
async def device() -> AsyncIterator[OnvifResponder]:
    """A responder with the default (60 s) subscriptions."""
    async with OnvifResponder(username=USER, password=PASSWORD) as responder:
        yield responder


def conn(port: int, password: str = PASSWORD) -> DeviceConnection:
    """Credentials for the responder."""
    return DeviceConnection("127.0.0.1", port, USER, password)


# -- device info and channels ---------------------------------------------------------------------------------------


async def test_device_info(device: OnvifResponder) -> None:
    async with OnvifClient(conn(device.port), timeout=5) as client:
        info = await client.device_info()
    assert info.protocol is Protocol.ONVIF
    assert info.manufacturer == "Mockup Manufacturer"
    assert info.model == "Mockup Model"
    assert info.serial == "00000000"
    assert info.firmware == "Mockup_15_14_13"
    assert info.mac == "28:57:be:65:7d:d5"
    assert info.name == "Mockup Manufacturer Mockup Model"


async def test_channels(device: OnvifResponder) -> None:
    # A device that puts credentials into its stream URI (some do): they must not reach the channel.
    device.set_stream_uri("main", f"rtsp://{USER}:{PASSWORD}@127.0.0.1:8554/onvif1")
    client = OnvifClient(conn(device.port), timeout=5)
    await client.connect()
    try:
        channels = await client.channels()
    finally:
        await client.close()
    assert len(channels) == 1
    channel = channels[0]
    assert channel.id == "vidsrc0"  # the video source token
    assert channel.name == "main"
    assert channel.main.url == "rtsp://127.0.0.1:8554/onvif1"
    assert (channel.main.codec, channel.main.width, channel.main.height) == ("h264", 1920, 1080)
    assert channel.sub is not None
    assert channel.sub.url == f"rtsp://127.0.0.1:{device.rtsp_port}/h264sub"
    assert (channel.sub.codec, channel.sub.width, channel.sub.height) == ("h264", 640, 360)
    assert channel.snapshot_url == (
        f"http://127.0.0.1:{device.port}/onvif-cgi/jpg/image.cgi?resolution=800x600&compression=20&camera=1"
    )
    for url in (channel.main.url, channel.sub.url, channel.snapshot_url):
        assert PASSWORD not in url
        assert "@" not in url
    assert device.auth_failures == 0


def test_strip_credentials() -> None:
    assert strip_credentials("rtsp://u:p@10.0.0.1:554/a?b=c") == "rtsp://10.0.0.1:554/a?b=c"
    assert strip_credentials("rtsp://u@[fe80::1]/a") == "rtsp://[fe80::1]/a"
    assert strip_credentials("rtsp://10.0.0.1/a") == "rtsp://10.0.0.1/a"


@pytest.mark.parametrize("status", [400, 401])
async def test_wrong_password(status: int) -> None:
    async with OnvifResponder(username=USER, password=PASSWORD, auth_fault_status=status) as device:
        client = OnvifClient(conn(device.port, "wrong"), timeout=5)
        with pytest.raises(DeviceError) as caught:
            await client.connect()
        await client.close()
    assert caught.value.reason is DeviceErrorReason.INVALID_AUTH
    assert "wrong" not in str(caught.value)
    assert device.auth_failures >= 1


async def _router_page(_request: web.Request) -> web.Response:
    return web.Response(text="<html><body>router</body></html>", content_type="text/html")


async def test_plain_http_server_is_not_onvif() -> None:
    app = web.Application()
    app.router.add_get("/", _router_page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = OnvifClient(conn(port), timeout=5)
        with pytest.raises(DeviceError) as caught:
            await client.connect()
        await client.close()
    finally:
        await runner.cleanup()
    assert caught.value.reason is DeviceErrorReason.NOT_SUPPORTED


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_silent_device_times_out(silent_port: int) -> None:
    client = OnvifClient(conn(silent_port), timeout=1.0)
    with pytest.raises(DeviceError) as caught:
        await client.connect()
    await client.close()
    assert caught.value.reason is DeviceErrorReason.TIMEOUT


async def test_nothing_listening_cannot_connect(silent_port: int) -> None:
    # A closed port: bind one, close it, connect to it.
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    client = OnvifClient(conn(port), timeout=2.0)
    with pytest.raises(DeviceError) as caught:
        await client.connect()
    await client.close()
    assert caught.value.reason is DeviceErrorReason.CANNOT_CONNECT


# -- events ----------------------------------------------------------------------------------------------------------


class Recorder:
    """What a subscription reports."""

    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self.states: list[str | None] = []

    def on_event(self, event: DeviceEvent) -> None:
        self.events.append(event)

    def on_state(self, state: str | None) -> None:
        self.states.append(state)

    def kinds(self) -> list[tuple[str, str, bool]]:
        return [(event.channel, event.kind, event.active) for event in self.events]


@pytest.fixture
async def run_subscription() -> AsyncIterator[Callable[..., Recorder]]:
    """Start ``OnvifEventSubscription(...).run()`` tasks; cancelled (and awaited) at teardown."""
    tasks: list[asyncio.Task[None]] = []

    def start(port: int, **kwargs: object) -> Recorder:
        recorder = Recorder()
        kwargs.setdefault("retry_delay", 0.1)
        kwargs.setdefault("timeout", 3.0)
        subscription = OnvifEventSubscription(conn(port), recorder.on_event, recorder.on_state, **kwargs)  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(subscription.run()))
        return recorder

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_motion_events(device: OnvifResponder, run_subscription: Callable[..., Recorder]) -> None:
    recorder = run_subscription(device.port)
    await wait_until(lambda: recorder.states == [None], what="subscribed")
    device.push_motion("vscfg0", True)  # the capture's VideoSourceConfigurationToken form
    device.push_motion("vscfg0", True)  # a repeat: no second event
    await wait_until(lambda: len(recorder.events) == 1, what="motion on")
    device.push_motion("vidsrc0", False, item="VideoSourceToken")
    await wait_until(lambda: len(recorder.events) == 2, what="motion off")
    device.push_message(
        "tns1:RuleEngine/FieldDetector/ObjectsInside", {"VideoSourceToken": "vidsrc0"}, {"IsInside": "true"}
    )
    device.push_message("tns1:Monitoring/ProcessorUsage", {"Token": "Processor"}, {"Value": "12"})  # ignored
    await wait_until(lambda: len(recorder.events) == 3, what="intrusion")
    assert recorder.kinds() == [
        ("vidsrc0", EVENT_MOTION, True),
        ("vidsrc0", EVENT_MOTION, False),
        ("vidsrc0", EVENT_INTRUSION, True),
    ]
    assert recorder.states == [None]
    assert device.subscriptions_created == 1


async def test_unsubscribes_when_cancelled(device: OnvifResponder) -> None:
    recorder = Recorder()
    subscription = OnvifEventSubscription(conn(device.port), recorder.on_event, recorder.on_state, retry_delay=0.1)
    task = asyncio.create_task(subscription.run())
    await wait_until(lambda: recorder.states == [None], what="subscribed")
    await wait_until(lambda: "PullMessages" in device.operations, what="pulling")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert device.unsubscribes == 1
    assert device.active_subscriptions == 0


async def test_renews_before_expiry(run_subscription: Callable[..., Recorder]) -> None:
    # The device grants 3 s whatever is asked: renewals must come before each grant runs out.
    async with OnvifResponder(username=USER, password=PASSWORD, termination_seconds=3.0) as device:
        recorder = run_subscription(device.port)
        await wait_until(lambda: device.renewals >= 3, timeout=12.0, what="three renewals")
        assert device.expired == 0
        assert device.subscriptions_created == 1
        assert recorder.states == [None]
        device.push_motion("vscfg0", True)
        await wait_until(lambda: len(recorder.events) == 1, what="motion after renewals")


async def test_resubscribes_when_the_subscription_is_lost(
    device: OnvifResponder, run_subscription: Callable[..., Recorder]
) -> None:
    recorder = run_subscription(device.port)
    await wait_until(lambda: recorder.states == [None], what="subscribed")
    device.push_motion("vscfg0", True)
    await wait_until(lambda: len(recorder.events) == 1, what="motion on")

    device.drop_subscriptions()  # a reboot: the next PullMessages gets a fault
    await wait_until(lambda: device.subscriptions_created == 2 and recorder.states[-1] is None, what="resubscribed")
    assert len(recorder.states) == 3
    assert recorder.states[0] is None
    assert isinstance(recorder.states[1], str)
    assert recorder.states[1]

    device.push_motion("vscfg0", False)
    await wait_until(lambda: len(recorder.events) == 2, what="events resume")
    assert recorder.kinds() == [("vidsrc0", EVENT_MOTION, True), ("vidsrc0", EVENT_MOTION, False)]


@pytest.mark.parametrize(
    ("events", "pullpoint"), [(False, True), (True, False)], ids=["no event service", "no pullpoint"]
)
async def test_a_device_without_events_is_not_supported_and_asked_again_hourly(events: bool, pullpoint: bool) -> None:
    async with OnvifResponder(username=USER, password=PASSWORD, events=events, pullpoint=pullpoint) as device:
        recorder = Recorder()
        subscription = OnvifEventSubscription(conn(device.port), recorder.on_event, recorder.on_state, retry_delay=0.1)
        task = asyncio.create_task(subscription.run())
        try:
            await wait_until(lambda: recorder.states, what="a state")
            assert recorder.states == [DeviceErrorReason.NOT_SUPPORTED.value], "the device answers: not a lost link"
            assert subscription.retry_in == onvif_events.UNSUPPORTED_RECHECK == 3600.0
            assert device.subscriptions_created == 0
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_channel_filter(device: OnvifResponder, run_subscription: Callable[..., Recorder]) -> None:
    recorder = run_subscription(device.port, channel_ids=["other"])
    await wait_until(lambda: recorder.states == [None], what="subscribed")
    device.push_motion("vscfg0", True)
    device.push_motion("other", True, item="VideoSourceToken")
    await wait_until(lambda: len(recorder.events) == 1, what="the wanted channel's event")
    assert recorder.kinds() == [("other", EVENT_MOTION, True)]


def test_topic_path() -> None:
    assert topic_path("\n  tns1:RuleEngine/CellMotionDetector/Motion\n ") == "RuleEngine/CellMotionDetector/Motion"
    assert topic_path("tns1:VideoSource/MotionAlarm//.") == "VideoSource/MotionAlarm"
