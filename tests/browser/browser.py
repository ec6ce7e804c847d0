"""Headless Debian Chromium driven by selenium, logged in to a test HA, and what the tests read of the wall."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, WebDriverException

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
CHROMIUM = ("chromium", "chromium-browser")
CHROMEDRIVER = ("chromedriver", "chromium-driver")

# Every element matching a selector, in the document and every open shadow root under it.
DEEP = """
const deep = (root, selector, out = []) => {
  root.querySelectorAll(selector).forEach((e) => out.push(e));
  root.querySelectorAll("*").forEach((e) => e.shadowRoot && deep(e.shadowRoot, selector, out));
  return out;
};
"""

# What each tile of the first wall card shows (name, marks, overlay, player and its video).
TILES = (
    DEEP
    + """
const card = deep(document, "nvr-wall-card")[0];
if (!card || !card.shadowRoot) return null;
const visible = (e) => e && !e.classList.contains("hidden");
return [...card.shadowRoot.querySelectorAll(".tile")].map((tile) => {
  const stream = tile.querySelector("ha-camera-stream");
  const videos = stream ? deep(stream.shadowRoot || stream, "video") : [];
  const video = videos.find((v) => v.readyState > 0) || videos[0];
  const overlay = tile.querySelector(".nosignal");
  return {
    blank: tile.classList.contains("blank"),
    channel: tile.dataset.channel || null,
    name: tile.querySelector(".name") ? tile.querySelector(".name").textContent : null,
    rec: visible(tile.querySelector(".rec")),
    alarm: visible(tile.querySelector(".alarm")),
    objects: [...tile.querySelectorAll(".objects .object")].map((mark) => ({
      label: mark.dataset.label,
      title: mark.title,
      icon: mark.querySelector("ha-icon") ? mark.querySelector("ha-icon").icon : null,
      shown: mark.getBoundingClientRect().width > 0,
    })),
    overlay: visible(overlay),
    overlay_text: overlay ? overlay.querySelector(".text").textContent : null,
    overlay_covers: visible(overlay) && overlay.getBoundingClientRect().width >= tile.getBoundingClientRect().width - 1,
    player: stream ? "stream" : tile.querySelector(".media img") ? "img" : null,
    video: video ? {time: video.currentTime, ready: video.readyState, paused: video.paused} : null,
  };
});
"""
)

# Installed in every page before its own scripts: each URL the page loaded whose path ends in
# "undefined" or "null" (an element given its URL before it was known), with what loaded it and the
# page's path then.
WATCH_BAD_URLS = """
window.__nvrBadUrls = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (/\\/(undefined|null)$/.test(new URL(entry.name, location.href).pathname)) {
      window.__nvrBadUrls.push({page: location.pathname, by: entry.initiatorType, url: entry.name});
    }
  }
}).observe({type: "resource", buffered: true});
"""


def _which(names: tuple[str, ...]) -> str:
    for name in names:
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if path:
            return path
    raise RuntimeError(f"none of {names} is installed: scripts/test installs Debian's chromium and chromium-driver")


class Browser:
    """One headless Chromium window on the test HA, as user dev."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        os.environ["SE_OFFLINE"] = "true"  # selenium must never download a driver: Debian's is used
        options = webdriver.ChromeOptions()
        options.binary_location = _which(CHROMIUM)
        for arg in (
            "--headless=new",
            "--no-sandbox",  # root in CI containers
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
        ):
            options.add_argument(arg)
        service = webdriver.ChromeService(executable_path=_which(CHROMEDRIVER))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_script_timeout(30)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH_BAD_URLS})

    def close(self) -> None:
        with contextlib.suppress(WebDriverException):
            self.driver.quit()

    def open(self, path: str, language: str = "en") -> None:
        """Open a page of HA logged in (the frontend's stored tokens) with the user's language set."""
        self.driver.get(f"{self.base}/auth/providers")  # any page of the origin, to reach its localStorage
        tokens = {
            "access_token": self.token,
            "token_type": "Bearer",
            "expires_in": 315360000,
            "expires": int(time.time() * 1000) + 315360000000,
            "refresh_token": "",
            "hassUrl": self.base,
            "clientId": f"{self.base}/",
        }
        self.driver.execute_script(
            "localStorage.setItem('hassTokens', arguments[0]); localStorage.setItem('selectedLanguage', arguments[1]);",
            json.dumps(tokens),
            json.dumps(language),
        )
        self.driver.get(f"{self.base}{path}")

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def bad_urls(self) -> list[dict[str, str]]:
        """What the open page fetched at a path ending in "undefined" or "null" ({page, by, url})."""
        try:
            return self.script("return window.__nvrBadUrls || [];")
        except WebDriverException:
            return []

    def tiles(self) -> list[dict[str, Any]] | None:
        try:
            return self.script(TILES)
        except JavascriptException:
            return None

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float, step: float = 0.25) -> Any:
        """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                shot = self.screenshot(f"timeout-{what}")
                raise AssertionError(f"{what}: not within {timeout:.0f} s (screenshot {shot})")
            time.sleep(step)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / ("".join(c if c.isalnum() or c in "-_" else "_" for c in name) + ".png")
        self.driver.save_screenshot(str(path))
        return path
