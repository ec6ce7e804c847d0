"""Smart search on the NVR page, in headless Chromium against a real Home Assistant.

Garage's picture burns its frame number into a row of 16 blocks at the top
(``rtsp_peer``): block ``i`` turns white or black every 2^i frames, and all
change when the 120 s clip starts again. Blocks 9 and 10 (four cells of the
index's grid) change together at most every 512 frames (34 s at 15 fps);
block 8 beside them changes every 17 s, and the detector's 3 x 3 blur lets
one column of it into the first of those cells. A region over blocks 9 and
10 with the *small* minimum size (3 cells) must find exactly the changes of
blocks 9 and 10. The truth comes from the recorded files, decoded with PyAV.
"""

from __future__ import annotations

import itertools
import time

from rtsp_peer import CODE_BITS, CODE_HEIGHT
from selenium.webdriver.common.action_chains import ActionChains
from support import wait_for

from .browser import Browser
from .harness import Hass
from .test_playback import LOAD_TIMEOUT, PANEL, channel_id, file_codes, open_page, segments, storage

BITS = (9, 10)
"""The blocks watched."""
WIDTH = 640
HEIGHT = 360
SEARCH_WAIT = 400
"""Seconds to wait for two changes of the block in the footage (34 s apart, the camera cut by other tests)."""
RESULT = (
    PANEL
    + "const s = panel._smart; return s.result &&"
    + " {matches: s.result.matches, not_indexed: s.result.not_indexed, summary: s.summary.textContent};"
)
BANDS = (
    PANEL
    + "const t = root.querySelector('nvr-timeline').shadowRoot;"
    + " return [...t.querySelectorAll('.row')].map((r) => [r.dataset.channel, r.querySelectorAll('.found').length]);"
)
CLOCK = PANEL + "const p = panel._playback; return p && {wall: p.wall, speed: p.speed, playing: p.playing};"


def block_region() -> list[float]:
    """The blocks' rectangle in picture coordinates, a little inside them: (x0, y0, x1, y1)."""
    block = WIDTH // CODE_BITS
    return [(BITS[0] * block + 3) / WIDTH, 1 / HEIGHT, ((BITS[-1] + 1) * block - 3) / WIDTH, (CODE_HEIGHT - 6) / HEIGHT]


def changes(hass: Hass, channel: str) -> tuple[list[float], list[tuple[float, float]]]:
    """Wall times at which the blocks changed in the finished files, and the spans of those files."""
    out: list[float] = []
    spans: list[tuple[float, float]] = []
    root = storage(hass)
    mask = sum(1 << bit for bit in BITS)
    for _id, s, e, path, complete in segments(hass, channel):
        if not complete:
            continue
        spans.append((s, e))
        codes = file_codes(root / path, s)
        out += [w1 for (_w0, c0), (w1, c1) in itertools.pairwise(codes) if (c0 ^ c1) & mask]
    return out, spans


def draw_rectangle(browser: Browser, x0: float, y0: float, x1: float, y1: float) -> None:
    """A real mouse drag over the search picture, corners in picture coordinates."""
    svg = browser.script(PANEL + "return root.querySelector('svg.draw');")
    box = browser.script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", svg)
    w, h = box
    ActionChains(browser.driver).move_to_element_with_offset(
        svg, x0 * w - w / 2, y0 * h - h / 2
    ).click_and_hold().move_by_offset((x1 - x0) * w / 2, (y1 - y0) * h / 2).move_by_offset(
        (x1 - x0) * w / 2, (y1 - y0) * h / 2
    ).release().perform()


def test_draw_a_region_see_the_matches_and_play_them(browser: Browser, nvr_hass: Hass) -> None:
    garage = channel_id(nvr_hass, "Garage")
    open_page(browser, nvr_hass, ["Garage"])
    browser.script(PANEL + "root.querySelector('button.smart-search').click()")
    loaded = PANEL + "const img = root.querySelector('.search .picture'); return img.complete && img.naturalWidth > 0;"
    picture = PANEL + "const s = root.querySelector('.search'); return [s.querySelector('.picture').src, s.innerText];"
    try:
        browser.wait("the channel's picture to draw on", lambda: browser.script(loaded), LOAD_TIMEOUT)
    except AssertionError as err:
        raise AssertionError(f"{err}: {browser.script(picture)}") from None
    assert browser.script(PANEL + "return root.querySelector('select.search-channel').value") == garage
    draw_rectangle(browser, *block_region())
    browser.script(
        PANEL
        + "const s = root.querySelector('select.min-size'); s.value = '0.5'; s.dispatchEvent(new Event('change'));"
    )
    shapes = browser.script(PANEL + "return panel._smart.shapes")
    assert len(shapes) == 1 and len(shapes[0]) == 4, shapes
    browser.screenshot("search-region")

    def matches_checked():
        browser.script(PANEL + "root.querySelector('.search button.run').click()")
        time.sleep(1.0)  # the answer of the click just made
        result = browser.script(RESULT)
        if not result or len(result["matches"]) < 3:
            return None
        found, files = changes(nvr_hass, garage)
        covered = [m for m in result["matches"] if any(s <= m["start"] and m["end"] <= e for s, e in files)]
        return (result, found, files, covered) if covered else None

    result, found, files, covered = browser.wait("matches in finished files", matches_checked, SEARCH_WAIT, step=5)
    matches = result["matches"]
    assert str(len(matches)) in result["summary"], result["summary"]
    browser.wait("the matches on Garage's bar", lambda: dict(browser.script(BANDS)).get(garage) == len(matches), 10)
    assert all(n == 0 for c, n in browser.script(BANDS) if c != garage)
    thumbnails = PANEL + "return [...root.querySelectorAll('.matches img')].map((i) => i.complete && i.naturalWidth);"
    browser.wait("the matches' pictures", lambda: all(browser.script(thumbnails)), 30)
    browser.screenshot("search-matches")

    # Every match in the finished files holds a change of the blocks, and every change there (but where no
    # analysis ran) is in a match: nothing else in the picture counts, not even the block beside them.
    for match in covered:
        assert any(match["start"] <= w <= match["end"] for w in found), (match, found)
    searched = (matches[0]["start"], matches[-1]["end"])
    for wall in found:
        if not searched[0] <= wall <= searched[1] or any(a <= wall <= b for a, b in result["not_indexed"]):
            continue
        assert any(m["start"] <= wall <= m["end"] for m in matches), (wall, matches)

    # Play results: the matches at 1x, on at 16x through the quiet parts between them.
    gaps = list(itertools.pairwise(matches))
    before, after = max(gaps, key=lambda pair: pair[1]["start"] - pair[0]["end"])
    assert after["start"] - before["end"] > 15, gaps  # the changes are at least 17 s apart
    browser.script(PANEL + "root.querySelector('.search button.play-results').click()")
    samples: list[dict] = []

    def reached() -> bool:
        clock = browser.script(CLOCK)
        if clock and clock["wall"] is not None:
            samples.append(clock)
        return bool(clock and clock["wall"] is not None and clock["wall"] >= after["start"] + 1)

    wait_for(reached, 240, step=0.2)
    browser.screenshot("search-playing-results")
    quiet = [s for s in samples if before["end"] + 1 < s["wall"] < after["start"] - 10]
    inside = [s for s in samples if after["start"] + 0.5 <= s["wall"] < after["end"]]
    assert quiet and all(s["speed"] == 16 for s in quiet), samples
    assert inside and inside[-1]["speed"] == 1, samples
