"""The NVR page on a phone: inside the safe area where the frontend has one, never past the screen, a readable ruler.

HA 2026.8's frontend pads a custom panel by the device's safe-area insets
(notch, home indicator) unless the panel says it handles them itself
(``handle_safe_area``); the companion apps give the insets as
``--app-safe-area-inset-*``. Our page does not handle them, so the padding must
be HA's, and the page must fit what is left: a page sized to the whole
viewport would put its timeline under the home indicator. HA 2025.4's frontend
has no safe-area handling; there the page must fill the screen exactly.
"""

from __future__ import annotations

import itertools

import pytest

from .browser import DEEP, Browser
from .harness import Hass

PHONE = (390, 844)
TOP, BOTTOM = 47, 34
"""An iPhone's insets in portrait, in CSS pixels."""
LOAD_TIMEOUT = 90

BOXES = (
    DEEP
    + """
const panel = deep(document, 'nvr-panel')[0];
const page = panel && panel.shadowRoot && panel.shadowRoot.querySelector('.page');
if (!page) return null;
const box = (e) => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, height: r.height}; };
const timeline = page.querySelector('nvr-timeline');
const ticks = timeline && timeline.shadowRoot ? [...timeline.shadowRoot.querySelectorAll('.tick')].map((t) => {
  const r = t.getBoundingClientRect(); return {left: r.left, right: r.right, text: t.textContent}; }) : [];
return {panel: box(panel), page: box(page), timeline: timeline ? box(timeline) : null, ticks,
  viewport: window.innerHeight, scroll: document.scrollingElement.scrollHeight,
  safe_area: getComputedStyle(document.documentElement).getPropertyValue('--safe-area-inset-top') !== ''};
"""
)
INSETS = f"""
const s = document.documentElement.style;
s.setProperty('--app-safe-area-inset-top', '{TOP}px');
s.setProperty('--app-safe-area-inset-bottom', '{BOTTOM}px');
"""


@pytest.fixture
def phone(browser: Browser):
    browser.driver.set_window_size(*PHONE)
    try:
        yield browser
    finally:
        browser.driver.set_window_size(1280, 900)


def test_page_fits_the_phone_inside_its_safe_area(phone: Browser, nvr_hass: Hass) -> None:
    phone.open(f"/nvr?entry={nvr_hass.entry_id}")
    phone.wait("the NVR page", lambda: phone.script(BOXES), LOAD_TIMEOUT)
    phone.script(INSETS)

    def settled() -> dict | None:
        boxes = phone.script(BOXES)
        return boxes if boxes and boxes["timeline"] and boxes["timeline"]["height"] > 0 else None

    boxes = phone.wait("the page laid out with its timeline", settled, LOAD_TIMEOUT)
    if boxes["safe_area"]:  # HA 2026.8 on: the frontend pads the panel
        phone.wait("HA's safe-area padding", lambda: phone.script(BOXES)["panel"]["top"] >= TOP - 0.5, 10)
        boxes = phone.script(BOXES)
        top, bottom = TOP, BOTTOM
    else:
        top = bottom = 0
    phone.screenshot("panel-phone-safe-area")
    viewport = boxes["viewport"]
    for name in ("panel", "page"):
        assert boxes[name]["top"] >= top - 0.5, (name, boxes)
        assert boxes[name]["bottom"] <= viewport - bottom + 0.5, (name, boxes)
        assert boxes[name]["height"] >= viewport - top - bottom - 1, (f"{name} fills what is left", boxes)
    assert boxes["timeline"]["bottom"] <= viewport - bottom + 0.5, ("the timeline is on screen", boxes)
    assert boxes["scroll"] <= viewport, ("nothing is pushed below the screen", boxes)
    ticks = boxes["ticks"]
    assert len(ticks) >= 2, ("the ruler has times", ticks)
    for left, right in itertools.pairwise(ticks):
        assert left["right"] <= right["left"] + 0.5, ("the ruler's times do not overlap", ticks)
