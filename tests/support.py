"""Helpers shared by the engine and HA tests (plain Python, no HA import)."""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

_FRAME_REPORT = "Detected that custom integration 'nvr'"
"""How ``helpers.frame.report_usage`` begins a report about this integration (both HA lines)."""
_OURS = re.compile(r"custom integration 'nvr'|'nvr' custom integration|\bfrom nvr\b|custom_components[./]nvr\b")
_DEPRECATED = re.compile(r"deprecat", re.IGNORECASE)


def ha_report_about_us(message: str) -> bool:
    """Whether a line HA logged reports a wrong or deprecated use of HA by this integration.

    ``helpers.frame`` begins "Detected that custom integration 'nvr' ...";
    ``helpers.deprecation`` says "The deprecated function X was called from
    nvr ..." (or "used", for constants) and "'x' is deprecated. Please rename
    ... in '.../custom_components/nvr/...'"; entity base classes name "the
    'nvr' custom integration" in their deprecation warnings.
    """
    return _FRAME_REPORT in message or bool(_DEPRECATED.search(message) and _OURS.search(message))


def wait_for(
    predicate: Callable[[], object], timeout: float, step: float = 0.05, explain: Callable[[], object] | None = None
) -> float:
    """Wait until predicate() is true; return the seconds it took (``explain()`` is quoted when it never is)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            detail = f": {explain()}" if explain is not None else ""
            raise AssertionError(f"condition not met within {timeout}s{detail}")
        time.sleep(step)
    return time.monotonic() - start


async def async_wait_for(hass: Any, predicate: Callable[[], object], timeout: float) -> float:
    """Let Home Assistant run until predicate() is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)
        await hass.async_block_till_done()
    return time.monotonic() - start


async def async_get_until(
    client: Any, url: str, timeout: float, check: Callable[[bytes], bool] = lambda b: True
) -> bytes:
    """GET ``url`` with HA's test client until it answers 200 with a body ``check`` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(url)
        body = await response.read()
        if response.status == 200 and check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: HTTP {response.status} after {timeout}s")
        await asyncio.sleep(0.25)


def shows_picture(reader: Any) -> bool:
    """Whether a stream reader is connected and holds a GOP: what a still of it needs.

    The reader adds the first keyframe to its GOP just before it reports itself
    connected, so waiting on the GOP alone can catch the moment in between.
    """
    return bool(reader.status.connected) and reader.gop.latest() is not None


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Check that data is a complete JPEG and return its size."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()  # decodes fully: a truncated JPEG fails here
    return image.size


def reader_threads() -> list[threading.Thread]:
    """The stream reader threads alive now."""
    return [t for t in threading.enumerate() if t.name.startswith("nvr-reader-") and t.is_alive()]


class EndWatch:
    """A packet sink that only notes the end of the connection (beside the sink under test)."""

    def __init__(self) -> None:
        self.ended = threading.Event()

    def stream_started(self, media: Any, wall_time: float) -> None:
        """Nothing to do."""

    def packet(self, packet: Any, audio: bool) -> None:
        """Nothing to do."""

    def stream_ended(self) -> None:
        """The connection ended."""
        self.ended.set()
