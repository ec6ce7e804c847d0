"""WS-Discovery end to end inside a network namespace of its own: a camera's ProbeMatch answers ``discover_onvif``.

Run by ``test_discovery.py`` as ``ip netns exec <fresh ns> python tests/devices/wsd_netns.py``
(as root). It refuses to run when it sees any network interface but ``lo``:
in a fresh namespace nothing it sends can leave the machine. It then gives
``lo`` a non-loopback address (WSDiscovery probes from non-loopback,
non-link-local addresses only) and the multicast route, answers Probes on
239.255.255.250:3702 with the capture in ``fixtures/wsd/probe_match.xml``
(from the npm ``onvif`` package, see its README) and a second device derived
from it, calls ``discover_onvif`` and prints one JSON object: the devices it
found, the Probes the responder saw, the interfaces and the threads left.
With ``--port-taken`` it holds 3702 exclusively instead of answering, and
reports the error ``discover_onvif`` raised (and the threads left).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
DISCOVERY_PY = HERE.parents[1] / "custom_components" / "nvr" / "devices" / "discovery.py"
CAPTURE = HERE / "fixtures" / "wsd" / "probe_match.xml"

NS_ADDRESS = "198.51.100.1"
"""The namespace's only non-loopback address (TEST-NET-2, on ``lo``)."""
GROUP = "239.255.255.250"
PORT = 3702
CAMERA_PORT = 8899
"""Port of the first device's service URL (nothing listens there: discovery only reads the URL)."""

# The second device: another EPR, a URL-encoded name, a zero-conf address listed before the real one.
SECOND_EPR = "urn:uuid:5f5a69c2-e0ae-11ea-87d0-0242ac130003"
SECOND_XADDRS = f"http://169.254.10.20/onvif/device_service http://{NS_ADDRESS}:8080/onvif/device_service"

WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSDD = "http://schemas.xmlsoap.org/ws/2005/04/discovery"
PROBE_ACTION = f"{WSDD}/Probe"


def sh(*args: str) -> None:
    """Run an ``ip`` command, failing loudly."""
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def interfaces() -> list[str]:
    """Names of the network interfaces this process sees."""
    return sorted(name for _, name in socket.if_nameindex())


def set_up_namespace() -> None:
    """Refuse anything but a fresh namespace; give ``lo`` an address and the multicast route."""
    seen = interfaces()
    if seen != ["lo"]:
        sys.exit(f"refusing to run: interfaces {seen} (expected only 'lo' in a fresh network namespace)")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "set", "lo", "multicast", "on")
    sh("ip", "addr", "add", f"{NS_ADDRESS}/32", "dev", "lo")
    sh("ip", "route", "add", "224.0.0.0/4", "dev", "lo")


def load_discovery() -> ModuleType:
    """Load discovery.py by path (the ``custom_components.nvr`` package would import Home Assistant)."""
    spec = importlib.util.spec_from_file_location("nvr_devices_discovery", DISCOVERY_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Responder(threading.Thread):
    """A camera's WS-Discovery side: answers each Probe (once per MessageID) with the captured ProbeMatch."""

    def __init__(self) -> None:
        """Bind 3702 and join the group on the namespace's address."""
        super().__init__(name="wsd-responder", daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # WSDiscovery binds 3702 too
        self.sock.bind(("", PORT))
        mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(NS_ADDRESS))
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(0.1)
        self.capture = CAPTURE.read_text(encoding="utf-8")
        self.probes: list[dict[str, object]] = []
        self.actions: list[str] = []
        """Every WS-Discovery action heard on the group (a Hello at start would show here)."""
        self.answered: set[str] = set()
        self._stop = threading.Event()

    def replies(self, message_id: str) -> list[bytes]:
        """The two devices' ProbeMatches to a Probe."""
        first = self.capture.replace("RELATES_TO", message_id).replace(
            "SERVICE_URI", f"http://{NS_ADDRESS}:{CAMERA_PORT}/onvif/device_service"
        )
        second = (
            self.capture.replace("RELATES_TO", message_id)
            .replace("SERVICE_URI", SECOND_XADDRS)
            .replace("uuid:c9790c3a-701b-464d-a189-0060351c8ada", SECOND_EPR)
            .replace("01234567-dead-beef-baad-abcdeffedcba", "01234567-dead-beef-baad-000000000002")
            .replace("onvif://www.onvif.org/name/PREDATOR", "onvif://www.onvif.org/name/Front%20door")
            .replace("onvif://www.onvif.org/hardware/HD_PREDATOR", "onvif://www.onvif.org/hardware/DS-2CD2143G2-I")
        )
        return [first.encode(), second.encode()]

    def run(self) -> None:
        """Answer Probes until stopped."""
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(0xFFFF)
            except TimeoutError:
                continue
            try:
                root = ET.fromstring(data)  # noqa: S314 - our own namespace's traffic
            except ET.ParseError:
                continue
            action = root.findtext(f".//{{{WSA}}}Action", "").strip()
            self.actions.append(action)
            if action != PROBE_ACTION:
                continue  # the discovery client's own multicast socket also hears this group
            message_id = root.findtext(f".//{{{WSA}}}MessageID", "").strip()
            self.probes.append(
                {
                    "from": list(peer),
                    "message_id": message_id,
                    "types": root.findtext(f".//{{{WSDD}}}Types", "").split(),
                    "scopes": root.findtext(f".//{{{WSDD}}}Scopes", "").split(),
                    "namespaces": dict(re.findall(r'xmlns:(\w+)="([^"]*)"', data.decode(errors="replace"))),
                }
            )
            if message_id in self.answered:
                continue  # the Probe is repeated (SOAP-over-UDP); a camera answers it once
            self.answered.add(message_id)
            for reply in self.replies(message_id):
                self.sock.sendto(reply, peer)

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._stop.set()
        self.join()
        self.sock.close()


def port_taken(discovery: ModuleType) -> dict[str, object]:
    """Hold 3702 without SO_REUSEADDR (as some daemons do): ``discover_onvif`` raises and leaves no thread."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("", PORT))
    try:
        discovery.discover_onvif(timeout=0.5)
    except OSError as err:
        error = f"{type(err).__name__}: {err}"
    else:
        error = None
    finally:
        holder.close()
    return {"error": error}


def answered(discovery: ModuleType, timeout: float) -> dict[str, object]:
    """Answer the Probe as two cameras; what ``discover_onvif`` found and what the responder heard."""
    responder = Responder()
    responder.start()
    try:
        start = time.monotonic()
        devices = discovery.discover_onvif(timeout=timeout)
        elapsed = time.monotonic() - start
    finally:
        responder.stop()
    return {
        "devices": [dataclasses.asdict(device) for device in devices],
        "probes": responder.probes,
        "actions": responder.actions,
        "elapsed": elapsed,
    }


def main() -> None:
    """Set up the namespace, answer (or hold the port), discover, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=1.5, help="discover_onvif's timeout")
    parser.add_argument("--port-taken", action="store_true", help="hold 3702 exclusively instead of answering")
    args = parser.parse_args()

    set_up_namespace()
    discovery = load_discovery()
    report = port_taken(discovery) if args.port_taken else answered(discovery, args.timeout)
    report["interfaces"] = interfaces()
    report["threads_left"] = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
