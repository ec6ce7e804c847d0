"""Chaos soak: 16 recording channels in a real ``hass`` while a driver changes everything around them.

Run from the repository root (never part of the suite; ``tests/process/test_soak.py``
runs a 3-minute version)::

    .venv/bin/python bench/soak.py                 # 60 minutes
    .venv/bin/python bench/soak.py --minutes 15

See bench/README.md (soak) for what it does and reports. Human-readable lines
first, one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests", ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import develop_setup  # noqa: E402

from tests.browser.harness import Hass, free_port  # noqa: E402
from tests.process.fleet import STEADY, Fleet  # noqa: E402
from tests.process.probes import (  # noqa: E402
    LoopWatch,
    Viewers,
    os_thread_names,
    proc_figures,
    recorded_share,
    thread_names,
    window_seconds,
)

BASELINE_SECONDS = 30.0
"""Loop lag of the same hass, recording, viewed, before the chaos: the baseline."""
UNTOUCHED = 8
"""Channels 1-8 (on the steady server): nobody changes them or cuts their camera."""
CHURN = range(UNTOUCHED, STEADY)
"""Channels 9-12: deleted and added again, reconfigured, their motion switched."""
HLS_CAMERAS = (0, 1, STEADY, STEADY + 1)
"""HLS viewers only on these (two untouched, two cut): HA keeps a camera's stream 5 minutes after its
last viewer and never stops it when the camera entity goes, so these four hold every stream worker."""
MAX_VIEWERS = 6
INDEX_LAG = 15.0
"""Seconds the index may trail a running file (it is updated every 10 s)."""
RELOAD_HOLE = 15.0
"""Seconds after an entry reload began that the share does not count (a reload restarts every channel)."""
SETTLE_SECONDS = 90.0
RSS_EVERY = 30.0
"""Seconds between RSS samples during the chaos."""
WARM_UP = 1 / 6
"""The first sixth of the chaos (10 of 60 minutes) is warm-up: allocators' caches and pools fill, every
code path runs once. RSS growth is reported from the start and from the end of the warm-up."""
FD_TOLERANCE = 8
THREAD_TOLERANCE = 4
POOLS = ("SyncWorker_#",)
"""Home Assistant's executor: its threads are made on demand up to its cap and then kept (a thread pool
never retires idle threads), so their count is the most jobs that ever ran at once, not a leak. Reported
on its own, outside the growth check."""


def own_threads(names: dict[str, int]) -> int:
    """Python threads outside HA's executor pool."""
    return sum(n for name, n in names.items() if name not in POOLS)


def pool_threads(names: dict[str, int]) -> int:
    return sum(n for name, n in names.items() if name in POOLS)


@dataclass
class Report:
    """What the soak found."""

    minutes: float
    hangs: int = 0
    lag: dict[str, float] = field(default_factory=dict)
    baseline_lag: dict[str, float] = field(default_factory=dict)
    start: dict[str, int] = field(default_factory=dict)
    end: dict[str, int] = field(default_factory=dict)
    settle_seconds: float = 0.0
    threads_start: dict[str, int] = field(default_factory=dict)
    threads_end: dict[str, int] = field(default_factory=dict)
    os_threads_start: dict[str, int] = field(default_factory=dict)
    os_threads_end: dict[str, int] = field(default_factory=dict)
    """Every thread by its OS name (native ones too), at the start and after settling."""
    share: dict[str, float] = field(default_factory=dict)
    share_raw: dict[str, float] = field(default_factory=dict)
    actions: dict[str, list[float]] = field(default_factory=dict)
    """Seconds each driver action took, by kind."""
    failures: list[str] = field(default_factory=list)
    viewers: dict[str, dict[str, int]] = field(default_factory=dict)
    rss_series: list[tuple[float, int]] = field(default_factory=list)
    """(minutes into the chaos, RSS kB), every RSS_EVERY seconds."""
    thread_series: list[tuple[float, int]] = field(default_factory=list)
    """(minutes into the chaos, all threads), with the RSS."""

    @property
    def rss_growth(self) -> float:
        return self.end["rss_kb"] / self.start["rss_kb"] - 1

    @property
    def rss_warm(self) -> int:
        """RSS (kB) when the warm-up ended: the first sample from then on (the start if none)."""
        later = [rss for minute, rss in self.rss_series if minute >= self.minutes * WARM_UP]
        return later[0] if later else self.start["rss_kb"]

    @property
    def rss_growth_after_warm_up(self) -> float:
        return self.end["rss_kb"] / self.rss_warm - 1

    @property
    def rss_slope_mb_per_hour(self) -> float | None:
        """Least-squares slope of RSS after the warm-up, MB an hour (None with fewer than 3 samples)."""
        points = [(m, rss / 1024) for m, rss in self.rss_series if m >= self.minutes * WARM_UP]
        if len(points) < 3:
            return None
        mx = sum(m for m, _ in points) / len(points)
        my = sum(r for _, r in points) / len(points)
        var = sum((m - mx) ** 2 for m, _ in points)
        return 60 * sum((m - mx) * (r - my) for m, r in points) / var if var else None

    def lines(self) -> list[str]:
        def ms(lag: dict[str, float]) -> str:
            return f"p50 {lag['p50']:.1f} ms, p99 {lag['p99']:.1f} ms, max {lag['max']:.1f} ms ({lag['count']:.0f})"

        out = [
            f"minutes of chaos:        {self.minutes:g}",
            f"hangs (> 5 s):           {self.hangs}",
            f"loop lag, chaos:         {ms(self.lag)}",
            f"loop lag, baseline:      {ms(self.baseline_lag)}",
            f"RSS:                     {self.start['rss_kb'] / 1024:.0f} -> {self.end['rss_kb'] / 1024:.0f} MB"
            f" ({self.rss_growth * 100:+.1f} %; anonymous {self.start['anon_kb'] / 1024:.0f} ->"
            f" {self.end['anon_kb'] / 1024:.0f} MB, file-backed {self.start['file_kb'] / 1024:.0f} ->"
            f" {self.end['file_kb'] / 1024:.0f} MB)",
            f"RSS after warm-up:       {self.rss_warm / 1024:.0f} -> {self.end['rss_kb'] / 1024:.0f} MB"
            f" ({self.rss_growth_after_warm_up * 100:+.1f} %; from minute {self.minutes * WARM_UP:.1f},"
            f" slope {_fmt(self.rss_slope_mb_per_hour, '{:+.1f} MB/h')})",
            f"RSS each minute (MB):    {' '.join(f'{rss / 1024:.0f}' for rss in self._per_minute())}",
            f"threads each minute:     {' '.join(str(n) for n in self._per_minute(self.thread_series))}",
            f"open fds:                {self.start['fds']} -> {self.end['fds']}",
            f"threads (all / Python):  {self.start['threads']} -> {self.end['threads']} /"
            f" {own_threads(self.threads_start)} -> {own_threads(self.threads_end)}"
            f" + HA's executor {pool_threads(self.threads_start)} -> {pool_threads(self.threads_end)}"
            f" (settled after {self.settle_seconds:.0f} s)",
            f"share, untouched:        min {min(self.share.values()):.4f}"
            f" (raw, reloads counted: min {min(self.share_raw.values()):.4f})",
        ]
        changed = _changed(self.threads_start, self.threads_end)
        if changed:
            out.append(f"Python threads changed:  {changed}")
        changed = _changed(self.os_threads_start, self.os_threads_end)
        if changed:
            out.append(f"OS threads changed:      {changed}")
        for kind, seconds in sorted(self.actions.items()):
            median = sorted(seconds)[len(seconds) // 2]
            out.append(f"  {kind:<12} x{len(seconds):<3} max {max(seconds):.2f} s, median {median:.2f} s")
        out.append(f"viewers:                 {self.viewers}")
        out += [f"FAILURE: {f}" for f in self.failures]
        return out

    def _per_minute(self, series: list[tuple[float, int]] | None = None) -> list[int]:
        out: dict[int, int] = {}
        for minute, value in self.rss_series if series is None else series:
            out.setdefault(int(minute), value)
        return list(out.values())

    def json(self) -> dict[str, Any]:
        p99, base = self.lag["p99"], self.baseline_lag["p99"]
        return {
            "metric": "soak_event_loop_lag_p99_ms",
            "ours": round(p99, 1),
            "baseline": round(base, 1),
            "ratio": round(p99 / base, 2) if base else None,
            "minutes": self.minutes,
            "hangs": self.hangs,
            "lag_p50_ms": round(self.lag["p50"], 1),
            "lag_max_ms": round(self.lag["max"], 1),
            "rss_growth": round(self.rss_growth, 4),
            "rss_growth_after_warm_up": round(self.rss_growth_after_warm_up, 4),
            "rss_slope_mb_per_hour": _round(self.rss_slope_mb_per_hour, 1),
            "rss_mb_per_minute": [round(rss / 1024) for rss in self._per_minute()],
            "rss_anon_mb": [round(self.start["anon_kb"] / 1024), round(self.end["anon_kb"] / 1024)],
            "rss_file_mb": [round(self.start["file_kb"] / 1024), round(self.end["file_kb"] / 1024)],
            "fds": [self.start["fds"], self.end["fds"]],
            "threads": [self.start["threads"], self.end["threads"]],
            "threads_per_minute": self._per_minute(self.thread_series),
            "os_threads_changed": _changed(self.os_threads_start, self.os_threads_end),
            "python_threads": [own_threads(self.threads_start), own_threads(self.threads_end)],
            "executor_threads": [pool_threads(self.threads_start), pool_threads(self.threads_end)],
            "share_untouched_min": round(min(self.share.values()), 4),
            "share_untouched_raw_min": round(min(self.share_raw.values()), 4),
            "failures": len(self.failures),
        }


class Driver:
    """Adds, deletes, reconfigures and reloads channels, cuts cameras, opens and drops viewers."""

    def __init__(self, hass: Hass, fleet: Fleet, api: develop_setup.Api, viewers: Viewers, rng: random.Random) -> None:
        self.hass, self.fleet, self.api, self.viewers, self.rng = hass, fleet, api, viewers, rng
        self.report_actions: dict[str, list[float]] = {}
        self.failures: list[str] = []
        self.reloads: list[tuple[float, float]] = []
        """(epoch began, epoch ended) of every entry reload."""
        self.names = [c.name for c in fleet.cameras]
        self.deleted: set[str] = set()

    async def timed(self, kind: str, action: Callable[[], Any]) -> Any:
        began = time.monotonic()
        try:
            result = await action()
        except Exception as err:
            self.failures.append(f"{kind}: {type(err).__name__}: {err}")
            return None
        finally:
            self.report_actions.setdefault(kind, []).append(time.monotonic() - began)
        return result

    async def channels(self, api: develop_setup.Api | None = None) -> dict[str, dict[str, Any]]:
        """Channels by name (``api``: another WebSocket than the configuration's, for a concurrent caller)."""
        return {c["title"]: c for c in await develop_setup.channel_entities(api or self.api, self.hass.entry_id)}

    # -- configuration ------------------------------------------------------

    async def delete(self, name: str) -> None:
        sid = (await self.channels())[name]["subentry_id"]
        await self.timed(
            "delete",
            lambda: self.api.ws("config_entries/subentries/delete", entry_id=self.hass.entry_id, subentry_id=sid),
        )
        self.deleted.add(name)

    async def add(self, name: str) -> None:
        camera = self.fleet.cameras[self.names.index(name)]
        channel = {"name": name, "main_url": self.fleet.url(camera)}
        await self.timed("add", lambda: develop_setup.add_channel(self.api, self.hass.entry_id, channel))
        self.deleted.discard(name)

    async def reconfigure(self, name: str) -> None:
        """Switch the channel's shared connection at random (applied live: HA's stream moves, recording goes on)."""
        channel = (await self.channels())[name]
        camera = self.fleet.cameras[self.names.index(name)]

        async def flow() -> None:
            form = await self.api.post(
                "/api/config/config_entries/subentries/flow",
                {"handler": [self.hass.entry_id, "channel"], "subentry_id": channel["subentry_id"]},
            )
            path = f"/api/config/config_entries/subentries/flow/{form['flow_id']}"
            share = self.rng.random() < 0.5
            data = {"name": name, "main_url": self.fleet.url(camera), "rtsp_transport": "tcp"}
            data["share_connection"] = share
            answer = await self.api.post(path, data)
            if answer.get("step_id") != "confirm":
                await self.api.request("DELETE", path, ok=(200, 404))
                raise RuntimeError(f"reconfigure refused: {answer.get('errors') or answer}")
            answer = await self.api.post(path, {})
            if answer.get("reason") != "reconfigure_successful":
                raise RuntimeError(f"reconfigure did not save: {answer}")

        await self.timed("reconfigure", flow)

    async def motion(self, name: str) -> None:
        camera = (await self.channels())[name]["camera"]
        service = self.rng.choice(["enable_motion_detection", "disable_motion_detection"])
        await self.timed("motion", lambda: self.api.post(f"/api/services/camera/{service}", {"entity_id": camera}))

    async def reload(self) -> None:
        began = time.time()
        path = f"/api/config/config_entries/entry/{self.hass.entry_id}/reload"
        await self.timed("reload", lambda: self.api.post(path))
        self.reloads.append((began, time.time()))

    async def config_loop(self, until: float, reload_every: float) -> None:
        churn = [self.names[i] for i in CHURN]
        next_reload = time.monotonic() + reload_every / 2
        for step in itertools.count():
            if time.monotonic() >= until:
                return
            if time.monotonic() >= next_reload:
                next_reload += reload_every
                await self.reload()
            else:
                name = churn[step % len(churn)]
                if name in self.deleted:
                    await self.add(name)
                else:
                    action = self.rng.choice([self.delete, self.reconfigure, self.motion])
                    await action(name)
            await asyncio.sleep(min(max(0.0, until - time.monotonic()), self.rng.uniform(4, 10)))

    # -- cameras and viewers --------------------------------------------------

    async def camera_loop(self, until: float) -> None:
        server = self.fleet.cut
        assert server is not None
        while time.monotonic() + 45 < until:
            await asyncio.sleep(self.rng.uniform(10, 30))
            await self.timed("cut", lambda: asyncio.to_thread(server.stop))
            await asyncio.sleep(self.rng.uniform(5, 20))
            await self.timed("restore", lambda: asyncio.to_thread(server.start, 60))

    async def viewer_loop(self, until: float) -> None:
        opened: list[str] = []
        lookup = self.hass.api(self.api.session)
        while time.monotonic() < until:
            await asyncio.sleep(self.rng.uniform(2, 5))
            if len(opened) >= MAX_VIEWERS or (opened and self.rng.random() < 0.4):
                await self.viewers.drop(opened.pop(self.rng.randrange(len(opened))))
                continue
            channels = await self.channels(lookup)
            kind = self.rng.choice(["hls", "mjpeg", "still", "still"])
            pool = [self.names[i] for i in HLS_CAMERAS] if kind == "hls" else list(channels)
            camera = channels.get(self.rng.choice(pool), {}).get("camera")
            if camera:
                opened.append(self.viewers.open(kind, camera))
        for key in opened:
            await self.viewers.drop(key)
        await lookup.close()

    async def restore(self) -> None:
        """Back to the 16 channels and both servers running."""
        if self.fleet.cut is not None and not self.fleet.cut.running:
            await asyncio.to_thread(self.fleet.cut.start, 60)
        for name in list(self.deleted):
            await self.add(name)


async def _settle(
    pid: int, start: dict[str, int], names: dict[str, int], seconds: float, say: Callable[[str], None]
) -> tuple[dict[str, int], float]:
    began = time.monotonic()
    shown = began
    while True:
        now = proc_figures(pid)
        settled = now["fds"] <= start["fds"] + FD_TOLERANCE and now["threads"] <= start["threads"] + THREAD_TOLERANCE
        settled = settled or (time.monotonic() - began > 20 and own_threads(thread_names(pid)) <= own_threads(names))
        if settled or time.monotonic() - began > seconds:
            return now, time.monotonic() - began
        if time.monotonic() - shown >= 15:
            shown = time.monotonic()
            say(f"  settling: {now}, threads changed: {_changed(names, thread_names(pid))}")
        await asyncio.sleep(1)


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


async def _sample_rss(pid: int, since: float, until: float, report: Report) -> None:
    while time.monotonic() < until:
        figures, minute = proc_figures(pid), (time.monotonic() - since) / 60
        report.rss_series.append((minute, figures["rss_kb"]))
        report.thread_series.append((minute, figures["threads"]))
        await asyncio.sleep(min(RSS_EVERY, max(0.0, until - time.monotonic())))


def _changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    names = before.keys() | after.keys()
    return {n: (before.get(n, 0), after.get(n, 0)) for n in sorted(names) if before.get(n, 0) != after.get(n, 0)}


async def soak(hass: Hass, fleet: Fleet, minutes: float, seed: int = 1, say: Callable[[str], None] = print) -> Report:
    """The chaos against a running ``hass`` with the fleet's 16 channels; returns the report."""
    report = Report(minutes)
    rng = random.Random(seed)
    watch = LoopWatch(hass.base, hass.token).start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = hass.api(session)
        viewers = Viewers(hass.base, hass.token, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=30)))
        driver = Driver(hass, fleet, api, viewers, rng)
        try:
            channels = await driver.channels()
            untouched = [channels[n]["subentry_id"] for n in driver.names[:UNTOUCHED]]
            # Warm-up and baseline: the HLS cameras' streams up, then the loop of a recording, watched hass.
            primers = [viewers.open("hls", channels[driver.names[i]]["camera"]) for i in HLS_CAMERAS]
            baseline_from = time.monotonic()
            say(f"baseline: {BASELINE_SECONDS:.0f} s, 16 channels recording, HLS on {len(primers)} cameras")
            await asyncio.sleep(BASELINE_SECONDS)
            for key in primers:
                await viewers.drop(key)
            report.baseline_lag = watch.lag(baseline_from)
            report.start = proc_figures(hass.pid)
            report.threads_start = thread_names(hass.pid)
            report.os_threads_start = os_thread_names(hass.pid)
            chaos_from, chaos_wall = time.monotonic(), time.time()
            until = chaos_from + minutes * 60
            say(f"chaos: {minutes:g} min, start {report.start}")
            reload_every = max(60.0, minutes * 60 / 6)
            await asyncio.gather(
                driver.config_loop(until, reload_every),
                driver.camera_loop(until),
                driver.viewer_loop(until),
                _sample_rss(hass.pid, chaos_from, until, report),
            )
            chaos_end_wall = time.time()
            report.lag = watch.lag(chaos_from)
            report.hangs = watch.hang_count(chaos_from)
            await driver.restore()
            await viewers.drop_all()
            await viewers.session.close()
            say("chaos over: waiting for the footage to reach the index and threads to settle")
            await asyncio.sleep(INDEX_LAG)
            report.end, report.settle_seconds = await _settle(
                hass.pid, report.start, report.threads_start, SETTLE_SECONDS, say
            )
            report.threads_end = thread_names(hass.pid)
            report.os_threads_end = os_thread_names(hass.pid)
            window = (chaos_wall, chaos_end_wall)
            holes = [(began, began + RELOAD_HOLE) for began, _ in driver.reloads]
            index = next(hass.config.glob("**/index.db"))
            report.share = recorded_share(index, untouched, *window, holes)
            report.share_raw = recorded_share(index, untouched, *window)
            say(f"share window {window_seconds(*window, holes):.0f} s (of {window[1] - window[0]:.0f} s)")
        finally:
            watch.stop()
            if not viewers.session.closed:
                await viewers.drop_all()
                await viewers.session.close()
    report.actions, report.failures = driver.report_actions, driver.failures
    report.viewers = {"fetched": viewers.fetched, "failed": viewers.failed}
    return report


JEMALLOC = next(Path("/usr/lib").glob("*/libjemalloc.so.2"), Path("/usr/lib/libjemalloc.so.2"))
"""Debian's libjemalloc2, whatever the machine's architecture folder."""
HA_MALLOC_CONF = "background_thread:true,metadata_thp:auto,dirty_decay_ms:20000,muzzy_decay_ms:20000"
"""What HA's images set with jemalloc (rootfs/etc/services.d/home-assistant/run in HA core)."""


def allocator_env(allocator: str) -> dict[str, str]:
    if allocator == "glibc":
        return {}
    if not JEMALLOC.exists():
        raise SystemExit(f"{JEMALLOC} is missing: apt-get install libjemalloc2")
    return {"LD_PRELOAD": str(JEMALLOC), "MALLOC_CONF": HA_MALLOC_CONF}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--allocator",
        choices=("glibc", "jemalloc"),
        default="glibc",
        help="hass's malloc: this machine's glibc, or jemalloc as HA's OS and container images run it",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nvr-soak-") as folder:
        fleet = Fleet(Path(folder) / "fleet").start()
        hass = Hass(Path(folder) / "config", free_port(), env=allocator_env(args.allocator))
        try:
            hass.start()
            print(f"hass {hass.base}, config {hass.config}: adding {len(fleet.cameras)} channels")
            asyncio.run(hass.async_setup(fleet.channels()))
            report = asyncio.run(soak(hass, fleet, args.minutes, args.seed))
        finally:
            hass.stop()
            fleet.stop()
    for line in report.lines():
        print(line)
    print(json.dumps(report.json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
