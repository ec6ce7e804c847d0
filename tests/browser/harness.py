"""A real Home Assistant, started as scripts/develop starts it, with an NVR whose channels are live RTSP mounts.

HA runs in its own process from a temporary config folder, on a free port of
127.0.0.1. It is onboarded, and the NVR and its channels are created, through
the same HTTP and WebSocket calls as scripts/develop (scripts/develop_setup.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import develop_setup  # noqa: E402
from support import ha_report_about_us  # noqa: E402

RELAY_SECRET = re.compile(r"\.ts\?auth=(?!\*{4})|/[A-Za-z0-9_-]{32}\.ts\b")
"""A relay URL's token as it would appear unredacted (today's query form, and the old path form)."""
START_TIMEOUT = 600
STOP_TIMEOUT = 60


def loopback_only() -> None:
    """Sockets allowed to this machine only (HA's test plugin blocks them all before each test)."""
    import pytest_socket

    pytest_socket.socket_allow_hosts(["127.0.0.1", "::1", "localhost"])
    pytest_socket.enable_socket()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@dataclass
class Hass:
    """A running ``hass`` process and what the tests need of it."""

    config: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    entry_id: str = ""
    channels: list[dict[str, Any]] = field(default_factory=list)
    """Per channel: title, subentry id and entity ids (develop_setup.channel_entities)."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables the process gets on top of ours (e.g. an allocator, as HA's images set)."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.config / "home-assistant.log"

    def start(self) -> None:
        develop_setup.write_config(self.config, self.port)
        link = self.config / "custom_components"
        if not link.exists():
            link.symlink_to(ROOT / "custom_components", target_is_directory=True)
        hass = Path(sys.executable).with_name("hass")
        console = (self.config / "console.log").open("wb")
        self.process = subprocess.Popen(
            [str(hass), "--config", str(self.config), "--log-no-color"],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **self.env},
        )
        os.environ["HASS_PID"] = str(self.process.pid)  # develop_setup.hass_alive() watches it

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int:
        """The running process's id."""
        assert self.process is not None, "hass is not running"
        return self.process.pid

    @property
    def slow_exit_stacks(self) -> Path:
        """Where :meth:`terminate` keeps the native stacks of a slow exit."""
        return self.config / "slow-exit-stacks.txt"

    def terminate(self, timeout: float = STOP_TIMEOUT, dump_after: float | None = 8.0) -> float:
        """SIGTERM and wait for the exit; the seconds it took (SIGKILL and inf after ``timeout``).

        A process still running ``dump_after`` seconds after the signal has its
        native stacks written to :attr:`slow_exit_stacks` (py-spy), to show what
        it waits for.
        """
        process, self.process = self.process, None
        assert process is not None, "hass is not running"
        self._log_at_signal = self.log_path.stat().st_size if self.log_path.exists() else 0
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(dump_after if dump_after is not None else timeout)
        except subprocess.TimeoutExpired:
            self._dump_stacks(process.pid)
            try:
                process.wait(max(0.0, timeout - (time.monotonic() - began)))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                return float("inf")
        return time.monotonic() - began

    def exit_report(self, lines: int = 40) -> str:
        """What a slow exit waited for, short enough to survive a CI log's cuts: the warnings hass
        logged after SIGTERM (HA names the threads and tasks it waited for), then the innermost
        frames of each thread py-spy found."""
        logged = ""
        if self.log_path.exists():
            with self.log_path.open("rb") as log:
                log.seek(getattr(self, "_log_at_signal", 0))
                logged = log.read().decode("utf-8", errors="replace")
        out = [
            line[:300]
            for line in logged.splitlines()
            if " WARNING " in line or " ERROR " in line or line.startswith("  File ")
        ][:lines]
        if self.slow_exit_stacks.exists():
            out.append("-- stacks (innermost frames) --")
            for thread in self.slow_exit_stacks.read_text(encoding="utf-8").split("\nThread ")[1:]:
                frames = [f.strip()[:160] for f in thread.splitlines()[1:] if f.strip()]
                out.append(f"Thread {thread.splitlines()[0][:100]}: " + " < ".join(frames[:4]))
        return "\n".join(out) or "(nothing logged after SIGTERM)"

    def _dump_stacks(self, pid: int) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        if not spy.exists():
            return
        dump = subprocess.run(
            [str(spy), "dump", "--native", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.slow_exit_stacks.write_text(dump.stdout + dump.stderr, encoding="utf-8")

    async def async_wait_ready(self, channels: int | None = None, seconds: float = START_TIMEOUT) -> None:
        """After a (re)start of an onboarded hass: wait until it runs, then read its channels again.

        With ``channels``, also wait (up to 60 s) until that many channels have their camera.
        """
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            api = self.api(session)
            try:
                await develop_setup.wait_http(api, seconds=seconds)
                await develop_setup.wait_running(api, seconds=seconds)
                deadline = time.monotonic() + 60
                while True:
                    self.channels = await develop_setup.channel_entities(api, self.entry_id)
                    ready = channels is None or (
                        len(self.channels) == channels and all(c["camera"] for c in self.channels)
                    )
                    if ready or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
            finally:
                await api.close()

    def api(self, session: aiohttp.ClientSession) -> develop_setup.Api:
        api = develop_setup.Api(session, base=self.base, token_file=None)
        api.token = self.token
        return api

    async def async_setup(self, channels: list[dict[str, Any]]) -> None:
        """Onboard (user dev/dev), create the NVR and its channels through their flows."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            api = develop_setup.Api(session, base=self.base, token_file=None)
            try:
                await develop_setup.wait_http(api, seconds=START_TIMEOUT)
                await develop_setup.onboard_or_login(api)
                self.token = api.token
                await develop_setup.wait_running(api, seconds=START_TIMEOUT)
                self.entry_id = await develop_setup.ensure_nvr(
                    api, discover_devices=False
                )  # no probe leaves the machine
                for channel in channels:
                    await develop_setup.add_channel(api, self.entry_id, channel)
                deadline = time.monotonic() + 60
                while True:
                    self.channels = await develop_setup.channel_entities(api, self.entry_id)
                    ready = len(self.channels) == len(channels) and all(c["camera"] for c in self.channels)
                    if ready or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
            finally:
                await api.close()

    async def async_ws(self, msg_type: str, **payload: Any) -> Any:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            api = self.api(session)
            try:
                return await api.ws(msg_type, **payload)
            finally:
                await api.close()

    async def async_states(self) -> dict[str, dict[str, Any]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            return {s["entity_id"]: s for s in await self.api(session).get("/api/states")}

    def ws(self, msg_type: str, **payload: Any) -> Any:
        return asyncio.run(self.async_ws(msg_type, **payload))

    def call(self, domain: str, service: str, **data: Any) -> None:
        """Call an action over the REST API."""

        async def call() -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
                await self.api(session).post(f"/api/services/{domain}/{service}", data)

        asyncio.run(call())

    def states(self) -> dict[str, dict[str, Any]]:
        return asyncio.run(self.async_states())

    def assert_log_clean(self) -> None:
        """Fail if the whole log has HA reporting a deprecated or wrong use of its API by nvr
        (``support.ha_report_about_us``), or a live relay URL's secret (HA's stream writes its source
        into its errors, with ``auth=****``)."""
        path = self.log_path if self.log_path.exists() else self.config / "console.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        reports = [line for line in text.splitlines() if ha_report_about_us(line)]
        assert not reports, "HA reported nvr's use of its API:\n" + "\n".join(reports)
        secrets = [line for line in text.splitlines() if RELAY_SECRET.search(line)]
        assert not secrets, "a relay URL's secret in the log:\n" + "\n".join(secrets)

    def log_tail(self, lines: int = 60) -> str:
        for path in (self.log_path, self.config / "console.log"):
            if path.exists():
                return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        return "(no log)"
