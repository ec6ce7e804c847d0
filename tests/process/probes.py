"""What the stop tests and the soak measure of a running ``hass``, and the viewers they open.

Plain Python (aiohttp, no pytest), shared with ``bench/soak.py``:

* :class:`LoopWatch`: HA's event-loop responsiveness, from WebSocket ``ping``
  round trips every :data:`PING_INTERVAL`, in a thread of its own (its own
  asyncio loop), so whatever the caller's loop is busy with does not count;
* :func:`proc_figures`: RSS, open file descriptors and threads of a process;
* :class:`Viewers`: live viewers of the cameras, HLS through HA's camera
  stream (which reads the NVR's relay), MJPEG and stills (our still path);
* :func:`recorded_share`: seconds recorded / seconds elapsed, from the NVR's
  own timeline (``nvr/timeline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

PING_INTERVAL = 0.15
HANG_SECONDS = 5.0


class LoopWatch:
    """Times WebSocket pings to HA in a background thread (see the module)."""

    def __init__(self, base: str, token: str) -> None:
        """Nothing runs before :meth:`start`."""
        self.base = base
        self.token = token
        self.samples: list[tuple[float, float]] = []
        """(monotonic time sent, round trip in s)."""
        self.hangs: list[tuple[float, float]] = []
        """(monotonic time sent, seconds without an answer) of every ping that took over HANG_SECONDS."""
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LoopWatch:
        """Start pinging."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="loop-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pinging (joins the thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(HANG_SECONDS + 5)

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stop.is_set():
                try:
                    await self._session(session)
                except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError):
                    self.errors += 1
                    await asyncio.sleep(0.5)

    async def _session(self, session: aiohttp.ClientSession) -> None:
        async with session.ws_connect(f"{self.base.replace('http', 'ws', 1)}/api/websocket", heartbeat=None) as ws:
            await ws.receive_json(timeout=30)
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json(timeout=30)).get("type") != "auth_ok":
                raise RuntimeError("auth failed")
            ident = 0
            while not self._stop.is_set():
                ident += 1
                sent = time.monotonic()
                await ws.send_json({"id": ident, "type": "ping"})
                while True:
                    try:
                        msg = await ws.receive_json(timeout=HANG_SECONDS)
                    except TimeoutError:
                        waited = time.monotonic() - sent
                        if not self.hangs or self.hangs[-1][0] != sent:
                            self.hangs.append((sent, waited))
                        else:
                            self.hangs[-1] = (sent, waited)
                        continue
                    if msg.get("id") == ident:
                        break
                rtt = time.monotonic() - sent
                self.samples.append((sent, rtt))
                if rtt > HANG_SECONDS and self.hangs and self.hangs[-1][0] == sent:
                    self.hangs[-1] = (sent, rtt)
                await asyncio.sleep(max(0.0, PING_INTERVAL - rtt))

    def lag(self, since: float = 0.0, until: float = float("inf")) -> dict[str, float]:
        """p50, p99 and max round trip (ms) of the pings sent in [since, until)."""
        rtts = sorted(r * 1000 for t, r in self.samples if since <= t < until)
        if not rtts:
            return {"count": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
        p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
        return {"count": len(rtts), "p50": statistics.median(rtts), "p99": p99, "max": rtts[-1]}

    def hang_count(self, since: float = 0.0) -> int:
        """Pings sent since ``since`` that went unanswered for over HANG_SECONDS."""
        return sum(1 for t, _ in self.hangs if t >= since)


def proc_figures(pid: int) -> dict[str, int]:
    """RSS (kB; and its anonymous and file-backed parts), open file descriptors and threads of a process,
    from /proc. File-backed RSS grows once as libraries' pages are first used (a codec's first stream)."""
    status = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.split()
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {
        "rss_kb": int(status["VmRSS"][0]),
        "anon_kb": int(status["RssAnon"][0]),
        "file_kb": int(status["RssFile"][0]),
        "fds": fds,
        "threads": int(status["Threads"][0]),
    }


def thread_names(pid: int) -> dict[str, int]:
    """How many Python threads of each name (digits dropped) a process has, from ``py-spy dump``.

    /proc only names them all after the process; native threads (FFmpeg's)
    are not listed here: ``proc_figures`` counts every thread.
    """
    spy = Path(sys.executable).with_name("py-spy")
    proc = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60, check=False)
    names: dict[str, int] = {}
    for match in re.finditer(r'^Thread \S+ \((?:idle|active)\): "([^"]*)"', proc.stdout, re.MULTILINE):
        name = re.sub(r"\d+", "#", match.group(1))
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))


def os_thread_names(pid: int) -> dict[str, int]:
    """How many threads of each OS name (digits dropped) a process has, from /proc/PID/task/*/comm.

    Every thread is listed, native ones too: FFmpeg names its frame and slice threads ``av:<codec>:df#`` /
    ``sw#``; Python 3.14 gives the OS a thread's Python name (cut to 15 bytes), older Pythons do not.
    """
    names: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            name = re.sub(r"\d+", "#", (task / "comm").read_text(encoding="utf-8", errors="replace").strip())
            names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))


# --------------------------------------------------------------------------
# viewers
# --------------------------------------------------------------------------


@dataclass
class Viewers:
    """Live viewers of HA's cameras: each one an asyncio task of the caller's loop."""

    base: str
    token: str
    session: aiohttp.ClientSession
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    fetched: dict[str, int] = field(default_factory=dict)
    """Successful fetches per kind (hls, mjpeg, still)."""
    failed: dict[str, int] = field(default_factory=dict)
    stream_urls: dict[str, str] = field(default_factory=dict)
    """The HLS URL HA gave per camera entity."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _count(self, kind: str, ok: bool) -> None:
        table = self.fetched if ok else self.failed
        table[kind] = table.get(kind, 0) + 1

    def open(self, kind: str, entity_id: str) -> str:
        """Start a viewer (``hls``, ``mjpeg`` or ``still``) of a camera; returns its key."""
        key = f"{kind}:{entity_id}:{len(self.tasks)}:{time.monotonic():.3f}"
        runner = {"hls": self._hls, "mjpeg": self._mjpeg, "still": self._stills}[kind]
        self.tasks[key] = asyncio.get_running_loop().create_task(runner(entity_id), name=key)
        return key

    async def drop(self, key: str) -> None:
        """Disconnect a viewer."""
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drop_all(self) -> None:
        """Disconnect every viewer."""
        for key in list(self.tasks):
            await self.drop(key)

    async def _get(self, path: str, kind: str) -> bytes | None:
        try:
            async with self.session.get(self.base + path, headers=self.headers) as resp:
                body = await resp.read()
                self._count(kind, resp.status == 200)
                return body if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            self._count(kind, False)
            return None

    async def _stills(self, entity_id: str) -> None:
        while True:
            await self._get(f"/api/camera_proxy/{entity_id}", "still")
            await asyncio.sleep(1.0)

    async def _mjpeg(self, entity_id: str) -> None:
        while True:
            try:
                path = f"/api/camera_proxy_stream/{entity_id}"
                async with self.session.get(self.base + path, headers=self.headers) as resp:
                    self._count("mjpeg", resp.status == 200)
                    async for _chunk in resp.content.iter_chunked(65536):
                        pass
            except (aiohttp.ClientError, TimeoutError):
                self._count("mjpeg", False)
            await asyncio.sleep(1.0)

    async def _hls(self, entity_id: str) -> None:
        """What a browser playing HA's HLS does: the playlists every second, each new part once."""
        url = await self._stream_url(entity_id)
        if url is None:
            return
        master = await self._get(url, "hls")
        if master is None:
            return
        playlist = (
            url.rsplit("/", 1)[0]
            + "/"
            + next(
                (line for line in master.decode().splitlines() if line and not line.startswith("#")), "playlist.m3u8"
            )
        )
        seen: set[str] = set()
        while True:
            text = await self._get(playlist, "hls")
            if text is not None:
                segments = [ln for ln in text.decode().splitlines() if ln and not ln.startswith("#")]
                for name in segments[-1:]:
                    if name not in seen:
                        seen.add(name)
                        await self._get(url.rsplit("/", 1)[0] + "/" + name, "hls")
            await asyncio.sleep(1.0)

    async def _stream_url(self, entity_id: str) -> str | None:
        try:
            async with self.session.ws_connect(f"{self.base.replace('http', 'ws', 1)}/api/websocket") as ws:
                await ws.receive_json(timeout=30)
                await ws.send_json({"type": "auth", "access_token": self.token})
                await ws.receive_json(timeout=30)
                await ws.send_json({"id": 1, "type": "camera/stream", "entity_id": entity_id})
                answer = await ws.receive_json(timeout=60)
        except (aiohttp.ClientError, TimeoutError):
            self._count("hls", False)
            return None
        self._count("hls", bool(answer.get("success")))
        if not answer.get("success"):
            return None
        self.stream_urls[entity_id] = answer["result"]["url"]
        return answer["result"]["url"]


# --------------------------------------------------------------------------
# recording share
# --------------------------------------------------------------------------


def covered(spans: list[list[float]], start: float, end: float, holes: list[tuple[float, float]] = ()) -> float:
    """Seconds of [start, end) that ``spans`` cover, outside ``holes`` (windows not counted)."""
    cuts = sorted((max(start, a), min(end, b)) for a, b in holes if b > start and a < end)
    pieces = [(start, end)]
    for a, b in cuts:
        pieces = [p for lo, hi in pieces for p in ((lo, min(hi, a)), (max(lo, b), hi)) if p[1] > p[0]]
    total = 0.0
    for lo, hi in pieces:
        total += sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in spans)
    return total


def window_seconds(start: float, end: float, holes: list[tuple[float, float]] = ()) -> float:
    """Seconds of [start, end) outside ``holes``."""
    return covered([[start, end]], start, end, holes)


def recorded_share(
    index_db: Path, channels: list[str], start: float, end: float, holes: list[tuple[float, float]] = ()
) -> dict[str, float]:
    """Per channel: seconds recorded / seconds elapsed over [start, end) (epoch seconds, ``holes`` not counted).

    Read from the NVR's index (read-only, the raw segment times: the
    timeline's spans would hide gaps under two seconds).
    """
    elapsed = window_seconds(start, end, holes)
    with contextlib.closing(sqlite3.connect(f"file:{index_db}?mode=ro", uri=True, timeout=30)) as db:
        shares = {}
        for channel in channels:
            rows = db.execute(
                "SELECT start, end FROM segments WHERE channel = ? AND end > ? AND start < ?", (channel, start, end)
            ).fetchall()
            shares[channel] = covered(_union(rows), start, end, holes) / elapsed
    return shares


def _union(spans: list[tuple[float, float]]) -> list[list[float]]:
    merged: list[list[float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


class ViewerThread:
    """:class:`Viewers` on an asyncio loop of their own thread, for synchronous callers (the tests)."""

    def __init__(self, base: str, token: str) -> None:
        """Start the loop and its HTTP session."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="viewers", daemon=True)
        self._thread.start()

        async def make() -> Viewers:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30))
            return Viewers(base, token, session)

        self.viewers = self.run(make())

    def run(self, coro: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the viewers' loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, kind: str, entity_id: str) -> str:
        """See :meth:`Viewers.open`."""

        async def opened() -> str:
            return self.viewers.open(kind, entity_id)

        return self.run(opened())

    def close(self) -> None:
        """Drop every viewer, close the session, end the thread."""

        async def closing() -> None:
            await self.viewers.drop_all()
            await self.viewers.session.close()

        with contextlib.suppress(Exception):
            self.run(closing(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def recording_since(index_db: Path, channels: list[str], since: float) -> set[str]:
    """The channels with a file started at or after ``since`` (epoch s) in the NVR's index."""
    with contextlib.closing(sqlite3.connect(f"file:{index_db}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute("SELECT DISTINCT channel FROM segments WHERE start >= ?", (since,)).fetchall()
    return {row[0] for row in rows} & set(channels)


def recorded_until(index_db: Path, channels: list[str]) -> dict[str, float]:
    """Per channel: the end of its newest footage in the NVR's index (a running file's end lags up to 10 s)."""
    with contextlib.closing(sqlite3.connect(f"file:{index_db}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute("SELECT channel, MAX(end) FROM segments GROUP BY channel").fetchall()
    return {channel: end for channel, end in rows if channel in channels}
