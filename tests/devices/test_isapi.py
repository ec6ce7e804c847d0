"""The Hikvision ISAPI client and alertStream reader against a loopback ISAPI peer (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from custom_components.nvr.const import MAX_NAME_LENGTH
from custom_components.nvr.devices.digest import DigestAuth, parse_challenges
from custom_components.nvr.devices.isapi import IsapiClient
from custom_components.nvr.devices.isapi_alerts import EventTracker, MultipartReader, parse_alert
from custom_components.nvr.devices.isapi_events import IsapiEventStream
from custom_components.nvr.devices.model import (
    EVENT_INTRUSION,
    EVENT_LINE_CROSSING,
    EVENT_MOTION,
    EVENT_TAMPER,
    EVENT_VIDEO_LOSS,
    DeviceConnection,
    DeviceError,
    DeviceErrorReason,
    DeviceEvent,
    Protocol,
)

from .isapi_server import NS_ISAPI, NS_V10, NS_V20, IsapiServer

HOST = "127.0.0.1"


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Let the loop run until predicate() is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)


def conn(server: IsapiServer, password: str | None = None) -> DeviceConnection:
    return DeviceConnection(HOST, server.port, server.username, server.password if password is None else password)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[IsapiServer]]]:
    """``await serve(**IsapiServer kwargs)`` -> a started server, stopped at teardown."""
    servers: list[IsapiServer] = []

    async def start(**kwargs: Any) -> IsapiServer:
        server = await IsapiServer(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def plain_http() -> AsyncIterator[Callable[[web.Application], Awaitable[int]]]:
    """``await plain_http(app)`` -> the port of a started non-ISAPI web server."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> int:
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, HOST, 0).start()
        runners.append(runner)
        return runner.addresses[0][1]

    yield start
    for runner in runners:
        await runner.cleanup()


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def device_info_requests(server: IsapiServer) -> int:
    return sum(1 for _, path in server.requests if path == "/ISAPI/System/deviceInfo")


# --- Digest --------------------------------------------------------------------------------------


def test_parse_challenges() -> None:
    challenges = parse_challenges(
        [
            'Digest realm="a, b", nonce="n1", qop="auth,auth-int", algorithm=SHA-256, stale=FALSE',
            'Basic realm="x", Digest realm="y", nonce="n2"',
        ]
    )
    assert challenges == [
        ("digest", {"realm": "a, b", "nonce": "n1", "qop": "auth,auth-int", "algorithm": "SHA-256", "stale": "FALSE"}),
        ("basic", {"realm": "x"}),
        ("digest", {"realm": "y", "nonce": "n2"}),
    ]
    assert "secret" not in repr(DigestAuth("admin", "secret"))


async def test_digest_right_password_reuses_the_challenge(serve, session) -> None:
    server = await serve()
    client = IsapiClient(session, conn(server))
    await client.device_info()
    assert device_info_requests(server) == 2  # challenge, answer
    await client.device_info()
    await client.device_info()
    assert device_info_requests(server) == 4  # later requests carry the answer at once
    assert client.auth.scheme == "digest"


async def test_digest_wrong_password(serve, session) -> None:
    server = await serve()
    with pytest.raises(DeviceError) as err:
        await IsapiClient(session, conn(server, "wrong")).device_info()
    assert err.value.reason is DeviceErrorReason.INVALID_AUTH
    assert "wrong" not in str(err.value)
    assert device_info_requests(server) == 2  # one answer only: devices lock accounts


async def test_password_changed_on_the_device(serve, session) -> None:
    server = await serve()
    client = IsapiClient(session, conn(server))
    await client.device_info()
    server.password = "changed"
    with pytest.raises(DeviceError) as err:
        await client.device_info()
    assert err.value.reason is DeviceErrorReason.INVALID_AUTH


async def test_stale_nonce_is_answered_again(serve, session) -> None:
    server = await serve()
    client = IsapiClient(session, conn(server))
    await client.device_info()
    server.expire_nonces()
    before = device_info_requests(server)
    await client.device_info()
    assert device_info_requests(server) == before + 2  # stale 401, then the new answer


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
async def test_digest_algorithms(serve, session, algorithm) -> None:
    server = await serve(algorithm=algorithm)
    info = await IsapiClient(session, conn(server)).device_info()
    assert info.model == "DS-7608NI-K2"
    with pytest.raises(DeviceError) as err:
        await IsapiClient(session, conn(server, "wrong")).device_info()
    assert err.value.reason is DeviceErrorReason.INVALID_AUTH


async def test_basic_only_device(serve, session) -> None:
    server = await serve(auth="basic")
    client = IsapiClient(session, conn(server))
    await client.device_info()
    assert client.auth.scheme == "basic"
    with pytest.raises(DeviceError) as err:
        await IsapiClient(session, conn(server, "wrong")).device_info()
    assert err.value.reason is DeviceErrorReason.INVALID_AUTH


# --- Device info, channels, RTSP port -------------------------------------------------------------


@pytest.mark.parametrize("namespace", [NS_V20, NS_V10, NS_ISAPI, ""])
async def test_device_info(serve, session, namespace) -> None:
    server = await serve(namespace=namespace)
    info = await IsapiClient(session, conn(server)).device_info()
    assert info.protocol is Protocol.ISAPI
    assert info.name == "Loopback NVR"
    assert info.manufacturer == "Hikvision"
    assert info.model == "DS-7608NI-K2"
    assert info.serial == "DS-7608NI-K20820230101CCRRJ00000001WCVU"
    assert info.firmware == "V4.61.025"
    assert info.mac == "bc:ad:28:00:00:01"


@pytest.mark.parametrize("namespace", [NS_V20, NS_ISAPI, ""])
async def test_recorder_channels(serve, session, namespace) -> None:
    server = await serve(kind="recorder", channel_count=4, offline=(3,), rtsp_port=8554, namespace=namespace)
    client = IsapiClient(session, conn(server))
    assert await client.rtsp_port() == 8554
    channels = await client.channels()
    assert [c.id for c in channels] == ["1", "2", "3", "4"]
    assert [c.name for c in channels] == ["Camera 01", "Camera 02", "Camera 03", "Camera 04"]
    assert [c.online for c in channels] == [True, True, False, True]
    first, second = channels[0], channels[1]
    assert first.main.url == f"rtsp://{HOST}:8554/Streaming/Channels/101"
    assert (first.main.codec, first.main.width, first.main.height) == ("h264", 1920, 1080)
    assert first.sub is not None
    assert first.sub.url == f"rtsp://{HOST}:8554/Streaming/Channels/102"
    assert (first.sub.codec, first.sub.width, first.sub.height) == ("h264", 640, 360)
    assert second.main.codec == "hevc"
    assert second.sub is None  # the device has no stream 202
    assert channels[3].main.url.endswith("/Streaming/Channels/401")
    assert first.snapshot_url == f"http://{HOST}:{server.port}/ISAPI/Streaming/channels/101/picture"
    for channel in channels:
        for url in (channel.main.url, channel.sub.url if channel.sub else "", channel.snapshot_url or ""):
            assert "admin" not in url
            assert "secret" not in url
            assert "@" not in url


async def test_recorder_without_status_list(serve, session) -> None:
    server = await serve(kind="recorder", channel_count=2, offline=(2,), status_list=False)
    channels = await IsapiClient(session, conn(server)).channels()
    assert [c.online for c in channels] == [True, True]  # unknown counts as online


async def test_recorder_streams_under_streaming_proxy(serve, session) -> None:
    server = await serve(kind="recorder", channel_count=2, offline=(), streaming_proxy=True)
    channels = await IsapiClient(session, conn(server)).channels()
    assert [(c.main.codec, c.main.width) for c in channels] == [("h264", 1920), ("hevc", 1920)]
    assert ("GET", "/ISAPI/ContentMgmt/StreamingProxy/channels") in server.requests


async def test_long_channel_names_from_the_device_are_shortened(serve, session) -> None:
    server = await serve(kind="recorder", channel_count=3, offline=())
    server.channels[0].name = "Gate\n  " * 2000
    server.channels[1].name = "门口摄像机" * 20
    server.channels[2].name = "대문" * 32
    names = [c.name for c in await IsapiClient(session, conn(server)).channels()]
    assert names[0] == ("Gate " * 13)[: MAX_NAME_LENGTH - 1].rstrip() + "…", "spaces and newlines made one space"
    assert names[1] == ("门口摄像机" * 20)[: MAX_NAME_LENGTH - 1] + "…", "characters are counted, not bytes"
    assert names[2] == "대문" * 32, "a name of the limit's length is kept whole"


async def test_snapshot_url_answers_with_digest(serve, session) -> None:
    server = await serve(kind="camera")
    client = IsapiClient(session, conn(server))
    channel = (await client.channels())[0]
    assert channel.snapshot_url is not None
    async with await client.auth.request(session, "GET", channel.snapshot_url) as response:
        assert response.status == 200
        assert response.content_type == "image/jpeg"
        assert (await response.read())[:2] == b"\xff\xd8"


async def test_camera_channels(serve, session) -> None:
    server = await serve(kind="camera", rtsp_port=10554)
    client = IsapiClient(session, conn(server))
    info = await client.device_info()
    assert info.name == "Loopback Camera"
    channels = await client.channels()
    assert len(channels) == 1
    channel = channels[0]
    assert (channel.id, channel.name, channel.online) == ("1", "Camera 01", True)
    assert channel.main.url == f"rtsp://{HOST}:10554/Streaming/Channels/101"
    assert channel.sub is not None
    assert channel.sub.url == f"rtsp://{HOST}:10554/Streaming/Channels/102"
    assert ("GET", "/ISAPI/ContentMgmt/InputProxy/channels") in server.requests
    assert ("GET", "/ISAPI/System/Video/inputs/channels") in server.requests


async def test_rtsp_port_not_reported(serve, session) -> None:
    server = await serve(kind="camera", rtsp_port=None)
    client = IsapiClient(session, conn(server))
    assert await client.rtsp_port() == 554
    channels = await client.channels()
    assert channels[0].main.url == f"rtsp://{HOST}:554/Streaming/Channels/101"


async def test_no_channels(serve, session) -> None:
    server = await serve(kind="empty")
    client = IsapiClient(session, conn(server))
    await client.device_info()
    with pytest.raises(DeviceError) as err:
        await client.channels()
    assert err.value.reason is DeviceErrorReason.NO_CHANNELS


async def test_channels_wrong_password(serve, session) -> None:
    server = await serve()
    with pytest.raises(DeviceError) as err:
        await IsapiClient(session, conn(server, "wrong")).channels()
    assert err.value.reason is DeviceErrorReason.INVALID_AUTH


# --- Not ISAPI, timeout, refused -----------------------------------------------------------------


async def test_http_server_that_is_not_isapi(plain_http, session) -> None:
    async def html_404(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html><body>Not Found</body></html>", content_type="text/html")

    async def html_200(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Router login</body></html>", content_type="text/html")

    for handler in (html_404, html_200):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        port = await plain_http(app)
        with pytest.raises(DeviceError) as err:
            await IsapiClient(session, DeviceConnection(HOST, port, "admin", "secret")).device_info()
        assert err.value.reason is DeviceErrorReason.NOT_SUPPORTED, handler.__name__


async def test_timeout(silent_server, session) -> None:
    client = IsapiClient(session, DeviceConnection(HOST, silent_server.port, "admin", "secret"), timeout=1.0)
    with pytest.raises(DeviceError) as err:
        await client.device_info()
    assert err.value.reason is DeviceErrorReason.TIMEOUT


async def test_refused(session) -> None:
    client = IsapiClient(session, DeviceConnection(HOST, free_port(), "admin", "secret"))
    with pytest.raises(DeviceError) as err:
        await client.device_info()
    assert err.value.reason is DeviceErrorReason.CANNOT_CONNECT


# --- Event parsing and dedup (no network) -------------------------------------------------------


def test_event_tracker() -> None:
    tracker = EventTracker(hold=5.0)
    assert tracker.update("1", EVENT_MOTION, True, now=0.0) is True
    assert tracker.update("1", EVENT_MOTION, True, now=1.0) is None  # repeated
    assert tracker.update("2", EVENT_MOTION, True, now=1.0) is True  # another channel
    assert tracker.update("1", EVENT_TAMPER, True, now=1.0) is True  # another kind
    assert tracker.next_expiry() == 6.0
    assert tracker.update("1", EVENT_MOTION, False, now=2.0) is False
    assert tracker.update("1", EVENT_MOTION, False, now=2.5) is None  # nothing going on
    assert tracker.update("0", EVENT_VIDEO_LOSS, False, now=3.0) is None  # heartbeat
    assert tracker.expire(now=5.9) == []
    assert sorted(tracker.expire(now=6.0)) == [("1", EVENT_TAMPER), ("2", EVENT_MOTION)]
    assert tracker.active == set()
    assert tracker.next_expiry() is None


def _alert(channel: int, event_type: str, state: str, field: str = "channelID") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<EventNotificationAlert version="2.0" xmlns="{NS_V20}">'
        f"<{field}>{channel}</{field}><eventType>{event_type}</eventType><eventState>{state}</eventState>"
        "</EventNotificationAlert>"
    ).encode()


def test_parse_alert() -> None:
    alert = parse_alert(_alert(3, "VMD", "active"))
    assert alert is not None
    assert (alert.channel, alert.event_type, alert.active) == ("3", "VMD", True)
    alert = parse_alert(_alert(5, "linedetection", "inactive", field="dynChannelID"))
    assert alert is not None
    assert (alert.channel, alert.active) == ("5", False)
    alert = parse_alert(b'{"channelID": 2, "eventType": "fielddetection", "eventState": "active"}')
    assert alert is not None
    assert (alert.channel, alert.event_type) == ("2", "fielddetection")
    assert parse_alert(b"<ResponseStatus/>") is None
    assert parse_alert(b'<!DOCTYPE x [<!ENTITY a "b">]><EventNotificationAlert/>') is None


@pytest.mark.parametrize("lengths", [True, False])
@pytest.mark.parametrize("line_end", [b"\r\n", b"\n"])
def test_multipart_reader_byte_by_byte(lengths: bool, line_end: bytes) -> None:
    bodies = [_alert(1, "VMD", "active"), _alert(2, "videoloss", "inactive")]
    picture = b"\xff\xd8" + b"--boundary" + b"\x00" * 100 + b"\xff\xd9"
    stream = b"preamble junk" + line_end
    for body in bodies[:1]:
        stream += b"--boundary" + line_end + b"Content-Type: application/xml" + line_end
        if lengths:
            stream += b"Content-Length: %d" % len(body) + line_end
        stream += line_end + body + line_end
    if lengths:  # a picture part can only be skipped by its length
        stream += b"--boundary" + line_end + b"Content-Type: image/jpeg" + line_end
        stream += b"Content-Length: %d" % len(picture) + line_end + line_end + picture + line_end
    stream += b"--boundary" + line_end + bodies[1] + line_end  # no headers, no blank line
    stream += b"--boundary" + line_end
    reader = MultipartReader("boundary")
    parts = [part for i in range(len(stream)) for part in reader.feed(stream[i : i + 1])]
    assert [p.strip() for p in parts] == bodies


def test_multipart_reader_without_boundary() -> None:
    reader = MultipartReader(None)
    body = _alert(1, "VMD", "active")
    parts = reader.feed(b"junk" + body[:50]) + reader.feed(body[50:] + b"\r\n" + body)
    assert len(parts) == 2
    assert all(parse_alert(p) is not None for p in parts)


# --- alertStream against the server ---------------------------------------------------------------


class Watcher:
    """Runs an IsapiEventStream and records what it reports."""

    def __init__(self, session: aiohttp.ClientSession, connection: DeviceConnection, **kwargs: Any) -> None:
        self.events: list[DeviceEvent] = []
        self.states: list[str | None] = []
        self.stream = IsapiEventStream(session, connection, self.events.append, self.states.append, **kwargs)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> Watcher:
        self.task = asyncio.create_task(self.stream.run())
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def summary(self) -> list[tuple[str, str, bool]]:
        return [(e.channel, e.kind, e.active) for e in self.events]


@pytest.fixture
async def watch(session) -> AsyncIterator[Callable[..., Watcher]]:
    """``watch(connection, **IsapiEventStream kwargs)`` -> a running Watcher, stopped at teardown."""
    watchers: list[Watcher] = []

    def start(connection: DeviceConnection, **kwargs: Any) -> Watcher:
        kwargs.setdefault("retry_delay", 0.05)
        watcher = Watcher(session, connection, **kwargs).start()
        watchers.append(watcher)
        return watcher

    yield start
    for watcher in watchers:
        await watcher.stop()


async def connected(server: IsapiServer, watcher: Watcher, connections: int = 1) -> None:
    await until(
        lambda: server.open_streams == 1 and server.alert_connections == connections and watcher.states[-1:] == [None],
        what=f"alert stream connection {connections}",
    )


@pytest.mark.parametrize("part_lengths", [True, False])
async def test_events_mapped_and_deduped(serve, watch, part_lengths) -> None:
    server = await serve(part_lengths=part_lengths)
    watcher = watch(conn(server), hold=30.0)
    await connected(server, watcher)
    for _ in range(3):  # Hikvision repeats "active" while the event goes on
        server.push_event(1, "VMD", "active")
    server.push_event(2, "linedetection", "active")
    server.push_event(3, "fielddetection", "active", id_field="dynChannelID")
    server.push_event(4, "tamperdetection", "active")
    server.push_event(1, "shelteralarm", "active")  # also tamper: same (channel, kind) as below
    server.push_event(1, "tamperdetection", "active")
    server.push_event(2, "videoloss", "active")
    server.push_event(0, "videoloss", "inactive")  # heartbeat: nothing going on, nothing to report
    server.push_event(1, "diskfull", "active")  # not ours: ignored
    server.push_event(1, "VMD", "active")
    server.push_event(1, "VMD", "inactive")
    server.push_event(2, "linedetection", "inactive")
    await until(lambda: len(watcher.events) >= 8, what="8 events")
    assert watcher.summary() == [
        ("1", EVENT_MOTION, True),
        ("2", EVENT_LINE_CROSSING, True),
        ("3", EVENT_INTRUSION, True),
        ("4", EVENT_TAMPER, True),
        ("1", EVENT_TAMPER, True),
        ("2", EVENT_VIDEO_LOSS, True),
        ("1", EVENT_MOTION, False),
        ("2", EVENT_LINE_CROSSING, False),
    ]
    assert all(e.time > 0 for e in watcher.events)
    assert watcher.states == [None]


async def test_heartbeats_keep_the_stream_alive(serve, watch) -> None:
    server = await serve(heartbeat=0.1)
    watcher = watch(conn(server), idle_timeout=0.5)
    await connected(server, watcher)
    await asyncio.sleep(1.5)  # three idle timeouts' worth of heartbeats only
    assert server.alert_connections == 1
    assert watcher.states == [None]
    assert watcher.events == []


async def test_silent_stream_counts_as_dropped(serve, watch) -> None:
    server = await serve(heartbeat=None)
    watcher = watch(conn(server), idle_timeout=0.3)
    await connected(server, watcher)
    await until(lambda: "timeout" in watcher.states, what="idle timeout reported")
    await until(lambda: server.alert_connections >= 2 and watcher.states[-1] is None, what="reconnect")


async def test_drop_and_reconnect_without_a_second_active(serve, watch) -> None:
    server = await serve(heartbeat=0.2)
    watcher = watch(conn(server), hold=30.0)
    await connected(server, watcher)
    server.push_event(1, "VMD", "active")
    await until(lambda: len(watcher.events) == 1, what="active")
    server.drop_streams()
    await until(lambda: "cannot_connect" in watcher.states, what="drop reported")
    await connected(server, watcher, connections=2)
    assert watcher.states == [None, "cannot_connect", None]
    server.push_event(1, "VMD", "active")  # the event still goes on: no new start
    server.push_event(2, "VMD", "active")
    server.push_event(1, "VMD", "inactive")
    await until(lambda: len(watcher.events) >= 3, what="3 events")
    assert watcher.summary() == [("1", EVENT_MOTION, True), ("2", EVENT_MOTION, True), ("1", EVENT_MOTION, False)]


async def test_hold_ends_an_event(serve, watch) -> None:
    server = await serve(heartbeat=0.1)
    watcher = watch(conn(server), hold=0.3)
    await connected(server, watcher)
    server.push_event(1, "linedetection", "active")
    await until(lambda: len(watcher.events) >= 2, what="start and end")
    assert watcher.summary() == [("1", EVENT_LINE_CROSSING, True), ("1", EVENT_LINE_CROSSING, False)]
    server.push_event(1, "linedetection", "active")  # a new event after the end starts again
    await until(lambda: len(watcher.events) >= 3, what="second start")
    assert watcher.summary()[2] == ("1", EVENT_LINE_CROSSING, True)


async def test_hold_ends_an_event_across_a_drop(serve, watch) -> None:
    server = await serve()
    watcher = watch(conn(server), hold=0.3, retry_delay=0.2)
    await connected(server, watcher)
    server.push_event(1, "VMD", "active")
    await until(lambda: len(watcher.events) == 1, what="active")
    await server.stop()  # the device goes away while the event goes on
    await until(lambda: len(watcher.events) == 2, what="end by hold while disconnected")
    assert watcher.summary() == [("1", EVENT_MOTION, True), ("1", EVENT_MOTION, False)]
    assert watcher.states[-1] == "cannot_connect"


async def test_alert_stream_invalid_auth(serve, watch) -> None:
    server = await serve()
    server.password = "changed"
    watcher = watch(conn(server, "secret"), retry_delay=0.05)
    await until(lambda: watcher.states == ["invalid_auth"], what="invalid_auth reported")
    server.password = "secret"  # fixed on the device: the slower retry gets in
    await connected(server, watcher)
    assert watcher.states == ["invalid_auth", None]


async def test_alert_stream_refused_then_up(session, watch) -> None:
    port = free_port()
    watcher = watch(DeviceConnection(HOST, port, "admin", "secret"))
    await until(lambda: watcher.states == ["cannot_connect"], what="cannot_connect reported")
    server = IsapiServer()
    server.port = port  # the device comes up on the port the stream tries
    await server.start()
    try:
        await connected(server, watcher)
        server.push_event(1, "VMD", "active")
        await until(lambda: watcher.summary() == [("1", EVENT_MOTION, True)], what="event after recovery")
    finally:
        await server.stop()


async def test_alert_stream_not_isapi(plain_http, watch) -> None:
    async def not_found(_request: web.Request) -> web.Response:
        return web.Response(status=404, text="<html></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", not_found)
    port = await plain_http(app)
    watcher = watch(DeviceConnection(HOST, port, "admin", "secret"))
    await until(lambda: watcher.states == ["not_supported"], what="not_supported reported")
