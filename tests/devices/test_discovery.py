"""WS-Discovery of ONVIF devices: the XAddrs/scope parsing, and a real Probe and ProbeMatch in a network namespace.

The end-to-end test creates a fresh network namespace (``ip netns add``, as
root) and runs ``wsd_netns.py`` inside it: a responder answers the real
multicast Probe of ``discover_onvif`` with a captured camera ProbeMatch.
The namespace has only ``lo``, so no packet can leave the machine; it is
deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from custom_components.nvr.devices import discovery
from custom_components.nvr.devices.discovery import DiscoveredDevice, discover_onvif, parse_xaddrs, scope_value

HELPER = Path(__file__).with_name("wsd_netns.py")
NVT_NAMESPACE = "http://www.onvif.org/ver10/network/wsdl"


# --- parsing ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xaddrs", "expected"),
    [
        (["http://192.168.1.64/onvif/device_service"], ("192.168.1.64", 80)),
        (["http://192.168.1.64:8899/onvif/device_service"], ("192.168.1.64", 8899)),
        (["https://cam.local/onvif/device_service"], ("cam.local", 443)),
        (["HTTP://10.0.0.5:8000/onvif/device_service"], ("10.0.0.5", 8000)),
        # Zero-conf and IPv6 link-local addresses come second to a routable one, whatever the order.
        (
            ["http://169.254.3.4/onvif/device_service", "http://192.168.1.64:80/onvif/device_service"],
            ("192.168.1.64", 80),
        ),
        (
            ["http://[fe80::1%25eth0]/onvif/device_service", "http://[2001:db8::5]:8080/onvif/device_service"],
            ("2001:db8::5", 8080),
        ),
        # ...but one is better than none.
        (["http://169.254.3.4:81/onvif/device_service"], ("169.254.3.4", 81)),
        # Broken or useless URLs are skipped.
        (["http://192.168.1.64:99999/onvif/device_service", "http://192.168.1.65/x"], ("192.168.1.65", 80)),
        (["soap.udp://239.255.255.250:3702", "urn:uuid:1234", " http://192.168.1.7/onvif "], ("192.168.1.7", 80)),
        (["http:///onvif/device_service"], None),
        ([], None),
    ],
)
def test_parse_xaddrs(xaddrs: list[str], expected: tuple[str, int] | None) -> None:
    assert parse_xaddrs(xaddrs) == expected


def test_scope_value() -> None:
    scopes = [
        "onvif://www.onvif.org/Profile/Streaming",
        "onvif://www.onvif.org/type/video_encoder",
        "ONVIF://www.onvif.org/Name/Front%20door%20%C3%A9t%C3%A9",
        "onvif://www.onvif.org/hardware/DS-2CD2143G2-I",
        "onvif://www.onvif.org/name/second",
        "onvif://www.onvif.org/location/",
    ]
    assert scope_value(scopes, discovery.NAME_SCOPE) == "Front door été"  # the first, URL-decoded, any case
    assert scope_value(scopes, discovery.HARDWARE_SCOPE) == "DS-2CD2143G2-I"
    assert scope_value(scopes, "onvif://www.onvif.org/location/") is None  # empty
    assert scope_value(scopes, "onvif://www.onvif.org/mac/") is None  # absent
    assert scope_value(["onvif://www.onvif.org/name/a/b"], discovery.NAME_SCOPE) == "a/b"


# --- discover_onvif against a stand-in for the library ---------------------------------------------------------------


class FakeScope:
    def __init__(self, value: str) -> None:
        self.value = value

    def getValue(self) -> str:  # WSDiscovery's API
        return self.value


class FakeService:
    def __init__(self, epr: str, xaddrs: list[str], scopes: list[str]) -> None:
        self.epr, self.xaddrs, self.scopes = epr, xaddrs, [FakeScope(s) for s in scopes]

    def getEPR(self) -> str:
        return self.epr

    def getXAddrs(self) -> list[str]:
        return self.xaddrs

    def getScopes(self) -> list[FakeScope]:
        return self.scopes


class FakeWSDiscovery:
    """Records how it is driven; returns the services given, or raises."""

    instances: list[FakeWSDiscovery] = []  # noqa: RUF012
    services: list[FakeService] = []  # noqa: RUF012
    error: Exception | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[str] = []
        self.search: dict[str, Any] = {}
        FakeWSDiscovery.instances.append(self)

    def start(self) -> None:
        self.calls.append("start")

    def searchServices(self, **kwargs: Any) -> list[FakeService]:
        self.calls.append("search")
        self.search = kwargs
        if FakeWSDiscovery.error is not None:
            raise FakeWSDiscovery.error
        return FakeWSDiscovery.services

    def stop(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def fake_wsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeWSDiscovery]]:
    FakeWSDiscovery.instances = []
    FakeWSDiscovery.services = []
    FakeWSDiscovery.error = None
    monkeypatch.setattr(discovery, "ThreadedWSDiscovery", FakeWSDiscovery)
    yield FakeWSDiscovery


def test_discover_maps_dedupes_and_stops(fake_wsd: type[FakeWSDiscovery]) -> None:
    streaming = "onvif://www.onvif.org/Profile/Streaming"
    fake_wsd.services = [
        FakeService(
            "urn:uuid:a",
            ["http://192.168.1.64:8899/onvif/device_service"],
            [streaming, "onvif://www.onvif.org/name/Gate%20cam", "onvif://www.onvif.org/hardware/IPC-1"],
        ),
        FakeService("urn:uuid:a", ["http://192.168.1.99/onvif/device_service"], [streaming]),  # same EPR again
        FakeService("urn:uuid:b", [], [streaming]),  # no device service URL (a Resolve never answered)
        FakeService("urn:uuid:c", ["http://192.168.1.70/onvif/device_service"], [streaming]),  # no name, no model
    ]
    found = discover_onvif(timeout=0.25)
    assert found == [
        DiscoveredDevice(host="192.168.1.64", port=8899, name="Gate cam", hardware="IPC-1", epr="urn:uuid:a"),
        DiscoveredDevice(host="192.168.1.70", port=80, name=None, hardware=None, epr="urn:uuid:c"),
    ]
    (wsd,) = fake_wsd.instances
    assert wsd.calls == ["start", "search", "stop"]
    assert wsd.kwargs == {"ttl": 4, "relates_to": True}  # as HA's onvif config flow
    assert wsd.search["timeout"] == 0.25
    (probe_type,) = wsd.search["types"]
    assert (probe_type.getNamespace(), probe_type.getLocalname()) == (NVT_NAMESPACE, "NetworkVideoTransmitter")
    assert [scope.getValue() for scope in wsd.search["scopes"]] == [streaming]


def test_discover_stops_the_threads_when_the_search_fails(fake_wsd: type[FakeWSDiscovery]) -> None:
    fake_wsd.error = OSError("Server not started")
    with pytest.raises(OSError, match="Server not started"):
        discover_onvif(timeout=0.1)
    assert fake_wsd.instances[0].calls == ["start", "search", "stop"]


# --- a real Probe and ProbeMatch in a network namespace --------------------------------------------------------------


def _run(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh, empty network namespace (deleted afterwards); skips when it cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("the WS-Discovery end-to-end test needs root to create a network namespace (ip netns add)")
    if shutil.which("ip") is None:
        pytest.skip("the WS-Discovery end-to-end test needs iproute2's `ip` to create a network namespace")
    name = f"nvr-wsd-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    made = _run("ip", "netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"cannot create a network namespace (ip netns add {name}): {made.stderr.strip()}")
    try:
        yield name
    finally:
        _run("ip", "netns", "delete", name)


def _helper(netns: str, *args: str) -> dict[str, Any]:
    """Run wsd_netns.py in the namespace; its JSON report."""
    result = _run("ip", "netns", "exec", netns, sys.executable, str(HELPER), *args, timeout=30)
    assert result.returncode == 0, f"helper failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_probe_and_probe_match_in_a_network_namespace(netns: str) -> None:
    report = _helper(netns, "--timeout", "1.5")

    # The namespace had nothing but lo (the helper refuses otherwise): nothing could leave the machine.
    assert report["interfaces"] == ["lo"]

    # The captured camera (npm onvif's ProbeMatch) and the second device derived from it, parsed by WSDiscovery.
    assert sorted((DiscoveredDevice(**device) for device in report["devices"]), key=lambda d: d.port) == [
        DiscoveredDevice(
            host="198.51.100.1",
            port=8080,
            name="Front door",
            hardware="DS-2CD2143G2-I",
            epr="urn:uuid:5f5a69c2-e0ae-11ea-87d0-0242ac130003",
        ),
        DiscoveredDevice(
            host="198.51.100.1",
            port=8899,
            name="PREDATOR",
            hardware="HD_PREDATOR",
            epr="uuid:c9790c3a-701b-464d-a189-0060351c8ada",
        ),
    ]

    # What went on the wire: one Probe (repeated, as SOAP-over-UDP has it) for ONVIF's NetworkVideoTransmitter in
    # the Profile S scope, from the namespace's address; nothing else (no Hello when the client starts).
    probes = report["probes"]
    assert probes
    assert {probe["message_id"] for probe in probes} == {probes[0]["message_id"]}
    assert set(report["actions"]) == {"http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"}
    for probe in probes:
        assert probe["from"][0] == "198.51.100.1"
        assert probe["scopes"] == ["onvif://www.onvif.org/Profile/Streaming"]
        (probe_type,) = probe["types"]
        prefix, _, local = probe_type.partition(":")
        assert (probe["namespaces"][prefix], local) == (NVT_NAMESPACE, "NetworkVideoTransmitter")

    # discover_onvif waited its timeout and stopped every thread it started.
    assert 1.5 <= report["elapsed"] < 5
    assert report["threads_left"] == []


def test_port_taken_raises_and_leaves_no_thread(netns: str) -> None:
    report = _helper(netns, "--port-taken")
    assert report["interfaces"] == ["lo"]
    assert report["error"] == "OSError: [Errno 98] Address already in use"
    assert report["threads_left"] == []
