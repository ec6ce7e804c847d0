"""ONVIF client: what a camera or recorder is and which video channels it has (onvif-zeep-async).

Works with onvif-zeep-async 3.x (HA 2025.x: an httpx transport) and 4.x (HA
2026: an aiohttp transport). The differences that matter here:

* 3.x's default WSDL directory points one level too high (a directory that
  does not exist), so the bundled ``onvif/wsdl`` directory is always passed.
* The transport's errors differ (httpx vs aiohttp exceptions): both are
  translated by :func:`device_error`; every call also runs under our own
  ``asyncio.timeout`` because the library's own timeouts are 30-90 s.
* 4.x's ``update_xaddrs`` asks GetServices first and falls back to
  GetCapabilities; 3.x asks GetCapabilities only. Both fill ``xaddrs``.
* 4.x brackets a bare IPv6 host itself; 3.x does not, so we bracket it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx
import onvif
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
from onvif.util import is_auth_error, stringify_onvif_error
from zeep.exceptions import Fault, TransportError, XMLParseError, XMLSyntaxError

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

WSDL_DIR = str(Path(onvif.__file__).parent / "wsdl")
"""The WSDL files bundled with the library (3.x's default path is wrong)."""

MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"

CODECS = {"H264": "h264", "H265": "hevc", "HEVC": "hevc", "JPEG": "mjpeg", "MJPEG": "mjpeg", "MPEG4": "mpeg4"}
"""VideoEncoderConfiguration.Encoding -> the codec names StreamDetail uses."""

_CODEC_RANK = {"h264": 0, "hevc": 0, "mpeg4": 1, "mjpeg": 2}
"""Among profiles of one size, the main stream prefers H.264/H.265 over MJPEG."""


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters for an error detail."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def device_error(err: BaseException) -> DeviceError:
    """Translate what the library, zeep or the transport raised into a DeviceError.

    Faults: NotAuthorized -> INVALID_AUTH, others CANNOT_CONNECT. An HTTP error
    status without a SOAP reply: 401/403 -> INVALID_AUTH, others (404, HTML...)
    NOT_SUPPORTED. Timeouts (ours, httpx's, aiohttp's) -> TIMEOUT. Connection
    failures (httpx, aiohttp, OSError) -> CANNOT_CONNECT. Replies that are not
    ONVIF XML -> NOT_SUPPORTED. No detail carries credentials.
    """
    reason = DeviceErrorReason
    if isinstance(err, DeviceError):
        return err
    if isinstance(err, Fault):
        if is_auth_error(err):
            return DeviceError(reason.INVALID_AUTH, "the device refused the credentials")
        return DeviceError(reason.CANNOT_CONNECT, _short(f"ONVIF fault: {stringify_onvif_error(err)}"))
    if isinstance(err, TransportError):
        status = err.status_code
        if status in (401, 403):
            return DeviceError(reason.INVALID_AUTH, f"HTTP {status}")
        return DeviceError(reason.NOT_SUPPORTED, f"not an ONVIF service (HTTP {status})")
    if isinstance(err, (XMLSyntaxError, XMLParseError)):
        return DeviceError(reason.NOT_SUPPORTED, "the reply is not ONVIF XML")
    if isinstance(err, ONVIFAuthError):
        return DeviceError(reason.INVALID_AUTH, "the device refused the credentials")
    if isinstance(err, (ONVIFTimeoutError, TimeoutError, httpx.TimeoutException)):
        return DeviceError(reason.TIMEOUT, "the device did not answer in time")
    if isinstance(err, ONVIFError):
        inner = err.__cause__ or next((arg for arg in err.args if isinstance(arg, BaseException)), None)
        if inner is not None and inner is not err:
            return device_error(inner)
        return DeviceError(reason.CANNOT_CONNECT, _short(str(err)))
    if isinstance(err, (httpx.HTTPError, aiohttp.ClientError, OSError)):
        return DeviceError(reason.CANNOT_CONNECT, _short(f"{type(err).__name__}: {err}"))
    if isinstance(err, (AttributeError, TypeError, ValueError, KeyError, IndexError)):
        # zeep could not map the reply onto the ONVIF schema (e.g. an empty document).
        return DeviceError(reason.NOT_SUPPORTED, _short(f"unexpected reply ({type(err).__name__})"))
    return DeviceError(reason.CANNOT_CONNECT, _short(f"{type(err).__name__}: {err}"))


def strip_credentials(uri: str) -> str:
    """The URI without a ``user:password@`` part."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _area(profile: Any) -> int:
    """Width x height of a profile's encoder (0 when unknown)."""
    resolution = getattr(profile.VideoEncoderConfiguration, "Resolution", None)
    try:
        return int(resolution.Width) * int(resolution.Height)
    except (AttributeError, TypeError, ValueError):
        return 0


def _codec(profile: Any) -> str | None:
    """The codec name of a profile's encoder."""
    encoding = getattr(profile.VideoEncoderConfiguration, "Encoding", None)
    if not encoding:
        return None
    return CODECS.get(str(encoding).upper(), str(encoding).lower())


def _size(profile: Any) -> tuple[int | None, int | None]:
    """Width and height of a profile's encoder."""
    resolution = getattr(profile.VideoEncoderConfiguration, "Resolution", None)
    width = getattr(resolution, "Width", None)
    height = getattr(resolution, "Height", None)
    return (int(width) if width else None, int(height) if height else None)


class OnvifClient:
    """An ONVIF device: ``connect()``, then ``device_info()`` / ``channels()``, then ``close()``.

    Every call raises :class:`DeviceError` on failure. Also an async context
    manager (connects on enter, closes on exit).
    """

    def __init__(self, conn: DeviceConnection, *, timeout: float = 10.0) -> None:
        """Keep where the device is; nothing is sent before ``connect()``."""
        self._conn = conn
        self._timeout = timeout
        self._camera: ONVIFCamera | None = None
        self._profiles: list[Any] | None = None

    @property
    def where(self) -> str:
        """``host:port`` for logs (never the credentials)."""
        return f"{self._conn.host}:{self._conn.port}"

    @property
    def camera(self) -> ONVIFCamera:
        """The library's device object (after ``connect()``)."""
        if self._camera is None:
            raise RuntimeError("OnvifClient.connect() was not called")
        return self._camera

    async def call[T](self, awaitable: Awaitable[T], *, extra: float = 0.0) -> T:
        """Await a library call under the client's timeout (+ ``extra`` s); errors become DeviceError."""
        try:
            async with asyncio.timeout(self._timeout + extra):
                return await awaitable
        except DeviceError:
            raise
        except Exception as err:
            error = device_error(err)
            _LOGGER.debug("%s: ONVIF call failed: %s (%s)", self.where, error.reason, error.detail)
            raise error from err

    async def connect(self) -> None:
        """Create the library's device and learn its service addresses (GetSystemDateAndTime, GetCapabilities)."""
        host = self._conn.host
        if host.count(":") >= 2 and not host.startswith("["):
            host = f"[{host}]"  # a bare IPv6 literal (4.x does this itself, 3.x does not)
        await self.close()
        self._camera = ONVIFCamera(
            host,
            self._conn.port,
            self._conn.username,
            self._conn.password,
            WSDL_DIR,
            no_cache=True,
            adjust_time=True,
        )
        try:
            await self.call(self._camera.update_xaddrs())
            if MEDIA_NS not in self._camera.xaddrs:
                raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, "the device has no ONVIF media service")
        except BaseException:
            await self.close()
            raise
        _LOGGER.debug("%s: ONVIF services: %s", self.where, sorted(self._camera.xaddrs))

    async def close(self) -> None:
        """Close the library's HTTP clients."""
        camera, self._camera = self._camera, None
        self._profiles = None
        if camera is None:
            return
        try:
            await camera.close()
        except Exception:  # closing must not fail the caller
            _LOGGER.debug("%s: error closing the ONVIF client", self.where, exc_info=True)

    async def __aenter__(self) -> Self:
        """Connect."""
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close."""
        await self.close()

    async def device_info(self) -> DeviceInfo:
        """GetDeviceInformation (and the MAC from GetNetworkInterfaces when the device tells)."""
        devicemgmt = await self.call(self.camera.create_devicemgmt_service())
        info = await self.call(devicemgmt.GetDeviceInformation())
        manufacturer = str(getattr(info, "Manufacturer", None) or "").strip()
        model = str(getattr(info, "Model", None) or "").strip()
        serial = str(getattr(info, "SerialNumber", None) or "").strip() or None
        firmware = str(getattr(info, "FirmwareVersion", None) or "").strip() or None
        name = " ".join(part for part in (manufacturer, model) if part) or self._conn.host
        return DeviceInfo(
            protocol=Protocol.ONVIF,
            name=name,
            manufacturer=manufacturer,
            model=model,
            serial=serial,
            firmware=firmware,
            mac=await self._mac(devicemgmt),
        )

    async def _mac(self, devicemgmt: Any) -> str | None:
        """The first enabled interface's hardware address, or None (not every device answers)."""
        try:
            interfaces = await self.call(devicemgmt.GetNetworkInterfaces())
        except DeviceError as err:
            _LOGGER.debug("%s: no GetNetworkInterfaces: %s", self.where, err)
            return None
        for interface in interfaces or []:
            address = getattr(getattr(interface, "Info", None), "HwAddress", None)
            if getattr(interface, "Enabled", True) and address:
                return str(address).strip().lower()
        return None

    async def profiles(self) -> list[Any]:
        """The media profiles (GetProfiles), fetched once per connection."""
        if self._profiles is None:
            media = await self.call(self.camera.create_media_service())
            self._profiles = list(await self.call(media.GetProfiles()) or [])
        return self._profiles

    async def source_tokens(self) -> dict[str, str]:
        """Map the tokens an event may name (video source and source configuration tokens) to channel ids."""
        tokens: dict[str, str] = {}
        for profile in await self.profiles():
            source = getattr(profile, "VideoSourceConfiguration", None)
            if source is None or not source.SourceToken:
                continue
            tokens[source.SourceToken] = source.SourceToken
            if getattr(source, "token", None):
                tokens.setdefault(source.token, source.SourceToken)
        return tokens

    async def channels(self) -> list[DeviceChannel]:
        """One channel per video source: main = the largest profile, sub = the next smaller one."""
        groups: dict[str, list[Any]] = {}
        for profile in await self.profiles():
            source = getattr(profile, "VideoSourceConfiguration", None)
            if source is None or not source.SourceToken or profile.VideoEncoderConfiguration is None:
                continue
            groups.setdefault(source.SourceToken, []).append(profile)
        if not groups:
            raise DeviceError(DeviceErrorReason.NO_CHANNELS, "the device lists no video profile")
        media = await self.call(self.camera.create_media_service())
        names = [str(group_main.Name or "").strip() for group_main in (self._order(g)[0] for g in groups.values())]
        channels: list[DeviceChannel] = []
        for index, (source_token, group) in enumerate(groups.items()):
            ordered = self._order(group)
            main = ordered[0]
            sub = next((profile for profile in ordered[1:] if _area(profile) < _area(main)), None)
            name = names[index] if names[index] and names.count(names[index]) == 1 else f"Channel {index + 1}"
            main_stream = await self._stream(media, main)
            sub_stream = None
            if sub is not None:
                try:
                    sub_stream = await self._stream(media, sub)
                except DeviceError as err:
                    _LOGGER.debug("%s: no stream for profile %s: %s", self.where, sub.token, err)
            channels.append(
                DeviceChannel(
                    id=source_token,
                    name=name,
                    main=main_stream,
                    sub=sub_stream,
                    snapshot_url=await self._snapshot_uri(media, main),
                )
            )
        return channels

    @staticmethod
    def _order(group: list[Any]) -> list[Any]:
        """Largest first; at one size H.264/H.265 before MJPEG."""
        return sorted(group, key=lambda profile: (-_area(profile), _CODEC_RANK.get(_codec(profile) or "", 3)))

    async def _stream(self, media: Any, profile: Any) -> StreamDetail:
        """GetStreamUri (RTP unicast over RTSP) for a profile."""
        request = media.create_type("GetStreamUri")
        request.ProfileToken = profile.token
        request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        result = await self.call(media.GetStreamUri(request))
        uri = str(getattr(result, "Uri", None) or "").strip()
        if not uri:
            raise DeviceError(DeviceErrorReason.NOT_SUPPORTED, f"no stream URI for profile {profile.token}")
        width, height = _size(profile)
        return StreamDetail(url=strip_credentials(uri), codec=_codec(profile), width=width, height=height)

    async def _snapshot_uri(self, media: Any, profile: Any) -> str | None:
        """GetSnapshotUri for a profile, or None when the device has none."""
        request = media.create_type("GetSnapshotUri")
        request.ProfileToken = profile.token
        try:
            result = await self.call(media.GetSnapshotUri(request))
        except DeviceError as err:
            if err.reason in (DeviceErrorReason.TIMEOUT, DeviceErrorReason.INVALID_AUTH):
                raise
            _LOGGER.debug("%s: no snapshot URI for profile %s: %s", self.where, profile.token, err)
            return None
        uri = str(getattr(result, "Uri", None) or "").strip()
        return strip_credentials(uri) if uri else None
