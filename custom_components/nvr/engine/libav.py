"""FFmpeg inside Home Assistant's process, without ever stopping it.

**The deadlock this module prevents.** Freeing a codec context that has
worker threads (frame or slice threads) joins them, and PyAV frees it with
the GIL held (in ``__dealloc__``, wherever the last reference goes). When
one of those workers needs the GIL at that moment, it waits for the thread
that holds the GIL, which waits for it: the whole process stops, HA's event
loop with it. FFmpeg's workers need the GIL in two ways (native stacks in
tests/engine/test_teardown_deadlock.py show both):

* PyAV's Python log hook, installed by ``av.logging.set_level(<a level>)``
  (HA's ``stream`` calls it when it sets up, at ``FATAL``, and whenever its
  logger's level changes). Under PyAV 13.1 every ``av_log`` call then takes
  the GIL, whatever its level; under PyAV 19 every error and every message
  under the threshold does. A worker decoding a damaged packet logs one.
* under PyAV 19, a packet made from Python bytes (``av.Packet(data)``)
  refers to them, and the worker that drops the packet's last reference
  runs PyAV's free callback, a ``Py_DECREF`` under the GIL.

The fix: every codec context the engine opens runs on the calling thread
alone (:func:`single_threaded`). No FFmpeg worker of ours exists to wait
for, so freeing a context never waits on anyone, whoever installed a hook
and wherever the context is freed. Decoding costs the same CPU time; it is
just not spread over two cores for one stream. Owners still drop their
contexts at a known point (the end of their own thread's work), never
leaving them to the cyclic garbage collector.

FFmpeg's filter graphs have worker threads too: a graph's thread pool
gets one per CPU (``av_cpu_count()``). PyAV builds one inside every AAC
encoder (to cut frames to its 1024 samples, PyAV 13.1) and in every
``AudioResampler``, with no way to size it (PyAV 13.1 has no
``Graph.threads``). The engine converts audio itself (``recording.audio``)
and encodes an AAC encoder's first frame under :func:`graphs_single_threaded`,
so no graph of ours has a worker either. (A 20-minute soak ended with 112
such threads more than it began with, left for the garbage collector to
join.)

Besides, :func:`silence_log_hook` puts back PyAV's own C callback, which
drops the message: the glue keeps it so for as long as HA runs, so that
FFmpeg's threads elsewhere in the process (HA's own ``stream``) never need
the GIL to log, and under PyAV 13.1 no ``av_log`` call costs a trip through
the GIL. FFmpeg's messages are lost to the logs; the engine never needed
them (errors come back as exceptions with FFmpeg's error code, which is
what it logs and classifies).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import av
import av.logging


def log_hook_enabled() -> bool:
    """Whether FFmpeg's log calls enter Python (a level was set through ``av.logging``)."""
    return av.logging.get_level() is not None


def silence_log_hook() -> bool:
    """Keep FFmpeg's log calls out of Python; True when a hook was on and is now off."""
    if not log_hook_enabled():
        return False
    av.logging.set_level(None)
    return True


def single_threaded(ctx: Any) -> Any:
    """Make an unopened codec context run on the calling thread only; returns it."""
    ctx.thread_count = 1
    ctx.thread_type = "SLICE"  # with one thread: none at all, and one picture in, one out
    return ctx


def open_decoder(codec: str, extradata: bytes | None = None) -> Any:
    """A decoder for ``codec`` with no FFmpeg thread of its own.

    Raises av.error.FFmpegError or ValueError (unknown codec), as
    ``av.CodecContext.create`` does.
    """
    ctx = single_threaded(av.CodecContext.create(codec, "r"))
    if extradata:
        ctx.extradata = extradata
    return ctx


def open_encoder(codec: str) -> Any:
    """An encoder for ``codec`` with no FFmpeg thread of its own."""
    return single_threaded(av.CodecContext.create(codec, "w"))


@contextlib.contextmanager
def graphs_single_threaded() -> Iterator[None]:
    """FFmpeg filter graphs made in the block get no worker thread (the calling thread runs them).

    FFmpeg sizes a graph's thread pool by ``av_cpu_count()``, which counts the
    CPUs the calling thread may run on: the block runs on one of them. Use it
    around the first encode of an AAC encoder (where PyAV builds its graph).
    """
    try:
        cpus = os.sched_getaffinity(0)  # the calling thread's, on Linux
    except (AttributeError, OSError):
        cpus = set()
    pinned = False
    if len(cpus) > 1:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {min(cpus)})
            pinned = True
    try:
        yield
    finally:
        if pinned:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)
