"""The NVR page's timeline: ``nvr/timeline`` latency, and click to first picture in Chromium.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/timeline.py                        # about 7 minutes
    .venv/bin/python bench/timeline.py --skip-browser --calls 10   # the WebSocket part only

1. **nvr/timeline** over a synthetic index of ``--days`` (30) x
   ``--channels`` (16) of 60 s files and 30 events a day per channel, each
   with a thumbnail (as ``bench/browse.py`` builds them, index only: the
   command reads no file). One Home Assistant (the test harness's instance,
   real ``http`` and ``websocket_api``), a real WebSocket client logged in
   as a user, Europe/Berlin time. One day of all 16 channels, ``--calls``
   (30) calls: p50 and p95 of the round trip. Target: p50 <= 50 ms. Same
   run, same server: the media browser's way to the same answer, browsing
   the day of each of the 16 channels (``media_source/browse_media`` over
   the WebSocket), summed per round.
2. **Click to first picture**: a real ``hass`` (as ``scripts/develop``
   starts it, ``tests/browser/harness.py``) recording the browser tests'
   live feeds, and headless Chromium on the NVR page. Each of ``--clicks``
   (10) rounds picks a moment in a finished file of Front door, clicks it on
   the bar (zoomed to 2 minutes) and times, in the page, from the click's
   release (the ``pointerup`` event's own time stamp; the bar seeks on it) to
   a picture of that moment on screen (the page's player ready at the moment,
   within 1.5 s). Baseline in the same run: the same moment through the
   media browser's hour item (that hour's playlist, resolved and signed as
   the media browser does it, in HA's own ``ha-hls-player``, seeked to the
   moment once it has loaded). Target: ours p50 <= 1 s.
3. **Speed and sync**: Front door and Garage together at ``--speed`` (4)x
   from their oldest common footage, for up to 20 s. Every 0.25 s both
   pictures' moments are read from their frame numbers: the speed reached
   (their moments' advance over the wall time, after the first 2 s) and
   how far apart the two pictures are (p50, p95, max; the promise is
   0.3 s), beside how often the page said "catching up".

The last line is JSON: ``metric`` ``timeline_click_to_picture_ms_p50``
(``ours``, ``baseline``, ``ratio``) with the WebSocket figures beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

from common import OUT, free_port  # noqa: E402

TZ = "Europe/Berlin"
SEGMENT = 60


def build_index(root: Path, days: int, channels: int, end: float) -> None:
    """Index rows only: ``days`` x ``channels`` of 60 s files, 30 events a day each with a thumbnail."""
    from custom_components.nvr.engine.recording.index import RecordingIndex

    done = root / ".complete"
    if done.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    RecordingIndex(root / "index.db").close()
    start = end - days * 86400
    with sqlite3.connect(root / "index.db") as db:
        for c in range(channels):
            channel = f"ch{c:02d}"
            db.executemany(
                "INSERT INTO segments (channel, start, end, path, bytes, complete) VALUES (?, ?, ?, ?, ?, 1)",
                [
                    (channel, t, t + SEGMENT, f"{channel}/f{int(t)}.mp4", 1_000_000)
                    for t in (start + n * SEGMENT for n in range(days * 86400 // SEGMENT))
                ],
            )
            db.executemany(
                "INSERT INTO events (id, channel, kind, start, end, thumbnail) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (f"{channel}e{n:06d}", channel, "motion" if n % 3 else "manual", start + n * 2880 + 7,
                     start + n * 2880 + 37, f"{channel}/events/e{n:06d}.jpg" if n % 3 else None)
                    for n in range(days * 30)
                ],
            )  # fmt: skip
    done.touch()


async def websocket_part(args) -> dict:
    import aiohttp
    from homeassistant import loader
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import (
        MockConfigEntry,
        async_test_home_assistant,
    )

    end = datetime(2026, 11, 24, tzinfo=UTC).timestamp()
    root = OUT / f"timeline-{args.days}d-{args.channels}ch"
    build_index(root, args.days, args.channels, end)
    port = free_port()
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        await hass.config.async_set_time_zone(TZ)
        assert await async_setup_component(hass, "http", {"http": {"server_port": port}})
        assert await async_setup_component(hass, "websocket_api", {})
        assert await async_setup_component(hass, "media_source", {})
        subentries = [
            {
                "data": {"name": f"Camera {c}", "main_url": f"rtsp://127.0.0.1:9/cam{c}", "sub_url": "",
                         "username": "", "password": "", "rtsp_transport": "tcp", "recording_mode": "off"},
                "subentry_type": "channel", "title": f"Camera {c}", "unique_id": f"cam{c}", "subentry_id": f"ch{c:02d}",
            }
            for c in range(args.channels)
        ]  # fmt: skip
        entry = MockConfigEntry(
            domain="nvr",
            title="Bench NVR",
            data={"name": "Bench NVR", "storage_path": str(root)},
            options={"retain_days": 3650, "event_retain_days": 3650, "min_free_gb": 0},
            subentries_data=subentries,
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await hass.http.start()
        user = await hass.auth.async_create_user("bench")
        refresh = await hass.auth.async_create_refresh_token(user, "http://bench/")
        token = hass.auth.async_create_access_token(refresh)
        day = datetime.fromtimestamp(end - (args.days // 2) * 86400, ZoneInfo(TZ)).date().isoformat()
        ours: list[float] = []
        baseline: list[float] = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"http://127.0.0.1:{port}/api/websocket") as ws,
        ):
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": token})
            assert (await ws.receive_json())["type"] == "auth_ok"
            ids = iter(range(1, 1_000_000))

            async def call(**msg) -> dict:
                msg["id"] = next(ids)
                await ws.send_json(msg)
                answer = await ws.receive_json()
                assert answer["success"], answer
                return answer["result"]

            result = await call(type="nvr/timeline", entry_id=entry.entry_id, day=day)  # warm up
            spans = sum(len(c["spans"]) for c in result["channels"])
            events = sum(len(c["events"]) for c in result["channels"])
            for _ in range(args.calls):
                began = time.perf_counter()
                await call(type="nvr/timeline", entry_id=entry.entry_id, day=day)
                ours.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                for c in range(args.channels):
                    media_id = f"media-source://nvr/{entry.entry_id}/ch{c:02d}/day/{day}"
                    await call(type="media_source/browse_media", media_content_id=media_id)
                baseline.append((time.perf_counter() - began) * 1000)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)
    quantiles = statistics.quantiles(ours, n=20)
    return {
        "ws_p50_ms": round(statistics.median(ours), 2),
        "ws_p95_ms": round(quantiles[18], 2),
        "ws_baseline_p50_ms": round(statistics.median(baseline), 2),
        "ws_spans": spans,
        "ws_events": events,
    }


# In the page: time from the click (ours) or the player's creation (baseline) to a picture of the moment.
WATCH_OURS = """
const deep = (root, s, out = []) => { root.querySelectorAll(s).forEach((e) => out.push(e));
  root.querySelectorAll('*').forEach((e) => e.shadowRoot && deep(e.shadowRoot, s, out)); return out; };
const panel = deep(document, 'nvr-panel')[0];
const target = arguments[0];
window.__nvrBench = null;
let began = null;  // the release of the click (the bar seeks on pointerup), not when selenium sent it
window.addEventListener('pointerup', (e) => { if (began == null) began = e.timeStamp; }, {capture: true, once: true});
const poll = () => {
  if (began == null) { setTimeout(poll, 5); return; }
  const p = panel._playback;
  const c = p && p.channels[0];
  const v = c && c.active && c.active.video;
  if (p && p.wall != null && Math.abs(p.wall - target) < 5 && v && v.readyState >= 2 && !c.parked
      && Math.abs(c.wallNow() - target) < 1.5) { window.__nvrBench = performance.now() - began; return; }
  if (performance.now() - began < 30000) setTimeout(poll, 5);
};
setTimeout(poll, 0);
"""
WATCH_BASELINE = """
const [url, target] = arguments;
window.__nvrBench = null;
const began = performance.now();
const text = await (await fetch(url)).text();
let pos = 0, wall = null, at = null;
for (const line of text.split('\\n')) {
  if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) wall = Date.parse(line.slice(25)) / 1000;
  else if (line.startsWith('#EXTINF:')) { const d = parseFloat(line.slice(8));
    if (at == null && target >= wall && target < wall + d) at = pos + (target - wall); pos += d; wall += d; }
}
const player = document.createElement('ha-hls-player');
player.muted = true; player.hass = document.querySelector('home-assistant').hass; player.url = url;
player.style.cssText = 'position:fixed;left:0;top:0;width:640px;height:360px;z-index:9999';
document.body.append(player);
const poll = () => {
  const v = player.shadowRoot && player.shadowRoot.querySelector('video');
  if (v && v.readyState >= 1 && !v._nvrSeeked) { v._nvrSeeked = true; v.currentTime = at; v.play().catch(() => {}); }
  if (v && v._nvrSeeked && !v.seeking && v.readyState >= 2 && Math.abs(v.currentTime - at) < 1.5) {
    window.__nvrBench = performance.now() - began; player.remove(); return; }
  if (performance.now() - began < 30000) setTimeout(poll, 5);
};
poll();
"""


def browser_part(args) -> dict:
    import aiohttp
    from browser.browser import Browser
    from browser.conftest import Feeds, loopback_only  # noqa: F401
    from browser.harness import Hass
    from browser.test_playback import TRACK, click_at, focus, open_page, segments

    folder = Path(tempfile.mkdtemp(prefix="nvr-bench-timeline-"))
    feeds = Feeds(folder / "feeds")
    feeds.steady.start()
    feeds.garage.start()
    hass = Hass(folder / "config", free_port())
    hass.start()
    browser = None
    try:
        asyncio.run(hass.async_setup(feeds.channels()))
        front = next(c["subentry_id"] for c in hass.channels if c["title"] == "Front door")
        deadline = time.monotonic() + 300
        while len([s for s in segments(hass, front) if s[4]]) < 2:
            assert time.monotonic() < deadline, "no footage"
            time.sleep(2)
        files = [s for s in segments(hass, front) if s[4]]
        browser = Browser(hass.base, hass.token)
        rng = random.Random(7)
        ours, baseline = [], []
        for n in range(args.clicks):
            _id, start, end, _path, _c = files[n % len(files)]
            moment = rng.uniform(start + 2, end - 8)
            open_page(browser, hass, ["Front door"])
            focus(browser, moment, 120)
            browser.script(TRACK)  # laid out
            browser.script(WATCH_OURS, moment)
            click_at(browser, moment)
            ours.append(browser.wait("our picture", lambda: browser.script("return window.__nvrBench"), 40, step=0.05))
            hour = int(moment // 3600 * 3600)

            async def sign(path: str) -> str:
                async with aiohttp.ClientSession() as session:
                    api = hass.api(session)
                    return (await api.ws("auth/sign_path", path=path, expires=600))["path"]

            url = asyncio.run(sign(f"/api/nvr/{hass.entry_id}/{front}/hour/{hour}.m3u8"))
            browser.script(WATCH_BASELINE, url, moment)
            baseline.append(
                browser.wait("the hour's picture", lambda: browser.script("return window.__nvrBench"), 40, step=0.05)
            )
            print(f"click {n}: ours {ours[-1]:.0f} ms, hour item {baseline[-1]:.0f} ms", flush=True)
        figures = {"click_p50_ms": round(statistics.median(ours), 1)}
        figures["hour_p50_ms"] = round(statistics.median(baseline), 1)
        figures.update(speed_part(browser, hass, args.speed))
        return figures
    finally:
        if browser is not None:
            browser.close()
        hass.stop()
        feeds.garage.stop()
        feeds.steady.stop()


STRAIN = (
    "const p = deep(document, 'nvr-panel')[0]._playback;"
    "return p ? {catching: p.strain.catchingUp, speed: p.speed} : null;"
)


def speed_part(browser, hass, speed: int) -> dict:
    """Front door and Garage at ``speed``: the speed their pictures reach, and how far apart they are.

    Both read from their pictures' frame numbers (the browser tests' truth),
    every 0.25 s for up to 20 s of the oldest footage both channels have,
    beside whether the page said "catching up".
    """
    from browser.browser import DEEP
    from browser.test_playback import PANEL, open_page, segments, shown, truth

    names = ["Front door", "Garage"]
    ids = [next(c["subentry_id"] for c in hass.channels if c["title"] == n) for n in names]
    files = [[s for s in segments(hass, c) if s[4]] for c in ids]
    start = max(f[0][1] for f in files) + 2
    seconds = min(20.0, (min(f[-1][2] for f in files) - start) / speed - 3)
    if seconds < 8:
        print(f"{speed}x: too little footage for a measure ({seconds:.1f} s)")
        return {}
    truths = {c: truth(hass, c) for c in ids}
    open_page(browser, hass, names, t=start)
    browser.wait("both playing", lambda: shown(browser, truths), 90, step=0.1)
    browser.script(PANEL + f"root.querySelector('button[data-speed=\"{speed}\"]').click()")
    samples: list[tuple[float, dict[str, float]]] = []
    said = 0
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        now = shown(browser, truths)
        if now is not None:
            samples.append((time.monotonic(), now))
        said += bool((browser.script(DEEP + STRAIN) or {}).get("catching"))
        time.sleep(0.25)
    settled = [(t, w) for t, w in samples if t - began >= 2.0]  # the new speed's first two seconds apart
    if len(settled) < 4:
        print(f"{speed}x: too few pictures read ({len(settled)})")
        return {}
    (t0, w0), (t1, w1) = settled[0], settled[-1]
    achieved = statistics.median((w1[c] - w0[c]) / (t1 - t0) for c in ids)
    spreads = sorted(abs(w[ids[0]] - w[ids[1]]) for _, w in settled)
    p95 = spreads[min(len(spreads) - 1, int(len(spreads) * 0.95))]
    print(
        f"{speed}x, 2 channels, {t1 - t0:.1f} s: reached {achieved:.2f}x; channels apart p50"
        f" {statistics.median(spreads):.2f} s, p95 {p95:.2f} s, max {spreads[-1]:.2f} s;"
        f" 'catching up' in {said} of the samples",
        flush=True,
    )
    return {
        "speed": speed,
        "speed_reached": round(achieved, 2),
        "sync_spread_p50_s": round(statistics.median(spreads), 3),
        "sync_spread_p95_s": round(p95, 3),
        "sync_spread_max_s": round(spreads[-1], 3),
        "catching_up_samples": said,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--clicks", type=int, default=10)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--speed", type=int, choices=[2, 4, 8], default=4, help="speed of the sync part (4)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    figures = asyncio.run(websocket_part(args))
    print(
        f"nvr/timeline, 1 day x {args.channels} channels ({figures['ws_spans']} spans, {figures['ws_events']} events):"
        f" p50 {figures['ws_p50_ms']} ms, p95 {figures['ws_p95_ms']} ms;"
        f" media browser, the day of each channel: p50 {figures['ws_baseline_p50_ms']} ms",
        flush=True,
    )
    if not args.skip_browser:
        figures.update(browser_part(args))
    print(f"load average at end: {os.getloadavg()}")
    ours = figures.get("click_p50_ms", figures["ws_p50_ms"])
    baseline = figures.get("hour_p50_ms", figures["ws_baseline_p50_ms"])
    metric = "timeline_click_to_picture_ms_p50" if "click_p50_ms" in figures else "timeline_ws_ms_p50"
    print(
        json.dumps(
            {
                "metric": metric,
                "ours": ours,
                "baseline": baseline,
                "ratio": round(ours / baseline, 3),
                "targets_ms": {"click_p50": 1000, "ws_p50": 50},
                **figures,
                "days": args.days,
                "channels": args.channels,
            }
        )
    )


if __name__ == "__main__":
    main()
