"""Find out what a device speaks, and read its identity and channels; build its event reader."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp

from .isapi import IsapiClient
from .isapi_events import IsapiEventStream
from .model import (
    DeviceChannel,
    DeviceConnection,
    DeviceError,
    DeviceErrorReason,
    DeviceEvent,
    DeviceInfo,
    Protocol,
)
from .onvif import OnvifClient
from .onvif_events import OnvifEventSubscription

_LOGGER = logging.getLogger(__name__)

type EventReader = IsapiEventStream | OnvifEventSubscription


async def async_read_device(
    session: aiohttp.ClientSession, conn: DeviceConnection, protocol: Protocol | None, seconds: float
) -> tuple[DeviceInfo, list[DeviceChannel]]:
    """The device's identity and channels, over ``protocol`` or (None) ISAPI first, then ONVIF.

    Raises ``DeviceError``. When ISAPI rejects the login but ONVIF also fails,
    the login error is the one reported: the device does speak ISAPI.
    """
    if protocol is Protocol.ISAPI:
        return await _async_read_isapi(session, conn, seconds)
    if protocol is Protocol.ONVIF:
        return await _async_read_onvif(conn, seconds)
    try:
        return await _async_read_isapi(session, conn, seconds)
    except DeviceError as err:
        if err.reason not in (DeviceErrorReason.NOT_SUPPORTED, DeviceErrorReason.INVALID_AUTH):
            raise
        isapi_error = err
        _LOGGER.debug("%s:%s is no ISAPI device (%s); trying ONVIF", conn.host, conn.port, err)
    try:
        return await _async_read_onvif(conn, seconds)
    except DeviceError as err:
        if isapi_error.reason is DeviceErrorReason.INVALID_AUTH and err.reason is DeviceErrorReason.NOT_SUPPORTED:
            raise isapi_error from None
        raise


async def _async_read_isapi(
    session: aiohttp.ClientSession, conn: DeviceConnection, seconds: float
) -> tuple[DeviceInfo, list[DeviceChannel]]:
    client = IsapiClient(session, conn, timeout=seconds)
    info = await client.device_info()
    return info, await client.channels()


async def _async_read_onvif(conn: DeviceConnection, seconds: float) -> tuple[DeviceInfo, list[DeviceChannel]]:
    client = OnvifClient(conn, timeout=seconds)
    try:
        await client.connect()
        info = await client.device_info()
        return info, await client.channels()
    finally:
        await client.close()


def event_reader(
    protocol: Protocol,
    session: aiohttp.ClientSession,
    conn: DeviceConnection,
    on_event: Callable[[DeviceEvent], None],
    on_state: Callable[[str | None], None],
) -> Callable[[], Awaitable[None]]:
    """The coroutine function that reads the device's events until cancelled (it reconnects by itself)."""
    if protocol is Protocol.ISAPI:
        return IsapiEventStream(session, conn, on_event, on_state).run
    return OnvifEventSubscription(conn, on_event, on_state).run
