"""Whole-process tests: a real ``hass`` with 16 recording channels (motion on) on live RTSP mounts.

Package fixtures (set up once for ``tests/process``, torn down after its last test):

* ``fleet``: the 16 cameras (:mod:`.fleet`): H.264, H.265 and H.264 with
  G.711 audio at 320x180, the last four on a server of their own;
* ``nvr16``: a ``hass`` process with the NVR and a channel per camera,
  created through the real flows (``tests/browser/harness.py``).

Everything talks to 127.0.0.1 only. ``scripts/test`` runs two HA lines side by
side; their whole-process tests take turns (``one_line_at_a_time``): two
16-channel hass processes at once would break the promises these tests check.
"""

from __future__ import annotations

import asyncio
import fcntl
import glob
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.harness import Hass, free_port, loopback_only

from .fleet import Fleet
from .probes import recorded_until, recording_since

READY_SECONDS = 120
"""How long a fresh hass may take to record every channel (a loaded 2-core machine)."""


@pytest.fixture(autouse=True)
def loopback_sockets() -> None:
    """hass and the RTSP servers are on 127.0.0.1: the tests talk to them, and nothing else."""
    loopback_only()


LINE_TURN_SECONDS = 240
"""Seconds this package waits for the other HA line's to end; then it runs all the same (within test_soak's timeout)."""


@pytest.fixture(scope="package", autouse=True)
def one_line_at_a_time() -> Iterator[None]:
    """Hold a lock in the repository (bind-mounted into the HA 2026 line's root) while this package runs."""
    lock_path = Path(__file__).resolve().parents[2] / ".artifacts" / "process-tests.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("a") as lock:
        deadline = time.monotonic() + LINE_TURN_SECONDS
        held = False
        while not held:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    warnings.warn("the other HA line's process tests still run: running alongside", stacklevel=1)
                    break
                time.sleep(1.0)  # a lock held by another process: nothing to wait on but the lock itself
        try:
            yield
        finally:
            if held:
                fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="package")
def fleet(one_line_at_a_time: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path_factory.mktemp("fleet")).start()
    yield fleet
    fleet.stop()


def index_db(hass: Hass) -> Path:
    """The NVR's recordings index in the hass config folder."""
    found = glob.glob(str(hass.config / "**" / "index.db"), recursive=True)
    assert found, f"no index.db under {hass.config}"
    return Path(found[0])


def wait_for(condition: Callable[[], object], seconds: float, what: str, hass: Hass | None = None) -> object:
    """Poll ``condition`` every 0.1 s until it is truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not within {seconds:.0f} s" + (f"\n{hass.log_tail()}" if hass else ""))
        time.sleep(0.1)
    return result


def wait_recording(hass: Hass, since: float, seconds: float = READY_SECONDS) -> None:
    """Wait until every channel of ``hass`` has started a file at or after ``since``."""
    ids = [c["subentry_id"] for c in hass.channels]

    def missing() -> set[str]:
        return set(ids) - recording_since(index_db(hass), ids, since)

    wait_for(lambda: not missing(), seconds, "every channel recording", hass)


def wait_recorded_past(hass: Hass, moment: float, seconds: float = 60) -> None:
    """Wait until the footage of every channel of ``hass`` reaches past ``moment`` (epoch s)."""
    ids = [c["subentry_id"] for c in hass.channels]

    def behind() -> list[str]:
        ends = recorded_until(index_db(hass), ids)
        return [i for i in ids if ends.get(i, 0) <= moment]

    wait_for(lambda: not behind(), seconds, "footage of every channel past the moment", hass)


@pytest.fixture(scope="package")
def nvr16(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hass]:
    loopback_only()
    hass = Hass(tmp_path_factory.mktemp("hass16"), free_port())
    hass.start()
    try:
        began = time.time()
        asyncio.run(hass.async_setup(fleet.channels()))
        assert [c["title"] for c in hass.channels] == [c.name for c in fleet.cameras], hass.log_tail()
        wait_recording(hass, began)
        yield hass
    finally:
        hass.stop()
    hass.assert_log_clean()
