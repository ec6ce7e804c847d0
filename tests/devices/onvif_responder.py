"""A loopback ONVIF device: answers SOAP requests by replaying captured device replies.

The replies under ``fixtures/onvif/`` were captured from real devices (see the
README there). This module only fills their placeholders (``{{port}}``,
``{{rtsp_port}}``, ``{{pull_point_path}}``, times), adds a sub-stream profile
cloned from the captured one, and writes the replies the captures lack (Renew,
faults) in the shape the ONVIF / WS-BaseNotification specs give.

It listens on 127.0.0.1 only, on a random port, and never connects anywhere:
the addresses inside the captures were rewritten to 127.0.0.1.

Usage::

    async with OnvifResponder(password="secret") as device:
        client = OnvifClient(DeviceConnection("127.0.0.1", device.port, "admin", "secret"))
        ...
        device.push_motion("vscfg0", True)  # queued to every live PullPoint subscription
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from aiohttp import web
from lxml import etree

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "onvif"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
"""Parses the fixtures and the client's requests (loopback only): no entities, no network."""


def _parse(data: bytes) -> etree._Element:
    """Parse XML without entity expansion or network access."""
    return etree.fromstring(data, _PARSER)  # noqa: S320 - hardened parser, own fixtures and loopback requests


NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa5": "http://www.w3.org/2005/08/addressing",
    "tt": "http://www.onvif.org/ver10/schema",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}

# Operations a device answers without a WS-Security header (ONVIF Core: PRE_AUTH).
PRE_AUTH = frozenset({"GetSystemDateAndTime"})

MOTION_TOPIC = "tns1:RuleEngine/CellMotionDetector/Motion"

# Written from the WS-BaseNotification / WS-ResourceFramework specs: the captures have no Renew reply.
RENEW_BODY = """<wsnt:RenewResponse xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2">
      <wsnt:TerminationTime>{termination_time}</wsnt:TerminationTime>
      <wsnt:CurrentTime>{current_time}</wsnt:CurrentTime>
    </wsnt:RenewResponse>"""


# Written from the ONVIF Core spec's SOAP fault shape (the npm capture Error.xml is a template that does not parse).
FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"
    xmlns:wsrf-r="http://docs.oasis-open.org/wsrf/r-2">
  <env:Body>
    <env:Fault>
      <env:Code>
        <env:Value>env:Sender</env:Value>
        <env:Subcode><env:Value>{subcode}</env:Value></env:Subcode>
      </env:Code>
      <env:Reason><env:Text xml:lang="en">{reason}</env:Text></env:Reason>
    </env:Fault>
  </env:Body>
</env:Envelope>"""


def _iso(when: float) -> str:
    """An xs:dateTime in UTC with milliseconds, as the captures write it."""
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _duration_seconds(text: str | None, default: float) -> float:
    """Seconds of a simple xs:duration such as ``PT5S`` / ``PT1M30S`` (other forms: ``default``)."""
    match = re.fullmatch(r"\s*PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?\s*", text or "")
    if not match or not any(match.groups()):
        return default
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@dataclass
class _Message:
    """A notification the test pushed."""

    topic: str
    source: dict[str, str]
    data: dict[str, str]
    utc_time: float


@dataclass
class _Subscription:
    """A PullPoint subscription the responder granted."""

    id: str
    expires: float
    queue: list[_Message] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


class OnvifResponder:
    """An ONVIF device (device, media and events services) on 127.0.0.1 replaying captured replies.

    Counters for tests: ``renewals``, ``subscriptions_created``, ``unsubscribes``,
    ``expired`` (requests to a subscription after its termination time),
    ``auth_failures`` and ``operations`` (every operation name received, in order).
    """

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "secret",  # noqa: S107
        termination_seconds: float | None = None,
        pull_wait: float = 1.0,
        auth_fault_status: int = 400,
        rtsp_port: int = 8554,
        events: bool = True,
        pullpoint: bool = True,
    ) -> None:
        """Prepare the device; ``start()`` (or ``async with``) listens.

        ``termination_seconds``: what the device grants for a subscription and a
        renewal (``None``: what the client asks for, 60 s if it does not ask).
        ``pull_wait``: the longest a PullMessages waits for a message (the
        client's Timeout if shorter). ``auth_fault_status``: the HTTP status of
        the NotAuthorized fault (real devices send 400 or 401). ``events``: the
        capabilities and services list the event service (False: a camera without
        one, its GetCapabilities and GetServices replies shorn of it).
        ``pullpoint``: CreatePullPointSubscription works (False: it answers
        ter:ActionNotSupported, as devices that only push events do).
        """
        self.events = events
        self.pullpoint = pullpoint
        self.username = username
        self.password = password
        self.termination_seconds = termination_seconds
        self.pull_wait = pull_wait
        self.auth_fault_status = auth_fault_status
        self.rtsp_port = rtsp_port
        self.renewals = 0
        self.subscriptions_created = 0
        self.unsubscribes = 0
        self.expired = 0
        self.auth_failures = 0
        self.operations: list[str] = []
        self.fail_pulls = False
        """When set, every PullMessages gets a fault (a device that lost its subscriptions)."""
        self._stream_uris: dict[str, str] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- life cycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a random port."""
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and wake any waiting PullMessages."""
        for sub in self._subscriptions.values():
            sub.wakeup.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        """Start."""
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop."""
        await self.stop()

    # -- what tests change -----------------------------------------------------------------------------------------

    @property
    def device_url(self) -> str:
        """The device service address."""
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    @property
    def active_subscriptions(self) -> int:
        """How many subscriptions are alive (not unsubscribed, dropped or expired)."""
        now = time.monotonic()
        return sum(1 for sub in self._subscriptions.values() if sub.expires > now)

    def set_stream_uri(self, profile_token: str, uri: str) -> None:
        """What GetStreamUri answers for a profile (e.g. a gst-rtsp-server mount on 127.0.0.1)."""
        self._stream_uris[profile_token] = uri

    def push_message(self, topic: str, source: dict[str, str], data: dict[str, str]) -> None:
        """Queue a notification for every live subscription (like a device: none live, nobody gets it)."""
        message = _Message(topic, dict(source), dict(data), time.time())
        for sub in self._subscriptions.values():
            sub.queue.append(message)
            sub.wakeup.set()

    def push_motion(self, source_token: str, is_motion: bool, *, item: str = "VideoSourceConfigurationToken") -> None:
        """Queue a CellMotionDetector message for a video source (configuration) token."""
        self.push_message(
            MOTION_TOPIC,
            {item: source_token, "VideoAnalyticsConfigurationToken": "000", "Rule": "000"},
            {"IsMotion": "true" if is_motion else "false"},
        )

    def drop_subscriptions(self) -> None:
        """Forget every subscription (a device reboot): later requests to them get a fault."""
        for sub in self._subscriptions.values():
            sub.wakeup.set()
        self._subscriptions.clear()

    # -- replies ---------------------------------------------------------------------------------------------------

    def _fill(self, text: str, **values: str) -> str:
        """Replace the fixtures' ``{{name}}`` placeholders."""
        values.setdefault("port", str(self.port))
        values.setdefault("rtsp_port", str(self.rtsp_port))
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return text

    def _capture(self, name: str, **values: str) -> etree._Element:
        """A captured reply, its placeholders filled, parsed."""
        text = self._fill((FIXTURES / name).read_text(encoding="utf-8"), **values)
        return _parse(text.encode())

    @staticmethod
    def _envelope_with_body(name: str, body_xml: str) -> etree._Element:
        """A captured envelope whose body is replaced by ``body_xml``."""
        root = _parse((FIXTURES / name).read_bytes())
        body = root.find("env:Body", NS)
        assert body is not None
        for child in list(body):
            body.remove(child)
        body.append(_parse(body_xml.encode()))
        return root

    @staticmethod
    def _reply(root: etree._Element, status: int = 200) -> web.Response:
        """An XML reply as devices send it."""
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return web.Response(body=data, status=status, content_type="application/soap+xml", charset="utf-8")

    @staticmethod
    def _drop_event_service(reply: etree._Element) -> None:
        """Take the event service out of a GetCapabilities or GetServices reply."""
        doomed = reply.findall(".//tt:Events", NS) + [
            service
            for service in reply.findall(".//tds:Service", NS)
            if service.findtext("tds:Namespace", namespaces=NS) == NS["tev"]
        ]
        for element in doomed:
            element.getparent().remove(element)

    def _fault(self, subcode: str, reason: str, status: int) -> web.Response:
        """A SOAP 1.2 fault (written from ONVIF Core's fault shape: the captures have none that parses)."""
        root = _parse(FAULT.format(subcode=subcode, reason=reason).encode())
        return self._reply(root, status)

    def _profiles(self) -> etree._Element:
        """GetProfiles: the captured main profile plus a sub-stream profile cloned from it (640x360)."""
        root = self._capture("GetProfiles.xml")
        main = root.find("env:Body/trt:GetProfilesResponse/trt:Profiles", NS)
        assert main is not None
        sub = copy.deepcopy(main)
        sub.set("token", "sub")
        sub.find("tt:Name", NS).text = "sub"  # type: ignore[union-attr]
        encoder = sub.find("tt:VideoEncoderConfiguration", NS)
        assert encoder is not None
        encoder.set("token", "sub")
        encoder.find("tt:Name", NS).text = "Sub stream encoder"  # type: ignore[union-attr]
        encoder.find("tt:Resolution/tt:Width", NS).text = "640"  # type: ignore[union-attr]
        encoder.find("tt:Resolution/tt:Height", NS).text = "360"  # type: ignore[union-attr]
        main.addnext(sub)
        return root

    def _stream_uri(self, request: etree._Element) -> etree._Element:
        """GetStreamUri: the captured reply, its URI the one set for the profile (default: the capture's path)."""
        token = request.findtext("trt:ProfileToken", default="", namespaces=NS).strip()
        root = self._capture("GetStreamUri.xml")
        uri = root.find(".//tt:Uri", NS)
        assert uri is not None
        if token in self._stream_uris:
            uri.text = self._stream_uris[token]
        elif token != "main":
            uri.text = (uri.text or "").replace("/h264main", f"/h264{token}")
        return root

    def _grant(self, request: etree._Element, element: str) -> float:
        """How long a subscription or renewal lasts."""
        if self.termination_seconds is not None:
            return self.termination_seconds
        asked = request.findtext(element, default="", namespaces=NS)
        return _duration_seconds(asked, 60.0)

    def _create_subscription(self, request: etree._Element) -> etree._Element:
        """CreatePullPointSubscription: the captured reply, its address a new subscription's."""
        self.subscriptions_created += 1
        grant = self._grant(request, "tev:InitialTerminationTime")
        sub = _Subscription(id=str(next(self._ids)), expires=time.monotonic() + grant)
        self._subscriptions[sub.id] = sub
        now = time.time()
        return self._capture(
            "events.CreatePullPointSubscription.xml",
            pull_point_path=f"/onvif/pullpoint/{sub.id}",
            current_time=_iso(now),
            termination_time=_iso(now + grant),
        )

    def _subscription(self, path: str) -> _Subscription | None:
        """The live subscription a request addresses, or None (unknown, dropped or expired)."""
        match = re.search(r"/pullpoint/(\d+)$", path)
        sub = self._subscriptions.get(match.group(1)) if match else None
        if sub is not None and sub.expires <= time.monotonic():
            self.expired += 1
            del self._subscriptions[sub.id]
            return None
        return sub

    async def _pull(self, sub: _Subscription, request: etree._Element) -> etree._Element:
        """PullMessages: the queued messages in the captured notification's shape, or none after a wait."""
        wait = min(self.pull_wait, _duration_seconds(request.findtext("tev:Timeout", namespaces=NS), self.pull_wait))
        if not sub.queue:
            sub.wakeup.clear()
            try:
                async with asyncio.timeout(wait):
                    await sub.wakeup.wait()
            except TimeoutError:
                pass
        messages, sub.queue = sub.queue, []
        now = time.time()
        root = self._capture("PullMessages.xml", pull_point_path=f"/onvif/pullpoint/{sub.id}", current_time=_iso(now))
        response = root.find("env:Body/tev:PullMessagesResponse", NS)
        assert response is not None
        response.find("tev:CurrentTime", NS).text = _iso(now)  # type: ignore[union-attr]
        response.find("tev:TerminationTime", NS).text = _iso(now + sub.expires - time.monotonic())  # type: ignore[union-attr]
        template = response.find("wsnt:NotificationMessage", NS)
        assert template is not None
        response.remove(template)
        for message in messages:
            response.append(self._notification(template, message))
        return root

    @staticmethod
    def _notification(template: etree._Element, message: _Message) -> etree._Element:
        """The captured NotificationMessage with another topic, source, data and time."""
        note = copy.deepcopy(template)
        topic = note.find("wsnt:Topic", NS)
        assert topic is not None
        topic.text = (topic.text or "").replace((topic.text or "").strip(), message.topic)
        body = note.find("wsnt:Message/tt:Message", NS)
        assert body is not None
        body.set("UtcTime", _iso(message.utc_time))
        for part, items in (("tt:Source", message.source), ("tt:Data", message.data)):
            holder = body.find(part, NS)
            assert holder is not None
            simple = holder.findall("tt:SimpleItem", NS)
            for extra in simple[1:]:
                holder.remove(extra)
            for index, (name, value) in enumerate(items.items()):
                item = simple[0] if index == 0 else copy.deepcopy(simple[0])
                item.set("Name", name)
                item.set("Value", value)
                if index:
                    holder.append(item)
        return note

    def _renew(self, sub: _Subscription, request: etree._Element) -> etree._Element:
        """Renew (not in the captures; WS-BaseNotification's RenewResponse)."""
        self.renewals += 1
        grant = self._grant(request, "wsnt:TerminationTime")
        sub.expires = time.monotonic() + grant
        now = time.time()
        body = RENEW_BODY.format(termination_time=_iso(now + grant), current_time=_iso(now))
        return self._envelope_with_body("Unsubscribe.xml", body)

    # -- the SOAP endpoint -----------------------------------------------------------------------------------------

    def _authorized(self, envelope: etree._Element) -> bool:
        """Check the WS-Security UsernameToken (PasswordDigest: verified; PasswordText: compared)."""
        token = envelope.find("env:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False
        username = token.findtext("wsse:Username", default="", namespaces=NS)
        password = token.find("wsse:Password", NS)
        if username != self.username or password is None:
            return False
        if (password.get("Type") or "").endswith("#PasswordText"):
            return (password.text or "") == self.password
        nonce = base64.b64decode(token.findtext("wsse:Nonce", default="", namespaces=NS))
        created = token.findtext("wsu:Created", default="", namespaces=NS)
        digest = hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()  # noqa: S324 (the spec's)
        return base64.b64encode(digest).decode() == (password.text or "").strip()

    async def _handle(self, request: web.Request) -> web.Response:
        """Dispatch a SOAP request on its body element."""
        try:
            envelope = _parse(await request.read())
        except etree.XMLSyntaxError:
            return web.Response(status=400, text="not XML")
        body = envelope.find("env:Body", NS)
        operation_el = body[0] if body is not None and len(body) else None
        if operation_el is None:
            return web.Response(status=400, text="no SOAP body")
        operation = etree.QName(operation_el).localname
        self.operations.append(operation)
        if operation not in PRE_AUTH and not self._authorized(envelope):
            self.auth_failures += 1
            return self._fault("ter:NotAuthorized", "Sender not Authorized", self.auth_fault_status)
        reply = await self._answer(operation, operation_el, request.path)
        if isinstance(reply, web.Response):
            return reply
        return self._reply(reply)

    async def _answer(self, operation: str, request: etree._Element, path: str) -> etree._Element | web.Response:
        """The reply to one operation."""
        simple = {
            "GetCapabilities": "GetCapabilities.xml",
            "GetServices": "GetServices.xml",
            "GetDeviceInformation": "GetDeviceInformation.xml",
            "GetSnapshotUri": "GetSnapshotUri.xml",
            "GetNetworkInterfaces": "device.GetNetworkInterfaces.xml",
        }
        if operation in simple:
            reply = self._capture(simple[operation])
            if not self.events:
                self._drop_event_service(reply)
            return reply
        if operation == "GetSystemDateAndTime":
            return self._system_date_and_time()
        if operation == "GetProfiles":
            return self._profiles()
        if operation == "GetStreamUri":
            return self._stream_uri(request)
        if operation == "CreatePullPointSubscription":
            if not (self.events and self.pullpoint):
                return self._fault("ter:ActionNotSupported", "Optional Action Not Implemented", 400)
            return self._create_subscription(request)
        if operation in {"PullMessages", "Renew", "Unsubscribe"}:
            sub = self._subscription(path)
            if sub is None or (operation == "PullMessages" and self.fail_pulls):
                return self._fault("wsrf-r:ResourceUnknownFault", "Unknown subscription", 400)
            if operation == "PullMessages":
                return await self._pull(sub, request)
            if operation == "Renew":
                return self._renew(sub, request)
            self.unsubscribes += 1
            del self._subscriptions[sub.id]
            sub.wakeup.set()
            return self._capture("Unsubscribe.xml")
        return self._fault("ter:ActionNotSupported", f"{operation} is not supported", 400)

    def _system_date_and_time(self) -> etree._Element:
        """GetSystemDateAndTime: the captured reply with the current UTC time (the capture says 2014)."""
        root = self._capture("GetSystemDateAndTime.xml")
        now = dt.datetime.now(dt.UTC)
        utc = root.find(".//tt:UTCDateTime", NS)
        assert utc is not None
        for path, value in (
            ("tt:Time/tt:Hour", now.hour),
            ("tt:Time/tt:Minute", now.minute),
            ("tt:Time/tt:Second", now.second),
            ("tt:Date/tt:Year", now.year),
            ("tt:Date/tt:Month", now.month),
            ("tt:Date/tt:Day", now.day),
        ):
            utc.find(path, NS).text = str(value)  # type: ignore[union-attr]
        return root
