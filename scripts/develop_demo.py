"""Demo cameras for scripts/develop: live RTSP channels on 127.0.0.1.

Reuses the test peers (tests/rtsp_peer.py): clips made with ``make_clip``
are looped by gst-rtsp-server. Ports are fixed so the URLs saved in Home
Assistant stay valid from one run to the next:

* rtsp://127.0.0.1:8554/front/main (1280x720) and /front/sub (640x360),
  /driveway (1280x720), /garden (640x480): always on;
* rtsp://127.0.0.1:8555/garage (960x540): its own server, stopped for
  ``--down`` seconds after every ``--up`` seconds, like a camera that keeps
  dropping out;
* a Hikvision recorder to add with "Connect a device": ISAPI on
  http://127.0.0.1:8580 (user ``admin``, password ``demo1234``; the test
  suite's loopback device, tests/devices/isapi_server.py) with two channels
  whose streams are /Streaming/Channels/101, 102 and 201 on port 8554. Its
  alertStream reports motion (VMD) on channel 1 for ``--motion-for``
  seconds every ``--motion-every`` seconds.

``--list`` prints the channels as JSON (name, main_url, sub_url) for
develop_setup.py. Otherwise it runs until SIGTERM/SIGINT, then stops its
servers (their ffmpeg feeders go with them). Clips are cached in .develop/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.objects_scenes import crossing, encode  # noqa: E402
from tests.rtsp_peer import RtspServer, RtspServerError, live_mount, make_clip  # noqa: E402

STEADY_PORT = 8554
FLAKY_PORT = 8555
DEVICE_PORT = 8580
DEVICE_LOGIN = ("admin", "demo1234")
CLIP_SECONDS = 20
CLIP_VERSION = 1  # bump to regenerate cached clips after changing them

# name, server port, mount path, clip (pattern, width, height), sub stream clip
CHANNELS: list[dict] = [
    {
        "name": "Front door",
        "port": STEADY_PORT,
        "main": ("/front/main", "testsrc2", 1280, 720),
        "sub": ("/front/sub", "testsrc2", 640, 360),
    },
    {"name": "Driveway", "port": STEADY_PORT, "main": ("/driveway", "testsrc", 1280, 720)},
    # A person crossing grass (real photographs): motion, and person detection.
    {"name": "Garden", "port": STEADY_PORT, "main": ("/garden", "person", 640, 360), "objects": ["person", "vehicle"]},
    {"name": "Garage", "port": FLAKY_PORT, "main": ("/garage", "gradients=speed=0.05", 960, 540), "flaky": True},
]

# The demo recorder's channels: its number, name, and the clips of its main and sub streams.
DEVICE_CHANNELS: list[dict] = [
    {"number": 1, "name": "Shop floor", "main": ("smptebars", 1280, 720), "sub": ("smptebars", 640, 360)},
    {"number": 2, "name": "Stockroom", "main": ("rgbtestsrc", 640, 360)},
]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} demo: {message}", flush=True)


def url(port: int, path: str) -> str:
    return f"rtsp://127.0.0.1:{port}{path}"


def channel_list() -> list[dict[str, str]]:
    """What develop_setup.py enters in the channel flow."""
    return [
        {
            "name": ch["name"],
            "main_url": url(ch["port"], ch["main"][0]),
            "sub_url": url(ch["port"], ch["sub"][0]) if "sub" in ch else "",
            "flaky": bool(ch.get("flaky")),
            **({"objects": ch["objects"]} if "objects" in ch else {}),
        }
        for ch in CHANNELS
    ]


def clip(cache: Path, pattern: str, width: int, height: int) -> Path:
    """Make (once) a looping H.264 clip; cached under ``cache``."""
    slug = "".join(c if c.isalnum() else "_" for c in pattern)
    path = cache / f"v{CLIP_VERSION}-{slug}-{width}x{height}-{CLIP_SECONDS}s.ts"
    if not path.exists():
        log(f"making clip {path.name}")
        tmp = path.with_name(f".{path.stem}.tmp.ts")
        if pattern == "person":  # someone walks across every 10 s
            encode(crossing("cameraman", "grass", 0.08, seconds=10.0, enter=1.0, leave=5.0), tmp)
        else:
            make_clip(tmp, width=width, height=height, fps=15, gop=15, seconds=CLIP_SECONDS, pattern=pattern)
        tmp.replace(path)
    return path


def build_servers(cache: Path) -> tuple[RtspServer, RtspServer]:
    mounts: dict[int, list[dict]] = {STEADY_PORT: [], FLAKY_PORT: []}
    for ch in CHANNELS:
        for role in ("main", "sub"):
            if role in ch:
                path, pattern, width, height = ch[role]
                mounts[ch["port"]].append(live_mount(path, clip(cache, pattern, width, height)))
    for path, (pattern, width, height) in device_mounts().items():
        mounts[STEADY_PORT].append(live_mount(path, clip(cache, pattern, width, height)))
    return RtspServer(mounts[STEADY_PORT], port=STEADY_PORT), RtspServer(mounts[FLAKY_PORT], port=FLAKY_PORT)


def device_mounts() -> dict[str, tuple[str, int, int]]:
    """The demo recorder's RTSP paths on the steady server, and their clips."""
    mounts = {}
    for ch in DEVICE_CHANNELS:  # Hikvision's paths: <channel>01 is the main stream, <channel>02 the sub
        for stream, role in ((1, "main"), (2, "sub")):
            if role in ch:
                mounts[f"/Streaming/Channels/{ch['number']}0{stream}"] = ch[role]
    return mounts


class DemoDevice:
    """The demo Hikvision recorder: the tests' ISAPI peer, run in a thread of its own."""

    def __init__(self, port: int = DEVICE_PORT) -> None:
        """``port`` 0: any free one."""
        # Imported here: it imports the integration, and with it Home Assistant (``--list`` needs neither).
        from tests.devices.isapi_server import Channel as DeviceChannel
        from tests.devices.isapi_server import IsapiServer

        channels = [
            DeviceChannel(
                number=ch["number"],
                name=ch["name"],
                width=ch["main"][1],
                height=ch["main"][2],
                sub="sub" in ch,
                **({"sub_width": ch["sub"][1], "sub_height": ch["sub"][2]} if "sub" in ch else {}),
            )
            for ch in DEVICE_CHANNELS
        ]
        username, password = DEVICE_LOGIN
        self.server = IsapiServer(
            channels=channels, username=username, password=password, rtsp_port=STEADY_PORT, heartbeat=10.0
        )
        self.server.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="demo-device", daemon=True)

    def start(self) -> None:
        """Listen; raises OSError when the port is taken."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)

    def motion(self, channel: int, state: str) -> None:
        self._loop.call_soon_threadsafe(self.server.push_event, channel, "VMD", state)

    def stop(self) -> None:
        """Close the alert streams and stop listening; never raises."""
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
            except Exception as err:  # the RTSP servers must still be stopped after it
                log(f"the demo recorder did not stop cleanly: {err!r}")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


def report_motion(device: DemoDevice, stop: threading.Event, every: float, lasts: float) -> None:
    """Motion on channel 1 for ``lasts`` s every ``every`` s: "active" each second, then "inactive"."""
    while not stop.wait(max(every - lasts, 1.0)):
        log(f"demo recorder: motion on channel 1 for {lasts:g} s")
        until = time.monotonic() + lasts
        while time.monotonic() < until and not stop.is_set():
            device.motion(1, "active")  # a device repeats "active" while the motion lasts
            stop.wait(1.0)
        device.motion(1, "inactive")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the channels as JSON and exit")
    parser.add_argument("--cache", type=Path, default=ROOT / ".develop" / "clips")
    parser.add_argument("--up", type=float, default=40.0, help="seconds the flaky camera stays on")
    parser.add_argument("--down", type=float, default=20.0, help="seconds the flaky camera stays off")
    parser.add_argument("--motion-every", type=float, default=60.0, help="seconds between the demo recorder's motion")
    parser.add_argument("--motion-for", type=float, default=10.0, help="seconds each motion lasts")
    args = parser.parse_args()
    if args.list:
        print(json.dumps(channel_list()))
        return 0

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # run by hand: Ctrl-C stops it too
        signal.signal(signal.SIGINT, lambda *_: stop.set())

    steady, flaky = build_servers(args.cache)
    device = DemoDevice()
    try:
        steady.start()
        flaky.start()
        try:
            device.start()
        except OSError as err:
            log(f"cannot start the demo recorder on 127.0.0.1:{DEVICE_PORT}: {err}")
            return 1
        for ch in channel_list():
            extra = f" + {ch['sub_url']}" if ch["sub_url"] else ""
            log(f"{ch['name']}: {ch['main_url']}{extra}{' (drops out)' if ch['flaky'] else ''}")
        log(f"Hikvision demo recorder: {device.server.url} (user {DEVICE_LOGIN[0]}, password {DEVICE_LOGIN[1]})")
        threading.Thread(
            target=report_motion, args=(device, stop, args.motion_every, args.motion_for), daemon=True
        ).start()
        log(f"READY (pid {os.getpid()})")
        while not stop.is_set():
            if stop.wait(args.up):
                break
            log(f"Garage camera goes off for {args.down:g} s")
            flaky.stop()
            if stop.wait(args.down):
                break
            flaky.start()
            log("Garage camera is back")
            if not steady.running:  # a feeder died: bring the steady cameras back too
                log("restarting the steady RTSP server")
                steady.ensure_running()
    except RtspServerError as err:
        log(f"cannot start the RTSP servers: {err}")
        return 1
    finally:
        stop.set()
        device.stop()
        flaky.stop()
        steady.stop()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
