"""The NVR wall card in a real browser, on a real Home Assistant with live RTSP channels.

Screenshots of each case are kept in .artifacts/browser/ (look at them).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .browser import DEEP, Browser
from .conftest import GARAGE, NINE, STILLS, WALL, Feeds
from .harness import Hass

NAMES = ["Front door", "Driveway", "Garden", "Garage"]
LOAD_TIMEOUT = 90
"""The dashboard's first load: HA's frontend, then four HLS streams starting on a busy 2-core machine."""
SIGNAL_LOST_WITHIN = 6.0
"""The issue's bound from the camera going away to the overlay on its tile."""
OUTAGE = 20.0
HEADER = DEEP + "return deep(document, 'nvr-wall-card')[0].shadowRoot.querySelector('.header').textContent"
NO_SIGNAL = {"en": "No video signal", "zh-Hans": "无视频信号", "ko": "비디오 신호 없음"}


def tile(browser: Browser, name: str) -> dict[str, Any] | None:
    return next((t for t in browser.tiles() or [] if t["name"] == name), None)


def playing(browser: Browser, names: list[str], seconds: float = 1.0) -> bool:
    """True if the video of each named tile advances by at least ``seconds`` over a few seconds."""
    before = {t["name"]: t["video"] for t in browser.tiles() or []}
    if any(not before.get(n) or before[n]["ready"] < 2 for n in names):
        return False
    deadline = time.monotonic() + 4 * seconds + 4
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = {t["name"]: t["video"] for t in browser.tiles() or []}
        if all(now.get(n) and now[n]["time"] >= before[n]["time"] + seconds for n in names):
            return True
    return False


def service(hass: Hass, domain: str, name: str, **data: Any) -> None:
    hass.call(domain, name, **data)


def state(hass: Hass, entity_id: str) -> str | None:
    return hass.states().get(entity_id, {}).get("state")


def entity(hass: Hass, name: str, key: str) -> str:
    return next(c[key] for c in hass.channels if c["title"] == name)


@pytest.fixture
def wall(browser: Browser) -> Browser:
    """The 4-way live wall, loaded and playing."""
    browser.open(WALL)
    browser.wait("four tiles", lambda: len(browser.tiles() or []) == 4, LOAD_TIMEOUT)
    browser.wait("the four tiles playing", lambda: playing(browser, NAMES), LOAD_TIMEOUT)
    return browser


def test_card_is_offered_in_the_card_picker(browser: Browser) -> None:
    browser.open("/nvr-test/empty?edit=1")
    # The view's "Add card" button: an ha-fab up to HA 2025, an ha-button from HA 2026 (2026.11 has no ha-fab).
    fab = (
        DEEP
        + """
      const f = deep(document, 'ha-fab')[0]
        || deep(document, 'ha-button').find((b) => b.textContent.trim() === 'Add card');
      if (f) f.click();
      return !!f;"""
    )
    browser.wait("the Add card button", lambda: browser.script(fab), LOAD_TIMEOUT)
    # HA 2026's dialog opens on its "By entity" tab: the cards are on "By card" (HA 2025's first tab).
    names = (
        DEEP
        + """
      const picker = deep(document, 'hui-card-picker')[0];
      if (!picker) {
        const byCard = deep(document, 'ha-tab-group-tab[panel="card"]')[0];
        if (byCard) byCard.click();
        return null;
      }
      return deep(picker.shadowRoot, '.card .card-header').map((e) => e.textContent.trim());"""
    )
    offered = browser.wait("the card picker", lambda: browser.script(names), 30)
    assert "NVR wall" in offered, offered
    show = (
        DEEP
        + """
      const picker = deep(document, 'hui-card-picker')[0];
      const card = deep(picker.shadowRoot, '.card').find((c) => c.textContent.includes('NVR wall'));
      card.scrollIntoView({block: 'center'});
      return !!deep(card, 'nvr-wall-card').length || !!deep(picker.shadowRoot, 'nvr-wall-card').length;"""
    )
    assert browser.wait("the card's preview in the picker", lambda: browser.script(show), 30)
    browser.screenshot("picker")

    pick = (
        DEEP
        + """
      const picker = deep(document, 'hui-card-picker')[0];
      const card = deep(picker.shadowRoot, '.card').find((c) => c.textContent.includes('NVR wall'));
      (card.querySelector('.overlay') || card).click();"""
    )
    browser.script(pick)
    editor = (
        DEEP
        + """
      const editor = deep(document, 'nvr-wall-card-editor')[0];
      return editor && editor.shadowRoot ? editor.shadowRoot.textContent : null;"""
    )
    text = browser.wait(
        "the visual editor with the channels", lambda: (browser.script(editor) or "").count("Garage"), 30
    )
    assert text
    content = browser.script(editor)
    for word in ("Demo NVR", "Layout", "Live", "Main stream", *NAMES):
        assert word in content, f"{word!r} is not in the editor"
    browser.screenshot("editor")


def test_four_way_wall_shows_names_and_plays(wall: Browser) -> None:
    tiles = wall.tiles()
    assert [t["name"] for t in tiles] == NAMES
    assert all(t["player"] == "stream" and not t["overlay"] for t in tiles)
    header = wall.script(
        DEEP + "return deep(document, 'nvr-wall-card')[0].shadowRoot.querySelector('.header').textContent"
    )
    assert "Demo NVR" in header and "4/4" in header, header
    wall.screenshot("wall-live")


def test_record_and_alarm_marks(wall: Browser, nvr_hass: Hass) -> None:
    driveway_mode = (
        entity(nvr_hass, "Driveway", "recording")
        .replace("binary_sensor.", "select.")
        .replace("_recording", "_recording_mode")
    )
    service(nvr_hass, "select", "select_option", entity_id=driveway_mode, option="off")
    try:
        wall.wait("Driveway's record mark gone", lambda: not tile(wall, "Driveway")["rec"], 20)
        assert tile(wall, "Front door")["rec"], "a recording channel shows no record mark"
        assert state(nvr_hass, entity(nvr_hass, "Front door", "recording")) == "on"
        wall.screenshot("record-mark")
    finally:
        service(nvr_hass, "select", "select_option", entity_id=driveway_mode, option="continuous")
    wall.wait("Driveway's record mark back", lambda: tile(wall, "Driveway")["rec"], 20)

    # Garden's person crosses for 1.5 s of every 4 s: with a 1 s off delay its alarm comes and goes.
    motion = entity(nvr_hass, "Garden", "motion")
    delay = motion.replace("binary_sensor.", "number.").replace("_motion", "_motion_off_delay")
    service(nvr_hass, "number", "set_value", entity_id=delay, value=1)
    wall.wait("Garden's alarm mark on", lambda: tile(wall, "Garden")["alarm"], 30, step=0.1)
    wall.screenshot("alarm-mark")
    wall.wait("Garden's alarm mark off", lambda: not tile(wall, "Garden")["alarm"], 30, step=0.1)
    wall.wait("Garden's alarm mark on again", lambda: tile(wall, "Garden")["alarm"], 30, step=0.1)
    assert not tile(wall, "Driveway")["alarm"], "a still picture shows an alarm"


def test_a_person_on_a_channel_shows_in_its_alarm_mark(wall: Browser, nvr_hass: Hass) -> None:
    """Garden's feed is a person crossing grass: its person sensor turns on and the tile shows a walker."""
    person = next(c["person"] for c in nvr_hass.channels if c["title"] == "Garden")
    assert person, "Garden has no person sensor"
    seen = wall.wait("a person on Garden's tile", lambda: (t := tile(wall, "Garden")) and t["objects"], 60, step=0.1)
    assert seen == [{"label": "person", "title": "Person", "icon": "mdi:walk", "shown": True}]
    assert state(nvr_hass, person) == "on"
    wall.screenshot("person-mark")
    for name in ("Front door", "Driveway", "Garage"):
        assert tile(wall, name)["objects"] == [], f"{name} shows an object it cannot have"


def test_dead_channel_shows_no_video_signal_then_plays_again(wall: Browser, feeds: Feeds) -> None:
    feeds.garage.stop()
    stopped = time.monotonic()
    try:
        wall.wait("the overlay on Garage", lambda: tile(wall, "Garage")["overlay"], 30, step=0.1)
        took = time.monotonic() - stopped
        garage = tile(wall, "Garage")
        wall.screenshot("no-video-signal")
        assert took <= SIGNAL_LOST_WITHIN, f"the overlay came {took:.1f} s after the camera went away"
        assert garage["overlay_text"] == "No video signal"
        assert garage["overlay_covers"], "the overlay does not cover the player"
        assert not garage["rec"], "a dead channel shows the record mark"
        assert not any(t["overlay"] for t in wall.tiles() if t["name"] != "Garage")
        header = wall.script(HEADER)
        assert "3/4" in header, header
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))  # the outage lasts its 20 s
    finally:
        feeds.garage.start()
    wall.wait("the overlay gone from Garage", lambda: not tile(wall, "Garage")["overlay"], 60)
    wall.wait("Garage playing again, without a reload", lambda: playing(wall, ["Garage"]), LOAD_TIMEOUT)
    assert wall.script("return performance.getEntriesByType('navigation').length") == 1
    wall.screenshot("signal-back")


@pytest.mark.parametrize("language", ["zh-Hans", "ko"])
def test_no_video_signal_in_the_users_language(browser: Browser, feeds: Feeds, language: str) -> None:
    feeds.garage.stop()
    try:
        browser.open(GARAGE, language=language)
        browser.wait("one tile", lambda: len(browser.tiles() or []) == 1, LOAD_TIMEOUT)
        garage = browser.wait("the overlay", lambda: (t := tile(browser, "Garage")) and t["overlay"] and t, 30)
        assert garage["overlay_text"] == NO_SIGNAL[language]
        browser.screenshot(f"no-video-signal-{language}")
    finally:
        feeds.garage.start()


def test_stills_refresh(browser: Browser) -> None:
    browser.open(STILLS)
    browser.wait("four still tiles", lambda: [t["player"] for t in browser.tiles() or []] == ["img"] * 4, LOAD_TIMEOUT)
    sources = (
        DEEP
        + """
      const card = deep(document, 'nvr-wall-card')[0];
      const images = [...card.shadowRoot.querySelectorAll('.tile .media img')];
      return images.map((i) => [i.src, i.complete && i.naturalWidth]);"""
    )
    first = browser.wait("the stills loaded", lambda: (s := browser.script(sources)) and all(w for _, w in s) and s, 30)
    later = browser.wait(
        "the stills refreshed",
        lambda: (s := browser.script(sources)) and all(a[0] != b[0] for a, b in zip(s, first, strict=True)) and s,
        10,
    )
    assert all("/api/camera_proxy/camera." in src for src, _ in later)
    browser.screenshot("wall-stills")


def test_big_layouts_play_the_sub_stream_and_a_click_zooms_to_the_main(browser: Browser, nvr_hass: Hass) -> None:
    browser.open(NINE)
    entities = (
        DEEP
        + """
      const card = deep(document, 'nvr-wall-card')[0];
      if (!card || !card.shadowRoot) return null;
      return [...card.shadowRoot.querySelectorAll('.tile:not(.blank)')].map((t) => {
        const stream = t.querySelector('ha-camera-stream');
        return stream && stream.stateObj ? stream.stateObj.entity_id : null;
      });"""
    )
    first = browser.wait("nine-way wall", lambda: (e := browser.script(entities)) and len(e) == 4 and all(e) and e, 60)
    assert first[0] == entity(nvr_hass, "Front door", "sub_camera"), first
    assert first[1] == entity(nvr_hass, "Driveway", "camera"), "a channel without a sub stream plays its main"
    blanks = browser.script(
        DEEP + "return deep(document, 'nvr-wall-card')[0].shadowRoot.querySelectorAll('.blank').length"
    )
    assert blanks == 5
    browser.screenshot("wall-nine")

    browser.script(DEEP + "deep(document, 'nvr-wall-card')[0].shadowRoot.querySelector('.tile').click()")
    zoomed = browser.wait(
        "Front door alone", lambda: (e := browser.script(entities)) and len(e) == 1 and e[0] and e, 30
    )
    assert zoomed == [entity(nvr_hass, "Front door", "camera")], "the zoomed channel does not play its main stream"
    browser.wait("Front door playing zoomed", lambda: playing(browser, ["Front door"]), LOAD_TIMEOUT)
    browser.screenshot("zoomed")
    browser.script("document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}))")
    browser.wait("the nine-way wall again", lambda: len(browser.script(entities) or []) == 4, 30)
