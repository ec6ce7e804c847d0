"""Hikvision ISAPI client: the device, its channels and their streams.

Plain asyncio + aiohttp with our own Digest helper (:mod:`.digest`). XML is
read namespace-agnostically (firmwares use ``http://www.hikvision.com/ver20/XMLSchema``,
``ver10``, ``http://www.isapi.org/ver20/XMLSchema`` or none), and documents
with a DTD are refused before parsing, so no entity is ever expanded.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from xml.parsers import expat

import aiohttp
from yarl import URL

from .digest import DigestAuth
from .model import (
    DeviceChannel,
    DeviceConnection,
    DeviceError,
    DeviceErrorReason,
    DeviceInfo,
    Protocol,
    StreamDetail,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_RTSP_PORT = 554
MANUFACTURER = "Hikvision"

PATH_DEVICE_INFO = "/ISAPI/System/deviceInfo"
PATH_INPUT_PROXY = "/ISAPI/ContentMgmt/InputProxy/channels"
PATH_INPUT_PROXY_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
PATH_VIDEO_INPUTS = "/ISAPI/System/Video/inputs/channels"
PATH_STREAMING = "/ISAPI/Streaming/channels"
PATH_STREAMING_PROXY = "/ISAPI/ContentMgmt/StreamingProxy/channels"
PATH_ADMIN_ACCESSES = "/ISAPI/Security/adminAccesses"

_CODECS = {"H.264": "h264", "H.265": "hevc", "MJPEG": "mjpeg", "H264": "h264", "H265": "hevc", "HEVC": "hevc"}


def base_url(conn: DeviceConnection) -> URL:
    """``http://host:port`` of a device (``https`` on port 443; IPv6 hosts bracketed)."""
    scheme = "https" if conn.port == 443 else "http"
    return URL.build(scheme=scheme, host=conn.host, port=conn.port)


def local_name(tag: str) -> str:
    """An element's tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    """Direct children called ``name``, whatever their namespace."""
    return (child for child in element if local_name(child.tag) == name)


def child(element: ET.Element, name: str) -> ET.Element | None:
    """The first direct child called ``name``, whatever its namespace."""
    return next(children(element, name), None)


def child_text(element: ET.Element, name: str) -> str | None:
    """Stripped text of the first direct child called ``name`` (None when absent or empty)."""
    found = child(element, name)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def descendant_text(element: ET.Element, name: str) -> str | None:
    """Stripped text of the first element called ``name`` anywhere below ``element``."""
    for node in element.iter():
        if node is not element and local_name(node.tag) == name and node.text and node.text.strip():
            return node.text.strip()
    return None


class _DtdRefused(Exception):
    """A document with a DTD (entities could expand): refused."""


def _refuse_dtd(*_args: object) -> None:
    raise _DtdRefused


def _has_dtd(raw: bytes) -> bool:
    """Whether the document declares a DTD, as expat reads it (whatever its encoding)."""
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    try:
        parser.Parse(raw, True)
    except _DtdRefused:
        return True
    except expat.ExpatError:
        return False  # not well-formed: ElementTree refuses it too
    return False


def parse_xml(data: bytes | str) -> ET.Element | None:
    """Parse an ISAPI document; None when it is not XML or carries a DTD (no entity is ever expanded)."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if _has_dtd(raw):
        return None
    try:
        return ET.fromstring(raw)  # noqa: S314 - no DTD (refused above), so no entity can expand
    except ET.ParseError:
        return None


def _int(value: str | None) -> int | None:
    """An integer field, or None."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _codec(value: str | None) -> str | None:
    """ISAPI ``videoCodecType`` to our codec name ("H.264" -> "h264", "H.265" -> "hevc", "MJPEG" -> "mjpeg")."""
    if not value:
        return None
    upper = value.strip().upper()
    for prefix, codec in _CODECS.items():
        if upper.startswith(prefix):  # "H.264-BP", "H.265+" ...
            return codec
    return upper.lower()


@dataclass(frozen=True, slots=True)
class _Stream:
    """One StreamingChannel entry."""

    name: str | None
    codec: str | None
    width: int | None
    height: int | None


def _parse_streams(root: ET.Element | None) -> dict[int, _Stream]:
    """``StreamingChannelList`` -> {streaming id (101, 102...): stream}."""
    streams: dict[int, _Stream] = {}
    if root is None or local_name(root.tag) != "StreamingChannelList":
        return streams
    for item in children(root, "StreamingChannel"):
        stream_id = _int(child_text(item, "id"))
        if stream_id is None:
            continue
        if (child_text(item, "enabled") or "true").lower() == "false":
            continue
        video = child(item, "Video")
        codec = width = height = None
        if video is not None:
            if (child_text(video, "enabled") or "true").lower() == "false":
                continue
            codec = _codec(child_text(video, "videoCodecType"))
            width = _int(child_text(video, "videoResolutionWidth"))
            height = _int(child_text(video, "videoResolutionHeight"))
        streams[stream_id] = _Stream(child_text(item, "channelName"), codec, width, height)
    return streams


class _HttpStatus(Exception):
    """An HTTP status other than 200 on a request that may legitimately fail."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def client_error(err: BaseException, what: str) -> DeviceError:
    """A transport failure as a DeviceError (no credentials in the detail)."""
    if isinstance(err, TimeoutError):  # asyncio.timeout and aiohttp's ServerTimeoutError
        return DeviceError(DeviceErrorReason.TIMEOUT, f"{what}: no answer in time")
    if isinstance(err, aiohttp.ClientConnectorError):
        return DeviceError(DeviceErrorReason.CANNOT_CONNECT, f"{what}: {err.strerror or type(err).__name__}")
    return DeviceError(DeviceErrorReason.CANNOT_CONNECT, f"{what}: {type(err).__name__}")


class IsapiClient:
    """Reads what a Hikvision camera or recorder says about itself over ISAPI."""

    def __init__(self, session: aiohttp.ClientSession, conn: DeviceConnection, *, timeout: float = 10.0) -> None:
        """Use ``session`` (not closed here) for the device at ``conn``; ``timeout`` bounds each request."""
        self._session = session
        self._conn = conn
        self._timeout = timeout
        self._auth = DigestAuth(conn.username, conn.password)
        self._base = base_url(conn)

    @property
    def base_url(self) -> URL:
        """``http://host:port`` of the device."""
        return self._base

    @property
    def auth(self) -> DigestAuth:
        """The authentication state (shared with an event stream, it saves a challenge round trip)."""
        return self._auth

    async def _get(self, path: str) -> ET.Element | None:
        """GET ``path``; its XML root (None when the body is not XML).

        Raises :class:`DeviceError` for transport failures and for 401
        (INVALID_AUTH), :class:`_HttpStatus` for other statuses.
        """
        url = self._base.with_path(path)
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._auth.request(self._session, "GET", url, allow_redirects=False)
                async with response:
                    if response.status == 401:
                        raise DeviceError(DeviceErrorReason.INVALID_AUTH, f"{path}: HTTP 401 (credentials refused)")
                    if response.status != 200:
                        raise _HttpStatus(response.status)
                    body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as err:
            raise client_error(err, f"{self._conn.host}:{self._conn.port}{path}") from err
        return parse_xml(body)

    async def _get_optional(self, path: str) -> ET.Element | None:
        """GET ``path`` that a device may not have: None on an HTTP error status or a non-XML body."""
        try:
            return await self._get(path)
        except _HttpStatus as err:
            _LOGGER.debug("%s:%s%s: HTTP %s", self._conn.host, self._conn.port, path, err.status)
            return None

    async def device_info(self) -> DeviceInfo:
        """``/ISAPI/System/deviceInfo``: the device's name, model, serial, firmware and MAC."""
        try:
            root = await self._get(PATH_DEVICE_INFO)
        except _HttpStatus as err:
            if err.status == 403:
                raise DeviceError(DeviceErrorReason.INVALID_AUTH, f"{PATH_DEVICE_INFO}: HTTP 403") from None
            raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, f"{PATH_DEVICE_INFO}: HTTP {err.status}") from None
        if root is None or local_name(root.tag) != "DeviceInfo":
            raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, f"{PATH_DEVICE_INFO}: not an ISAPI DeviceInfo document")
        model = child_text(root, "model") or "Hikvision device"
        firmware = child_text(root, "firmwareVersion")
        return DeviceInfo(
            protocol=Protocol.ISAPI,
            name=child_text(root, "deviceName") or model,
            manufacturer=MANUFACTURER,
            model=model,
            serial=child_text(root, "serialNumber"),
            firmware=firmware,
            mac=child_text(root, "macAddress"),
        )

    async def rtsp_port(self) -> int:
        """The RTSP port from ``/ISAPI/Security/adminAccesses`` (554 when not reported)."""
        root = await self._get_optional(PATH_ADMIN_ACCESSES)
        if root is not None:
            for item in root.iter():
                if local_name(item.tag) != "AdminAccessProtocol":
                    continue
                if (child_text(item, "protocol") or "").upper() != "RTSP":
                    continue
                port = _int(child_text(item, "portNo"))
                if port is not None and 0 < port < 65536:
                    return port
        return DEFAULT_RTSP_PORT

    async def _recorder_channels(self) -> dict[int, tuple[str | None, bool]]:
        """IP channels of a recorder: {channel: (name, online)}; empty on a camera."""
        root = await self._get_optional(PATH_INPUT_PROXY)
        if root is None or local_name(root.tag) != "InputProxyChannelList":
            return {}
        found: dict[int, tuple[str | None, bool]] = {}
        for item in children(root, "InputProxyChannel"):
            channel = _int(child_text(item, "id"))
            if channel is not None and channel > 0:
                found[channel] = (child_text(item, "name"), True)
        if not found:
            return found
        status = await self._get_optional(PATH_INPUT_PROXY_STATUS)
        if status is not None and local_name(status.tag) == "InputProxyChannelStatusList":
            for item in children(status, "InputProxyChannelStatus"):
                channel = _int(child_text(item, "id"))
                if channel not in found:
                    continue
                online = descendant_text(item, "online")
                if online is None:
                    detect = (descendant_text(item, "chanDetectResult") or "").lower()
                    online = "true" if detect in ("", "connect", "online") else "false"
                found[channel] = (found[channel][0], online.lower() == "true")
        return found

    async def _video_inputs(self) -> dict[int, tuple[str | None, bool]]:
        """Local video inputs (a camera's sensor, a DVR's analog inputs): {channel: (name, True)}."""
        root = await self._get_optional(PATH_VIDEO_INPUTS)
        found: dict[int, tuple[str | None, bool]] = {}
        if root is None or local_name(root.tag) != "VideoInputChannelList":
            return found
        for item in children(root, "VideoInputChannel"):
            channel = _int(child_text(item, "id"))
            if channel is None or channel <= 0:
                continue
            if (child_text(item, "videoInputEnabled") or "true").lower() == "false":
                continue
            found[channel] = (child_text(item, "name"), True)
        return found

    async def channels(self, *, rtsp_port: int | None = None) -> list[DeviceChannel]:
        """The video channels, with RTSP stream URLs (no credentials) and snapshot URLs.

        A recorder lists its IP channels under InputProxy (online/offline from
        its status list); a camera (InputProxy not supported) or an analog
        DVR lists video inputs. Codec and size come from the streaming
        channels (id ``n01`` main, ``n02`` sub; a recorder's IP channels are
        looked up under StreamingProxy when the first list lacks them).
        ``rtsp_port`` skips the adminAccesses request. Raises
        ``DeviceError(NO_CHANNELS)`` when the device lists none.
        """
        listed = await self._recorder_channels()
        if not listed:
            listed = await self._video_inputs()
        streams = _parse_streams(await self._get_optional(PATH_STREAMING))
        if listed and any(n * 100 + 1 not in streams for n in listed):
            proxy = _parse_streams(await self._get_optional(PATH_STREAMING_PROXY))
            streams = {**proxy, **streams}
        if not listed:
            # Neither list answered: fall back on the channels the streams name.
            listed = {sid // 100: (s.name, True) for sid, s in sorted(streams.items()) if sid % 100 == 1}
        if not listed:
            raise DeviceError(DeviceErrorReason.NO_CHANNELS, "the device lists no video channel")

        port = rtsp_port if rtsp_port is not None else await self.rtsp_port()
        rtsp_base = URL.build(scheme="rtsp", host=self._conn.host, port=port)
        result: list[DeviceChannel] = []
        for number in sorted(listed):
            name, online = listed[number]
            main = streams.get(number * 100 + 1)
            sub = streams.get(number * 100 + 2)
            result.append(
                DeviceChannel(
                    id=str(number),
                    name=name or (main.name if main and main.name else None) or f"Channel {number}",
                    main=self._stream(rtsp_base, number * 100 + 1, main),
                    sub=self._stream(rtsp_base, number * 100 + 2, sub) if sub is not None else None,
                    online=online,
                    snapshot_url=str(self._base.with_path(f"{PATH_STREAMING}/{number * 100 + 1}/picture")),
                )
            )
        return result

    @staticmethod
    def _stream(rtsp_base: URL, stream_id: int, stream: _Stream | None) -> StreamDetail:
        """A StreamDetail for streaming channel ``stream_id``."""
        url = str(rtsp_base.with_path(f"/Streaming/Channels/{stream_id}"))
        if stream is None:
            return StreamDetail(url=url)
        return StreamDetail(url=url, codec=stream.codec, width=stream.width, height=stream.height)
