"""Find ONVIF devices on the LAN with WS-Discovery, the way Home Assistant's onvif integration does.

A multicast Probe for ONVIF's NetworkVideoTransmitter type in the Profile S
scope goes to 239.255.255.250:3702 (and ff02::c) from every non-loopback,
non-link-local address of the machine, four times over about a second
(SOAP-over-UDP's repeats); the devices answer with a ProbeMatch naming their
device service (``http://host:port/onvif/device_service``) and their scopes
(name, hardware...). Nothing is sent before the Probe (no Hello): the client
only binds 3702 and joins the group, which has the kernel send an IGMP report.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wsdiscovery.discovery import ThreadedWSDiscovery
from wsdiscovery.qname import QName
from wsdiscovery.scope import Scope

_LOGGER = logging.getLogger(__name__)

NETWORK_VIDEO_TRANSMITTER = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dp0")
"""The Probe's type: what ONVIF cameras and recorders are."""
PROFILE_STREAMING_SCOPE = "onvif://www.onvif.org/Profile/Streaming"
"""What an ONVIF Profile S device (a camera or recorder that streams video) lists among its scopes."""
NAME_SCOPE = "onvif://www.onvif.org/name/"
HARDWARE_SCOPE = "onvif://www.onvif.org/hardware/"
MULTICAST_TTL = 4
"""Hops the Probe may cross (HA's onvif integration uses 4; the library's default is 1)."""


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    """An ONVIF device that answered a WS-Discovery Probe."""

    host: str
    """Host of its device service: an address (IPv6 without brackets), or a name as the device wrote it."""
    port: int
    """Port of its device service (80 or 443 when the URL names none)."""
    name: str | None
    """The ``onvif://www.onvif.org/name/...`` scope, URL-decoded."""
    hardware: str | None
    """The ``onvif://www.onvif.org/hardware/...`` scope (the model), URL-decoded."""
    epr: str
    """Its WS-Addressing endpoint reference ("urn:uuid:..."), stable across restarts and address changes."""


def parse_xaddrs(xaddrs: Iterable[str]) -> tuple[str, int] | None:
    """Pick host and port of the device service out of a ProbeMatch's XAddrs.

    A device may list several URLs (its IPv4 address, an IPv6 or a zero-conf
    169.254.x.x one): the first one not link-local wins, else the first one
    with a host at all. None when no URL has a host.
    """
    fallback: tuple[str, int] | None = None
    for xaddr in xaddrs:
        try:
            url = urlsplit(xaddr.strip())
            host = url.hostname
            port = url.port or (443 if url.scheme.lower() == "https" else 80)
        except ValueError:  # a port out of range or not a number, a broken IPv6 literal
            continue
        if not host or url.scheme.lower() not in ("http", "https"):
            continue
        try:
            link_local = ipaddress.ip_address(host.partition("%")[0]).is_link_local
        except ValueError:  # a host name
            link_local = False
        if not link_local:
            return host, port
        if fallback is None:
            fallback = (host, port)
    return fallback


def scope_value(scopes: Iterable[str], prefix: str) -> str | None:
    """The URL-decoded rest of the first scope that starts with ``prefix`` (case-insensitive), or None."""
    for scope in scopes:
        if scope.lower().startswith(prefix.lower()):
            value = unquote(scope[len(prefix) :]).strip()
            return value or None
    return None


def _stop_threads(wsd: ThreadedWSDiscovery) -> None:
    """Stop and wait for the threads of a discovery whose ``start`` failed half way (``stop`` trips on the rest).

    Reads WSDiscovery 2.1.2's thread attributes; any it does not find are skipped.
    """
    for attr in ("_networkingThread_v4", "_addrsMonitorThread_v4", "_networkingThread_v6", "_addrsMonitorThread_v6"):
        thread = getattr(wsd, attr, None)
        if isinstance(thread, threading.Thread):
            thread.schedule_stop()  # type: ignore[attr-defined]
            if thread.is_alive():
                # Not the networking thread's own join: it closes sockets that may never have been opened.
                threading.Thread.join(thread, timeout=2)


def discover_onvif(timeout: float = 3.0) -> list[DiscoveredDevice]:
    """Probe the LAN for ONVIF Profile S devices and list those that answered within ``timeout`` seconds.

    Blocking (it sleeps ``timeout``): run it in an executor job. One entry per
    endpoint reference; devices whose answer names no usable device service
    URL are left out. Raises ``OSError`` when the sockets cannot be opened.
    """
    # As HA's onvif config flow: relates_to also takes an answer that reuses the Probe's MessageID.
    wsd = ThreadedWSDiscovery(ttl=MULTICAST_TTL, relates_to=True)
    try:
        wsd.start()
        services = wsd.searchServices(
            types=[NETWORK_VIDEO_TRANSMITTER], scopes=[Scope(PROFILE_STREAMING_SCOPE)], timeout=timeout
        )
    finally:
        # Joins the networking and address monitor threads and closes their sockets.
        try:
            wsd.stop()
        except Exception:  # a half-started discovery (port 3702 taken...): stop what did start
            _LOGGER.debug("Stopping WS-Discovery failed, stopping its threads one by one", exc_info=True)
            _stop_threads(wsd)

    devices: dict[str, DiscoveredDevice] = {}
    for service in services:
        epr = str(service.getEPR() or "").strip()
        if not epr or epr in devices:
            continue
        where = parse_xaddrs(service.getXAddrs() or ())
        if where is None:
            _LOGGER.debug("ONVIF device %s answered without a device service URL: %s", epr, service.getXAddrs())
            continue
        scopes = [scope.getValue() for scope in service.getScopes() or ()]
        devices[epr] = DiscoveredDevice(
            host=where[0],
            port=where[1],
            name=scope_value(scopes, NAME_SCOPE),
            hardware=scope_value(scopes, HARDWARE_SCOPE),
            epr=epr,
        )
    _LOGGER.debug("WS-Discovery found %d ONVIF device(s): %s", len(devices), list(devices.values()))
    return list(devices.values())
