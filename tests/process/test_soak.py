"""The chaos soak (bench/soak.py) for 3 minutes on the package's 16-channel ``hass``.

Asserts what must hold however loaded the machine is: no hang of HA's event
loop, no file descriptors or threads (Python's and native ones) left behind
once viewers are gone and the channels are back, and the untouched channels
recorded throughout. The loop-lag percentiles and RSS are reported (``-s``),
not asserted.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bench import soak
from tests.browser.harness import Hass

from .fleet import Fleet

MINUTES = 3


@pytest.mark.timeout(600)
def test_soak_three_minutes(nvr16: Hass, fleet: Fleet) -> None:
    report = asyncio.run(soak.soak(nvr16, fleet, MINUTES))
    print("\n".join(report.lines()))
    print(json.dumps(report.json()))
    asyncio.run(nvr16.async_wait_ready(channels=len(fleet.cameras)))  # the re-added channels' new ids
    assert not report.failures, report.failures
    assert report.hangs == 0, f"event loop unresponsive for over 5 s {report.hangs} times"
    assert report.end["fds"] <= report.start["fds"] + soak.FD_TOLERANCE, report.lines()
    # HA's executor keeps the threads it once needed (up to its cap): counted apart, see soak.POOLS.
    own_threads = soak.own_threads(report.threads_end), soak.own_threads(report.threads_start)
    assert own_threads[0] <= own_threads[1] + soak.THREAD_TOLERANCE, report.lines()
    # Every thread, native ones too (FFmpeg's filter-graph workers grew by a thread per CPU per recorded
    # file and live view with G.711, until the audio path made none): HA's executor apart, as above.
    all_threads = [
        figures["threads"] - soak.pool_threads(names)
        for figures, names in ((report.end, report.threads_end), (report.start, report.threads_start))
    ]
    assert all_threads[0] <= all_threads[1] + soak.THREAD_TOLERANCE, report.lines()
    assert min(report.share.values()) >= 0.99, report.share
