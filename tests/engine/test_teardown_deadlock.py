"""Freeing decoders never freezes the process (issue: a decoder teardown deadlock froze HA).

The stress runs in a child process (teardown_stress.py), with PyAV's Python
log hook on as HA's stream sets it. The watchdog is here, in the parent: a
deadlocked process runs none of its Python threads, a watchdog among them.
When the child makes no progress for HANG_SECONDS, its native stacks are
dumped with py-spy, and it is killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

STRESS = Path(__file__).with_name("teardown_stress.py")
HANG_SECONDS = 5.0
"""No decoder freed for this long: the child is stuck (one takes milliseconds)."""


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


class Outcome:
    def __init__(self) -> None:
        self.closed = 0
        self.done = False
        self.hung = False
        self.stacks = ""
        self.returncode: int | None = None
        self.output: list[str] = []


def run_stress(mode: str, seconds: float) -> Outcome:
    """Run the child for ``seconds``; stop at its first hang (dumping its native stacks)."""
    outcome = Outcome()
    process = subprocess.Popen(
        [sys.executable, str(STRESS), mode, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = [time.monotonic()]

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            outcome.output.append(line)
            if line.startswith("closed "):
                outcome.closed = int(line.split()[1])
                last[0] = time.monotonic()
            elif line.startswith("done "):
                outcome.done = True

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        # The clips are encoded first (a few seconds on a busy machine): the watch starts at the first free.
        while process.poll() is None:
            time.sleep(0.1)
            now = time.monotonic()
            if outcome.closed and now - last[0] > HANG_SECONDS:
                outcome.hung = True
                break
            if not outcome.closed and now - started > seconds + 120:
                outcome.hung = True  # never freed even one decoder
                break
        if outcome.hung and (spy := py_spy()):
            dump = subprocess.run(
                [spy, "dump", "--native", "--pid", str(process.pid)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            outcome.stacks = dump.stdout + dump.stderr
    finally:
        if process.poll() is None:
            process.kill()
        outcome.returncode = process.wait(30)
        reader.join(10)
    return outcome


@pytest.mark.timeout(300)
def test_engine_decoders_are_freed_while_ffmpeg_logs_into_python() -> None:
    """Decoders as the engine opens them, freed mid-decode on 4 threads, hook on: none hangs."""
    outcome = run_stress("engine", 12.0)
    assert not outcome.hung, f"freeing a decoder hung after {outcome.closed} frees:\n{outcome.stacks}"
    assert outcome.done and outcome.returncode == 0, "".join(outcome.output[-30:])
    assert outcome.closed >= 50  # enough frees to have met the race many times (the old code: within 5)


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0, reason="py-spy reads another process's stacks as root")
def test_the_old_decoders_deadlock_as_seen_in_home_assistant() -> None:
    """The watchdog catches the old code: threaded decoders freed with the hook on hang the process.

    The native stacks show the mechanism of the frozen HA: a Python thread
    freeing a codec context (``__dealloc__`` → ``avcodec_close`` or
    ``avcodec_free_context``, GIL held) waits for FFmpeg's threads, and one
    of them waits for the GIL: in PyAV's log callback, or (PyAV 19) in the
    free callback of a packet made from Python bytes (``Py_DECREF``), which
    is why silencing the log hook alone would not do.
    """
    assert py_spy(), "py-spy is in requirements_test.txt"
    outcome = run_stress("before", 60.0)
    assert outcome.hung, f"the old decoders survived {outcome.closed} frees"
    assert "avcodec_close" in outcome.stacks or "avcodec_free_context" in outcome.stacks, outcome.stacks
    assert "__dealloc__" in outcome.stacks, outcome.stacks
    assert "log_callback" in outcome.stacks or "_python_free" in outcome.stacks, outcome.stacks
