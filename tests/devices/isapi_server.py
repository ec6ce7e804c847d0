"""A loopback Hikvision ISAPI peer for the device client tests (127.0.0.1 only).

:class:`IsapiServer` answers the ISAPI requests the integration makes with
the response shapes in ``fixtures/isapi/`` (see each file's header for
where the shape comes from), behind Digest authentication like a real
device, as a recorder (InputProxy channels, some offline), a camera (one
video input) or a device with no channels. Its alertStream is a real
``multipart/mixed`` stream fed by :meth:`IsapiServer.push_event` and by
optional "videoloss inactive" heartbeats.

Usable from pytest-asyncio tests and HA's test harness alike: everything
runs in the calling event loop (``await server.start()`` ...
``await server.stop()``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from aiohttp import web
from PIL import Image

from custom_components.nvr.devices.digest import parse_challenges

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "isapi"
NS_V20 = "http://www.hikvision.com/ver20/XMLSchema"
NS_V10 = "http://www.hikvision.com/ver10/XMLSchema"
NS_ISAPI = "http://www.isapi.org/ver20/XMLSchema"
BOUNDARY = "boundary"
"""What Hikvision cameras send: ``Content-Type: multipart/mixed; boundary=boundary``."""

_COMMENT = re.compile(r"<!--.*?-->\s*", re.DOTALL)


def fixture(name: str) -> Template:
    """A response shape from fixtures/isapi, header comment removed."""
    return Template(_COMMENT.sub("", (FIXTURES / name).read_text()))


@dataclass
class Channel:
    """One channel of the fake device."""

    number: int
    name: str
    online: bool = True
    codec: str = "H.264"
    width: int = 1920
    height: int = 1080
    sub: bool = True
    sub_codec: str = "H.264"
    sub_width: int = 640
    sub_height: int = 360


@dataclass
class _AlertStream:
    """An open alertStream response."""

    queue: asyncio.Queue[bytes | None]
    request: web.Request
    task: asyncio.Task[None] | None = None


@dataclass
class IsapiServer:
    """Fake Hikvision device: ``kind`` is "recorder", "camera" or "empty"."""

    kind: str = "recorder"
    channel_count: int = 4
    offline: tuple[int, ...] = (3,)
    username: str = "admin"
    password: str = "secret"
    rtsp_port: int | None = 554
    """Reported in adminAccesses (None: adminAccesses answers 404)."""
    namespace: str = NS_V20
    auth: str = "digest"
    """ "digest", "basic" (Basic only) or "none"."""
    algorithm: str = "MD5"
    heartbeat: float | None = None
    """Seconds between "videoloss inactive" heartbeats on the alert streams (None: none)."""
    part_lengths: bool = True
    """Send Content-Length on each alert part (some firmwares do not)."""
    status_list: bool = True
    """Whether InputProxy/channels/status answers."""
    streaming_proxy: bool = False
    """List a recorder's streams under ContentMgmt/StreamingProxy/channels (Streaming/channels then lists none)."""
    channels: list[Channel] = field(default_factory=list)
    host: str = "127.0.0.1"
    realm: str = "DS-7608NI-K2"

    def __post_init__(self) -> None:
        """Build the channel list from the counts unless given."""
        if not self.channels and self.kind != "empty":
            count = 1 if self.kind == "camera" else self.channel_count
            codecs = ("H.264", "H.265", "MJPEG")
            self.channels = [
                Channel(
                    number=n,
                    name=f"Camera {n:02d}" if self.kind == "recorder" else "Camera 01",
                    online=n not in self.offline or self.kind == "camera",
                    codec=codecs[(n - 1) % 2],
                    sub=n != 2,  # channel 2 has no sub stream
                )
                for n in range(1, count + 1)
            ]
        self.port = 0
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request, authenticated or not."""
        self.alert_connections = 0
        """alertStream connections accepted so far."""
        self._streams: list[_AlertStream] = []
        self._nonces: dict[str, set[int] | None] = {}
        """Nonces handed out -> nonce counts seen (None once expired)."""
        self._runner: web.AppRunner | None = None
        self._post_count = 0

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> IsapiServer:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_get("/ISAPI/System/deviceInfo", self._device_info)
        app.router.add_get("/ISAPI/ContentMgmt/InputProxy/channels", self._input_proxy)
        app.router.add_get("/ISAPI/ContentMgmt/InputProxy/channels/status", self._input_proxy_status)
        app.router.add_get("/ISAPI/System/Video/inputs/channels", self._video_inputs)
        app.router.add_get("/ISAPI/Streaming/channels", self._streaming)
        app.router.add_get("/ISAPI/ContentMgmt/StreamingProxy/channels", self._streaming_proxy)
        app.router.add_get("/ISAPI/Streaming/channels/{stream_id:[0-9]+}/picture", self._picture)
        app.router.add_get("/ISAPI/Security/adminAccesses", self._admin_accesses)
        app.router.add_get("/ISAPI/Event/notification/alertStream", self._alert_stream)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port or 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close the alert streams and stop listening."""
        self.drop_streams()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> IsapiServer:
        """Start."""
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        """Stop."""
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://{self.host}:{self.port}"

    # --- test controls -------------------------------------------------------------------------

    def expire_nonces(self) -> None:
        """Forget the nonces handed out: the next answer to one gets 401 with stale=true."""
        self._nonces = dict.fromkeys(self._nonces)

    @property
    def open_streams(self) -> int:
        """alertStream connections open now."""
        return len(self._streams)

    def push_event(self, channel: int, event_type: str, state: str = "active", *, id_field: str = "channelID") -> None:
        """Send an EventNotificationAlert to every open alert stream."""
        self._post_count = self._post_count + 1 if state == "active" else 0
        body = fixture("event_notification_alert.xml").substitute(
            ns=self.namespace,
            channel_field=id_field,
            channel=channel,
            date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            count=max(self._post_count, 1),
            event_type=event_type,
            state=state,
            description=f"{event_type} alarm",
        )
        self.push_raw(body.encode())

    def push_raw(self, body: bytes) -> None:
        """Send one part (any bytes) to every open alert stream."""
        for stream in self._streams:
            stream.queue.put_nowait(body)

    def drop_streams(self) -> None:
        """Close every alert stream abruptly (the TCP connection, mid-stream)."""
        for stream in self._streams:
            transport = stream.request.transport
            if transport is not None:
                transport.abort()
            stream.queue.put_nowait(None)
        self._streams.clear()

    # --- auth ----------------------------------------------------------------------------------

    def _challenge(self, stale: bool = False) -> dict[str, str]:
        """The WWW-Authenticate header for a 401."""
        if self.auth == "basic":
            return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = set()
        algorithm = "" if self.algorithm == "MD5" else f', algorithm="{self.algorithm}"'
        return {
            "WWW-Authenticate": (
                f'Digest qop="auth", realm="{self.realm}", nonce="{nonce}", '
                f'stale="{"TRUE" if stale else "FALSE"}"{algorithm}'
            )
        }

    def _authorized(self, request: web.Request) -> tuple[bool, bool]:
        """(authorized, stale nonce) for a request."""
        if self.auth == "none":
            return True, False
        header = request.headers.get("Authorization", "")
        if self.auth == "basic":
            if not header.startswith("Basic "):
                return False, False
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False, False
            return (user == self.username and password == self.password), False
        parsed = parse_challenges([header])
        if not parsed or parsed[0][0] != "digest":
            return False, False
        params = parsed[0][1]
        nonce = params.get("nonce", "")
        if nonce not in self._nonces or params.get("username") != self.username or params.get("realm") != self.realm:
            return False, False
        if params.get("uri") != request.raw_path:
            return False, False
        hash_fn = hashlib.sha256 if self.algorithm.upper().startswith("SHA-256") else hashlib.md5

        def digest(data: str) -> str:
            return hash_fn(data.encode()).hexdigest()

        ha1 = digest(f"{self.username}:{self.realm}:{self.password}")
        ha2 = digest(f"{request.method}:{params['uri']}")
        nc = params.get("nc", "")
        expected = digest(f"{ha1}:{nonce}:{nc}:{params.get('cnonce', '')}:{params.get('qop', '')}:{ha2}")
        if params.get("response") != expected:
            return False, False
        seen = self._nonces[nonce]
        if seen is None:
            return False, True  # expired: stale
        count = int(nc, 16) if nc else 0
        if count in seen:
            return False, False  # replayed nonce count
        seen.add(count)
        return True, False

    def _deny(self, request: web.Request, stale: bool = False) -> web.Response:
        """401 with a challenge and an ISAPI ResponseStatus body."""
        body = fixture("response_status.xml").substitute(
            ns=self.namespace, url=request.path, code=4, status="Invalid Operation", sub="unauthorized"
        )
        return web.Response(status=401, text=body, content_type="application/xml", headers=self._challenge(stale))

    def _check(self, request: web.Request) -> web.Response | None:
        """Record the request; a 401 response unless it is authorized."""
        self.requests.append((request.method, request.path))
        ok, stale = self._authorized(request)
        return None if ok else self._deny(request, stale)

    # --- documents -----------------------------------------------------------------------------

    def _xml(self, body: str) -> web.Response:
        return web.Response(text=body, content_type="application/xml", charset="UTF-8")

    def _list(self, tag: str, items: list[str]) -> web.Response:
        head = '<?xml version="1.0" encoding="UTF-8"?>\n'
        return self._xml(f'{head}<{tag} version="2.0" xmlns="{self.namespace}">\n{"".join(items)}</{tag}>\n')

    def _not_supported(self, request: web.Request) -> web.Response:
        body = fixture("response_status.xml").substitute(
            ns=self.namespace, url=request.path, code=4, status="Invalid Operation", sub="notSupport"
        )
        return web.Response(status=404, text=body, content_type="application/xml")

    async def _not_found(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        return self._not_supported(request)

    async def _device_info(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        recorder = self.kind != "camera"
        return self._xml(
            fixture("device_info.xml").substitute(
                ns=self.namespace,
                name="Loopback NVR" if recorder else "Loopback Camera",
                model="DS-7608NI-K2" if recorder else "DS-2CD2143G2-I",
                serial="DS-7608NI-K20820230101CCRRJ00000001WCVU" if recorder else "DS-2CD2143G20120230101AAWRJ0001",
                mac="bc:ad:28:00:00:01",
                firmware="V4.61.025" if recorder else "V5.7.13",
                device_type="NVR" if recorder else "IPCamera",
            )
        )

    async def _input_proxy(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        if self.kind == "camera":
            return self._not_supported(request)
        item = fixture("input_proxy_channel.xml")
        return self._list(
            "InputProxyChannelList",
            [item.substitute(id=c.number, name=c.name, ip=f"192.0.2.{10 + c.number}") for c in self.channels],
        )

    async def _input_proxy_status(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        if self.kind == "camera" or not self.status_list:
            return self._not_supported(request)
        item = fixture("input_proxy_channel_status.xml")
        return self._list(
            "InputProxyChannelStatusList",
            [
                item.substitute(
                    id=c.number,
                    ip=f"192.0.2.{10 + c.number}",
                    online="true" if c.online else "false",
                    detect="connect" if c.online else "offline",
                )
                for c in self.channels
            ],
        )

    async def _video_inputs(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        if self.kind == "recorder":
            # NVRs answer 403 here (no analog inputs).
            return web.Response(status=403, text="", content_type="application/xml")
        item = fixture("video_input_channel.xml")
        return self._list("VideoInputChannelList", [item.substitute(id=c.number, name=c.name) for c in self.channels])

    async def _streaming(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        return self._streams_list(() if self.streaming_proxy else self.channels)

    async def _streaming_proxy(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        if not self.streaming_proxy:
            return self._not_supported(request)
        return self._streams_list(self.channels)

    async def _picture(self, request: web.Request) -> web.Response:
        """A small JPEG for a channel's snapshot (``/ISAPI/Streaming/channels/101/picture``)."""
        if (denied := self._check(request)) is not None:
            return denied
        stream_id = int(request.match_info["stream_id"])
        if stream_id // 100 not in {c.number for c in self.channels}:
            return self._not_supported(request)
        image = Image.new("RGB", (64, 36), ((stream_id * 40) % 256, 96, 160))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG")
        return web.Response(body=buffer.getvalue(), content_type="image/jpeg")

    def _streams_list(self, channels: Iterable[Channel]) -> web.Response:
        item = fixture("streaming_channel.xml")
        items = []
        for c in channels:
            items.append(
                item.substitute(
                    id=c.number * 100 + 1, name=c.name, channel=c.number, codec=c.codec, width=c.width, height=c.height
                )
            )
            if c.sub:
                items.append(
                    item.substitute(
                        id=c.number * 100 + 2,
                        name=c.name,
                        channel=c.number,
                        codec=c.sub_codec,
                        width=c.sub_width,
                        height=c.sub_height,
                    )
                )
        return self._list("StreamingChannelList", items)

    async def _admin_accesses(self, request: web.Request) -> web.Response:
        if (denied := self._check(request)) is not None:
            return denied
        if self.rtsp_port is None:
            return self._not_supported(request)
        return self._xml(
            fixture("admin_accesses.xml").substitute(ns=self.namespace, http_port=self.port, rtsp_port=self.rtsp_port)
        )

    # --- alert stream --------------------------------------------------------------------------

    def _part(self, body: bytes) -> bytes:
        """One multipart part as Hikvision frames it."""
        head = f'--{BOUNDARY}\r\nContent-Type: application/xml; charset="UTF-8"\r\n'
        if self.part_lengths:
            head += f"Content-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body + b"\r\n"

    def _heartbeat(self) -> bytes:
        """A "videoloss inactive" notification (channel 0), Hikvision's keep-alive."""
        return (
            fixture("event_notification_alert.xml")
            .substitute(
                ns=self.namespace,
                channel_field="channelID",
                channel=0,
                date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                count=0,
                event_type="videoloss",
                state="inactive",
                description="videoloss alarm",
            )
            .encode()
        )

    async def _alert_stream(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check(request)) is not None:
            return denied
        response = web.StreamResponse(
            status=200, headers={"Content-Type": f"multipart/mixed; boundary={BOUNDARY}", "Connection": "close"}
        )
        await response.prepare(request)
        stream = _AlertStream(queue=asyncio.Queue(), request=request)
        self._streams.append(stream)
        self.alert_connections += 1
        try:
            while True:
                try:
                    if self.heartbeat is None:
                        body = await stream.queue.get()
                    else:
                        async with asyncio.timeout(self.heartbeat):
                            body = await stream.queue.get()
                except TimeoutError:
                    body = self._heartbeat()
                if body is None:
                    break
                await response.write(self._part(body))
        except ConnectionError:
            pass
        finally:
            if stream in self._streams:
                self._streams.remove(stream)
        return response
