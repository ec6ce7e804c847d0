"""Measure what our code costs the event loop, step by step, in CPU time.

Wall-clock lag of the loop measures the machine's load as much as our code:
on a busy 2-core machine the loop thread waits for a CPU or for the GIL. The
CPU time the loop thread spends inside one callback does not depend on that.
``LoopSteps`` records it for every callback the loop runs, and which steps
ran our code (a task whose coroutine chain passes through the integration).
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from custom_components import nvr

OUR_CODE = str(Path(nvr.__file__).resolve().parent)


@dataclass
class Step:
    """One callback the event loop ran."""

    cpu: float
    """Seconds of CPU time of the loop thread."""
    where: str
    """The awaiting coroutines of the task it resumed, outermost first."""
    ours: bool
    """Whether any of them is the integration's."""


@dataclass
class LoopSteps:
    """The steps recorded while ``record()`` was active."""

    steps: list[Step] = field(default_factory=list)

    def ours(self) -> list[Step]:
        """The steps that ran our code, costliest first."""
        return sorted((s for s in self.steps if s.ours), key=lambda s: s.cpu, reverse=True)

    @contextmanager
    def record(self):
        """Record every callback the event loop runs in this thread meanwhile.

        The test harness runs the loop in asyncio's debug mode, which records
        a stack trace for every future and task created: that multiplies the
        cost of any step many times over, and Home Assistant never runs so.
        It is switched off meanwhile.
        """
        loop = asyncio.get_running_loop()
        debug = loop.get_debug()
        loop.set_debug(False)
        loop_thread = threading.current_thread()
        original = asyncio.events.Handle._run
        recorder = self

        def _run(handle: asyncio.Handle) -> None:
            if threading.current_thread() is not loop_thread:
                return original(handle)
            where, ours = _task_chain(handle)
            start = time.thread_time()
            try:
                return original(handle)
            finally:
                recorder.steps.append(Step(time.thread_time() - start, where, ours))

        asyncio.events.Handle._run = _run
        try:
            yield self
        finally:
            asyncio.events.Handle._run = original
            loop.set_debug(debug)


def _task_chain(handle: asyncio.Handle) -> tuple[str, bool]:
    """Where the task a handle resumes is suspended, and whether our code is in that chain."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle)[:100], False
    names: list[str] = []
    ours = False
    coro = task.get_coro()
    while coro is not None and len(names) < 16:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is not None:
            names.append(code.co_qualname)
            ours = ours or code.co_filename.startswith(OUR_CODE)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " > ".join(names), ours
