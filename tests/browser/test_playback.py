"""The NVR page: playback on a timeline, in headless Chromium against a real Home Assistant.

Front door's and Garage's feeds burn their frame number into each picture
(``rtsp_peer.read_frame_code``). A picture's moment is found by decoding the
recorded files with PyAV: the wall time of each frame number in the footage.
The page's pictures are read back from its videos through a canvas.
Screenshots go to .artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from rtsp_peer import RtspServer, live_mount, make_clip, read_frame_code
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
from support import wait_for

from .browser import DEEP, Browser
from .conftest import WALL, Feeds
from .harness import Hass, develop_setup

LOAD_TIMEOUT = 90
GOP = 1.0
"""The coded clips have a keyframe every second."""
SYNC = 0.3
FOOTAGE_WAIT = 300

PANEL = DEEP + "const panel = deep(document, 'nvr-panel')[0]; const root = panel && panel.shadowRoot;"
PICK_EVENTS = (
    PANEL
    + "const f = root.querySelector('select.event-filter'); f.value = arguments[0];"
    + " f.dispatchEvent(new Event('change')); return [...f.options].map((o) => o.textContent);"
)
"""Choose a kind in the page's event filter ("" for all events); returns the options' texts."""

# Per playing screen: the frame number its picture shows, and the page's clock at the same moment.
PICTURES = (
    PANEL
    + """
if (!root || !panel._playback) return null;
const wall = panel._playback.clockNow();
const screens = [...root.querySelectorAll('.screen')].map((screen) => {
  const player = screen.querySelector('ha-hls-player:not(.standby)');
  const video = player && player.shadowRoot && player.shadowRoot.querySelector('video');
  const notice = screen.querySelector('.notice');
  const out = {channel: screen.dataset.channel, code: null,
    notice: notice && !notice.classList.contains('hidden') ? notice.textContent : null};
  if (!video || video.readyState < 2 || !video.videoWidth) return out;
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0);
  const row = ctx.getImageData(0, 12, canvas.width, 1).data;
  const block = Math.floor(canvas.width / 16);
  let code = 0;
  for (let i = 0; i < 16; i++) {
    const x = (i * block + Math.floor(block / 2)) * 4;
    if ((row[x] + row[x + 1] + row[x + 2]) / 3 > 128) code += 1 << i;
  }
  out.code = code; out.time = video.currentTime; out.paused = video.paused; out.rate = video.playbackRate;
  return out;
});
return {wall, speed: panel._playback.speed, screens};
"""
)
TRACK = (
    PANEL
    + """
const timeline = root.querySelector('nvr-timeline');
const track = timeline.shadowRoot.querySelector('.track');
const rect = track.getBoundingClientRect();
return {track, view: timeline.view, left: rect.left, top: rect.top, width: rect.width, height: rect.height};
"""
)


def storage(hass: Hass) -> Path:
    return next(hass.config.glob("media/*/index.db")).parent


def segments(hass: Hass, channel: str) -> list[tuple[int, float, float, str, bool]]:
    with sqlite3.connect(f"file:{storage(hass) / 'index.db'}?mode=ro", uri=True, timeout=10) as db:
        return db.execute(
            "SELECT id, start, end, path, complete FROM segments WHERE channel = ? ORDER BY start", (channel,)
        ).fetchall()


def file_codes(path: Path, start: float) -> list[tuple[float, int]]:
    """(wall time, frame number) of every picture of a recorded file that starts at ``start``."""
    out = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            out.append((start + float(frame.pts * stream.time_base), read_frame_code(frame.to_ndarray(format="gray"))))
    return out


class Truth:
    """Where each frame number was recorded, per channel."""

    def __init__(self) -> None:
        self.table: list[tuple[float, int]] = []

    def add(self, path: Path, start: float) -> None:
        self.table += file_codes(path, start)

    def wall(self, code: int, near: float) -> float | None:
        walls = [w for w, c in self.table if c == code]
        return min(walls, key=lambda w: abs(w - near)) if walls else None


def truth(hass: Hass, channel: str) -> Truth:
    found = Truth()
    root = storage(hass)
    for _id, start, _end, path, complete in segments(hass, channel):
        if complete:
            found.add(root / path, start)
    return found


def common_footage(hass: Hass, first: str, second: str, seconds: float = 30.0) -> float:
    """The start of the newest ``seconds`` that both channels have in finished files (waits for it)."""

    def overlap() -> float | None:
        spans = [[(s[1], s[2]) for s in segments(hass, c) if s[4]] for c in (first, second)]
        found = [max(a[0], b[0]) for a in spans[0] for b in spans[1] if min(a[1], b[1]) - max(a[0], b[0]) >= seconds]
        return max(found) if found else None

    wait_for(lambda: overlap() is not None, FOOTAGE_WAIT, step=2)
    return overlap()


def channel_id(hass: Hass, name: str) -> str:
    return next(c["subentry_id"] for c in hass.channels if c["title"] == name)


@pytest.fixture(scope="module")
def recorded(nvr_hass: Hass) -> dict[str, list]:
    """Wait until Front door and Driveway have two finished files each."""
    found: dict[str, list] = {}

    def ready() -> bool:
        for name in ("Front door", "Driveway"):
            found[name] = [s for s in segments(nvr_hass, channel_id(nvr_hass, name)) if s[4]]
        return all(len(v) >= 2 for v in found.values())

    wait_for(ready, FOOTAGE_WAIT, step=2)
    return found


def open_page(browser: Browser, hass: Hass, names: list[str], t: float | None = None, language: str = "en") -> None:
    query = f"?entry={hass.entry_id}&channels={','.join(channel_id(hass, n) for n in names)}"
    if t is not None:
        query += f"&t={t:.3f}"
    browser.open(f"/nvr{query}", language=language)
    rows = PANEL + "return root ? root.querySelector('nvr-timeline').shadowRoot.querySelectorAll('.row').length : 0"
    browser.wait("the timeline rows", lambda: browser.script(rows) >= 4, LOAD_TIMEOUT)


def click_at(browser: Browser, wall: float) -> None:
    """A real mouse click on the bar at the moment ``wall`` (which must be in view)."""
    track = browser.script(TRACK)
    a, b = track["view"]
    assert a <= wall <= b, (a, wall, b)
    x = (wall - a) / (b - a) * track["width"]
    ActionChains(browser.driver).move_to_element_with_offset(
        track["track"], x - track["width"] / 2, track["height"] * 0.6 - track["height"] / 2
    ).click().perform()


def focus(browser: Browser, wall: float, seconds: float) -> None:
    browser.script(PANEL + "root.querySelector('nvr-timeline').focus(arguments[0], arguments[1]);", wall, seconds)


def pictures(browser: Browser) -> dict[str, Any] | None:
    return browser.script(PICTURES)


def shown(browser: Browser, truths: dict[str, Truth]) -> dict[str, float] | None:
    """The wall time each playing channel's picture shows now (None until all show a known picture)."""
    state = pictures(browser)
    if not state or state["wall"] is None:
        return None
    out = {}
    for screen in state["screens"]:
        if screen["code"] is None or screen["paused"] or screen["notice"]:  # a notice covers the picture
            return None
        wall = truths[screen["channel"]].wall(screen["code"], state["wall"])
        if wall is None:
            return None
        out[screen["channel"]] = wall
    out["clock"] = state["wall"]
    return out


def test_page_shows_footage_gaps_and_events(browser: Browser, nvr_hass: Hass, feeds: Feeds, recorded) -> None:
    garage = channel_id(nvr_hass, "Garage")

    def garage_spans() -> int:
        now = time.time()
        answer = nvr_hass.ws(
            "nvr/timeline", entry_id=nvr_hass.entry_id, channels=[garage], start=now - 6 * 3600, end=now
        )
        return len(answer["channels"][0]["spans"])

    if garage_spans() < 2:
        feeds.garage.stop()  # run on its own: make the gap the wall tests otherwise leave
        time.sleep(20)
        feeds.garage.start()
        browser.wait("Garage recording again, after a gap", lambda: garage_spans() >= 2, 90)
    open_page(browser, nvr_hass, ["Front door"])
    bars = (
        PANEL
        + """
const tl = root.querySelector('nvr-timeline');
return [...tl.shadowRoot.querySelectorAll('.row')].map((r) => ({channel: r.dataset.channel,
  spans: r.querySelectorAll('.span').length, marks: [...r.querySelectorAll('.mark')].map((m) => m.className)}));"""
    )
    rows = {r["channel"]: r for r in browser.wait("the bars", lambda: browser.script(bars), 30)}
    data = nvr_hass.ws("nvr/timeline", entry_id=nvr_hass.entry_id, day=browser.script(PANEL + "return panel._day"))
    for channel in data["channels"]:
        assert rows[channel["id"]]["spans"] == len(channel["spans"]), (channel["name"], rows[channel["id"]])
    assert rows[garage]["spans"] >= 2, "the Garage mount was stopped: its bar has a gap"
    assert rows[channel_id(nvr_hass, "Front door")]["spans"] == 1, "continuous footage is one bar"
    garden = channel_id(nvr_hass, "Garden")
    assert any("motion" in m for m in rows[garden]["marks"]), "Garden's motion has marks"
    # Garden's feed is a person crossing: person detection's events are marked too, and the filter keeps them alone.
    assert any(m == "mark person" for m in rows[garden]["marks"]), rows[garden]["marks"]
    try:
        options = browser.script(PICK_EVENTS, "person")
        assert options == ["All events", "Motion", "Person", "Vehicle", "Bicycle", "Animal", "Manual recording"]

        def only_person() -> bool:
            marks = {r["channel"]: r for r in browser.script(bars)}[garden]["marks"]
            return bool(marks) and set(marks) == {"mark person"}

        browser.wait("only Garden's person marks", only_person, 10)
        browser.screenshot("playback-page-person-events")
    finally:
        browser.script(PICK_EVENTS, "")  # the choice is kept in the browser's session
    shown_day = browser.script(PANEL + "return root.querySelector('.day-button').textContent")
    assert shown_day == browser.script(PANEL + "return panel._day"), "the day picker names the day shown"
    browser.screenshot("playback-page")


def test_zoom_around_the_pointer_and_pan(browser: Browser, nvr_hass: Hass, recorded) -> None:
    open_page(browser, nvr_hass, ["Front door"])
    track = browser.script(TRACK)
    a, b = track["view"]
    pointer = track["width"] * 0.25
    under = a + (b - a) * 0.25
    chain = ActionChains(browser.driver)
    for _ in range(30):
        chain.scroll_from_origin(
            ScrollOrigin.from_element(track["track"], int(pointer - track["width"] / 2), 0), 0, -300
        )
    chain.perform()
    zoomed = browser.wait(
        "the bar zoomed in",
        lambda: (t := browser.script(TRACK)) and t["view"][1] - t["view"][0] < (b - a) / 100 and t,
        10,
    )
    za, zb = zoomed["view"]
    assert abs(za + (zb - za) * 0.25 - under) < (zb - za) * 0.05, "the zoom keeps the moment under the pointer"
    browser.script(PANEL + "root.querySelector('nvr-timeline').shadowRoot.querySelector('.track').focus()")
    ActionChains(browser.driver).send_keys("\ue014").perform()  # arrow right
    moved = browser.script(TRACK)["view"]
    assert moved[0] > za, "the right arrow pans later"


def test_click_plays_from_that_moment(browser: Browser, nvr_hass: Hass, recorded) -> None:
    front = channel_id(nvr_hass, "Front door")
    files = recorded["Front door"]
    target = files[-1][1] + 20.5  # inside the newest finished file
    open_page(browser, nvr_hass, ["Front door"])
    focus(browser, target, 120)
    truths = {front: truth(nvr_hass, front)}
    clicked = time.monotonic()
    click_at(browser, target)
    first = browser.wait("a picture from the clicked moment", lambda: shown(browser, truths), LOAD_TIMEOUT, step=0.1)
    since = time.monotonic() - clicked
    browser.screenshot("playback-click")
    assert target - GOP - 0.2 <= first[front] <= target + since + 0.2, (target, first, since)
    assert abs(first[front] - first["clock"]) <= SYNC, first
    later = browser.wait(
        "the picture advancing",
        lambda: (s := shown(browser, truths)) and s[front] >= first[front] + 2 and s,
        30,
        step=0.2,
    )
    assert abs(later[front] - later["clock"]) <= SYNC, later


def test_two_channels_play_in_sync(browser: Browser, nvr_hass: Hass, recorded) -> None:
    front, garage = channel_id(nvr_hass, "Front door"), channel_id(nvr_hass, "Garage")
    target = common_footage(nvr_hass, front, garage) + 5
    truths = {front: truth(nvr_hass, front), garage: truth(nvr_hass, garage)}
    open_page(browser, nvr_hass, ["Front door", "Garage"], t=target)
    browser.wait("both playing", lambda: shown(browser, truths), LOAD_TIMEOUT, step=0.1)
    time.sleep(1.5)  # let the follower settle on the clock (the bound is for playback, not its first second)
    offsets = []
    for _ in range(8):
        now = browser.wait("both pictures", lambda: shown(browser, truths), 20, step=0.05)
        offsets.append(now[front] - now[garage])
        time.sleep(0.4)
    browser.screenshot("playback-sync")
    assert max(abs(o) for o in offsets) <= SYNC, offsets


def test_four_times_speed(browser: Browser, nvr_hass: Hass, recorded) -> None:
    front = channel_id(nvr_hass, "Front door")
    files = recorded["Front door"]
    truths = {front: truth(nvr_hass, front)}
    open_page(browser, nvr_hass, ["Front door"], t=files[0][1] + 2)
    browser.wait("playing", lambda: shown(browser, truths), LOAD_TIMEOUT, step=0.1)
    browser.script(PANEL + "root.querySelector('button[data-speed=\"4\"]').click()")
    time.sleep(1.0)
    start = browser.wait("a picture", lambda: shown(browser, truths), 20, step=0.05)
    began = time.monotonic()
    time.sleep(4.0)
    end = browser.wait("a picture", lambda: shown(browser, truths), 20, step=0.05)
    rate = (end[front] - start[front]) / (time.monotonic() - began)
    browser.screenshot("playback-4x")
    assert 3.0 <= rate <= 5.0, f"4x played at {rate:.2f}x"


STATUS = PANEL + "return root.querySelector('.status .text').textContent"


def test_playback_that_cannot_keep_up_says_catching_up(browser: Browser, nvr_hass: Hass, recorded) -> None:
    """4x over a network far too slow for it: the page says so, with the speed reached; at 1x it clears."""
    front = channel_id(nvr_hass, "Front door")
    files = recorded["Front door"]
    open_page(browser, nvr_hass, ["Front door"], t=files[0][1] + 2)
    browser.wait("playing", lambda: shown(browser, {front: truth(nvr_hass, front)}), LOAD_TIMEOUT, step=0.1)
    assert "Catching up" not in browser.script(STATUS)
    cdp = browser.driver.execute_cdp_cmd
    cdp("Network.enable", {})
    slow = {"offline": False, "latency": 200, "downloadThroughput": 3000, "uploadThroughput": 3000}
    try:
        cdp("Network.emulateNetworkConditions", slow)
        browser.script(PANEL + "root.querySelector('button[data-speed=\"4\"]').click()")
        text = browser.wait("catching up", lambda: "Catching up" in (t := browser.script(STATUS)) and t, 90, step=0.2)
        browser.screenshot("playback-catching-up")
        match = re.fullmatch(r"Catching up: playing at (\d+\.\d)× of 4×", text)
        assert match and float(match.group(1)) < 3.2, text
    finally:
        cdp(
            "Network.emulateNetworkConditions", {**slow, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        )
    browser.script(PANEL + "root.querySelector('button[data-speed=\"1\"]').click()")
    browser.wait("the notice gone", lambda: "Catching up" not in browser.script(STATUS), 60, step=0.2)


def test_playback_crosses_an_hour_boundary(browser: Browser, nvr_hass: Hass, recorded) -> None:
    """Two finished files copied to either side of an hour three hours ago, as the recorder would have written them."""
    front = channel_id(nvr_hass, "Front door")
    root = storage(nvr_hass)
    hour = (int(time.time()) // 3600 - 3) * 3600
    copies = Truth()
    (first_id, first_start, first_end, first_path, _c), (_i, second_start, second_end, second_path, _d) = recorded[
        "Front door"
    ][:2]
    place = [
        (first_path, hour - (first_end - first_start), first_end - first_start),
        (second_path, hour, second_end - second_start),
    ]
    with sqlite3.connect(root / "index.db", timeout=30) as db:
        for n, (path, start, length) in enumerate(place):
            rel = f"{front}/copies/{hour}-{n}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / path, root / rel)
            db.execute(
                "INSERT INTO segments (channel, start, end, path, bytes, complete) VALUES (?, ?, ?, ?, ?, 1)",
                (front, start, start + length, rel, (root / rel).stat().st_size),
            )
            copies.add(root / rel, start)
    truths = {front: copies}
    open_page(browser, nvr_hass, ["Front door"], t=hour - 6)
    before = browser.wait("playing before the hour", lambda: shown(browser, truths), LOAD_TIMEOUT, step=0.1)
    assert before[front] < hour
    after = browser.wait(
        "playing on past the hour", lambda: (s := shown(browser, truths)) and s[front] > hour + 3 and s, 40, step=0.2
    )
    browser.screenshot("playback-hour-boundary")
    assert abs(after[front] - after["clock"]) <= SYNC, after


def test_playback_goes_on_from_one_range_to_the_next(browser: Browser, nvr_hass: Hass, recorded) -> None:
    """Each player covers a span (an hour; 24 s here, each next one starting 10 s before the end of the last).

    The next one is loaded ahead and swapped in on time: no footage skipped, no picture standing still.
    """
    front = channel_id(nvr_hass, "Front door")
    files = recorded["Front door"]
    truths = {front: truth(nvr_hass, front)}
    start = files[0][1] + 3
    open_page(browser, nvr_hass, ["Front door"], t=start)
    browser.wait("playing", lambda: shown(browser, truths), LOAD_TIMEOUT, step=0.1)
    browser.script(PANEL + "panel._playback.rangeSeconds = 24; panel.seek(arguments[0]);", start)
    browser.script(PANEL + "root.querySelector('button[data-speed=\"2\"]').click()")
    browser.wait(
        "playing again", lambda: (s := shown(browser, truths)) and s[front] < start + 5, LOAD_TIMEOUT, step=0.1
    )
    samples: list[tuple[float, float]] = []  # (real time, the moment the picture shows)
    began = time.monotonic()
    while (now := shown(browser, truths) or {}).get(front, 0) < start + 45:  # three ranges further
        assert time.monotonic() - began < 90, f"stuck at {samples[-1:] or now}"
        if now:
            assert abs(now[front] - now["clock"]) <= SYNC, now
            samples.append((time.monotonic(), now[front]))
        time.sleep(0.1)
    jumps = [b[1] - a[1] for a, b in itertools.pairwise(samples)]
    assert max(jumps) < 2.5, f"playback skipped footage between ranges: {max(jumps):.2f} s"
    assert min(jumps) >= -0.1, "playback went backwards at a swap"
    frozen, since = 0.0, samples[0]
    for sample in samples[1:]:
        if sample[1] > since[1]:
            since = sample
        frozen = max(frozen, sample[0] - since[0])
    assert frozen < 1.5, f"the picture stood still for {frozen:.1f} s"
    players = PANEL + "return root.querySelectorAll('.screen ha-hls-player').length"
    assert browser.script(players) <= 2, "old players are removed"
    browser.screenshot("playback-ranges")


def test_export_downloads_the_selected_span(browser: Browser, nvr_hass: Hass, recorded, tmp_path: Path) -> None:
    browser.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    files = recorded["Driveway"]
    start = files[-1][1] + 10
    open_page(browser, nvr_hass, ["Driveway"])
    focus(browser, start + 10, 60)
    browser.script(PANEL + "root.querySelector('button.select').click()")
    track = browser.script(TRACK)
    a, b = track["view"]
    x1 = (start - a) / (b - a) * track["width"] - track["width"] / 2
    x2 = (start + 12 - a) / (b - a) * track["width"] - track["width"] / 2
    ActionChains(browser.driver).move_to_element_with_offset(track["track"], x1, 0).click_and_hold().move_by_offset(
        (x2 - x1) / 2, 0
    ).move_by_offset((x2 - x1) / 2, 0).release().perform()
    span = browser.script(PANEL + "return panel._selection")
    assert span and abs(span[0] - start) < 1 and abs(span[1] - (start + 12)) < 1, span
    browser.screenshot("playback-selection")
    browser.script(PANEL + "root.querySelector('button.export').click()")
    clip = browser.wait("the downloaded MP4", lambda: next((p for p in tmp_path.glob("*.mp4")), None), 60)
    browser.wait("the download finished", lambda: not list(tmp_path.glob("*.crdownload")), 30)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(clip)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    duration = float(probe.stdout.strip())
    assert span[1] - span[0] - 0.5 <= duration <= span[1] - span[0] + GOP + 0.5, duration
    status = browser.script(PANEL + "return root.querySelector('.status .text').textContent")
    assert clip.name in status, status


def test_next_and_previous_event(browser: Browser, nvr_hass: Hass, recorded) -> None:
    garden = channel_id(nvr_hass, "Garden")
    # Garden's person crosses for 1.5 s of every 4 s: with a 1 s off delay, that is an event every 4 s.
    sensor = next(c["motion"] for c in nvr_hass.channels if c["title"] == "Garden")
    delay = sensor.replace("binary_sensor.", "number.").replace("_motion", "_motion_off_delay")
    nvr_hass.call("number", "set_value", entity_id=delay, value=1)

    def event_starts() -> list[float]:
        now = time.time()
        answer = nvr_hass.ws("nvr/timeline", entry_id=nvr_hass.entry_id, channels=[garden], start=now - 3600, end=now)
        return sorted(
            e["start"] for e in answer["channels"][0]["events"] if e["end"] is not None and e["kind"] == "motion"
        )

    starts = browser.wait("three of Garden's motion events", lambda: len(s := event_starts()) >= 3 and s, 60)
    moment = starts[-3] + 0.5
    open_page(browser, nvr_hass, ["Garden"], t=moment)
    browser.script(PICK_EVENTS, "motion")  # previous/next follow the filter; Garden has person events too
    try:
        clock = PANEL + "return panel._playback && panel._playback.wall"
        browser.wait("playing", lambda: (w := browser.script(clock)) and w > moment, LOAD_TIMEOUT)
        browser.script(PANEL + "root.querySelector('button.next-event').click()")  # next event
        landed = browser.wait(
            "at the next event", lambda: (w := browser.script(clock)) and abs(w - (starts[-2] - 1)) < 1 and w, 20
        )
        browser.script(PANEL + "root.querySelector('button.previous-event').click()")  # previous event
        browser.wait("back at the one before", lambda: abs(browser.script(clock) - (starts[-3] - 1)) < 1, 20)
        assert landed
    finally:
        browser.script(PICK_EVENTS, "")


def test_wall_card_opens_the_page_a_minute_ago(browser: Browser, nvr_hass: Hass, recorded) -> None:
    browser.open(WALL)
    # Found and clicked in one script: the card rebuilds its header on every status change (and on a new
    # snapshot), so an element handed back to selenium may be gone by the time it clicks it.
    click = DEEP + (
        "const b = deep(document, 'nvr-wall-card')[0]?.shadowRoot?.querySelector('.header .playback');"
        " if (b) b.click(); return !!b;"
    )
    button = DEEP + (
        "const b = deep(document, 'nvr-wall-card')[0]?.shadowRoot?.querySelector('.header .playback');"
        " const i = b && b.querySelector('ha-icon'); const path = i && deep(i.shadowRoot || i, 'path')[0];"
        " return b && {text: b.textContent.trim(), icon: i && i.icon, drawn: !!(path && path.getAttribute('d'))};"
    )
    shown = browser.wait("the playback button's icon", lambda: (b := browser.script(button)) and b["drawn"] and b, 30)
    assert shown == {"text": "", "icon": "mdi:history", "drawn": True}, "HA's icon, not a glyph a font may lack"
    browser.wait("the wall's playback button", lambda: browser.script(click), LOAD_TIMEOUT)
    clicked = time.time()
    browser.wait("the NVR page", lambda: browser.script("return location.pathname") == "/nvr", 30)
    state = browser.wait(
        "the wall's channels playing",
        lambda: (p := pictures(browser)) and p["wall"] and all(s["code"] is not None for s in p["screens"][:1]) and p,
        LOAD_TIMEOUT,
    )
    screens = [s["channel"] for s in state["screens"]]
    assert screens == [c["subentry_id"] for c in nvr_hass.channels[:4]], "the card's channels, in its order"
    assert clicked - 62 <= state["wall"] <= time.time() - 55, (clicked, state["wall"])
    browser.screenshot("playback-from-wall")


def test_h265_the_browser_cannot_decode_is_said_plainly(browser: Browser, nvr_hass: Hass, tmp_path: Path) -> None:
    """A channel the browser cannot decode shows why, and offers the export (run last: it adds a channel)."""
    server = RtspServer(
        [live_mount("/hevc", make_clip(tmp_path / "hevc.ts", 320, 180, seconds=4, codec="h265"), "H265")]
    )
    server.start()

    async def add() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            api = nvr_hass.api(session)
            await develop_setup.add_channel(
                api, nvr_hass.entry_id, {"name": "Loading dock", "main_url": server.url("/hevc")}
            )
            nvr_hass.channels = await develop_setup.channel_entities(api, nvr_hass.entry_id)

    try:
        asyncio.run(add())
        dock = channel_id(nvr_hass, "Loading dock")

        def codec() -> str | None:
            now = time.time()
            timeline = nvr_hass.ws("nvr/timeline", entry_id=nvr_hass.entry_id, channels=[dock], start=now - 60, end=now)
            return timeline["channels"][0]["codec"]

        browser.wait("the channel's codec known", lambda: codec() == "hevc", 60)
        open_page(browser, nvr_hass, ["Loading dock"], t=time.time() - 5)
        decodes = browser.script("return MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L93.B0\"')")
        notice = PANEL + (
            "const n = root.querySelector('.screen .notice.cannot-play');"
            " return n && !n.classList.contains('hidden') ? n.textContent : null;"
        )
        if decodes:
            pytest.skip("this Chromium decodes H.265: nothing to say")
        text = browser.wait("the H.265 notice", lambda: browser.script(notice), 30)
        assert "H.265" in text, text
        assert browser.script(PANEL + "return !!root.querySelector('.screen .notice button.export')"), (
            "no export offered"
        )
        browser.screenshot("playback-h265")
    finally:
        subentries = nvr_hass.ws("config_entries/subentries/list", entry_id=nvr_hass.entry_id)
        for sub in subentries:
            if sub["title"] == "Loading dock":
                nvr_hass.ws(
                    "config_entries/subentries/delete", entry_id=nvr_hass.entry_id, subentry_id=sub["subentry_id"]
                )
        server.stop()
