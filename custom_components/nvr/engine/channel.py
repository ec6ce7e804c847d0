"""A channel: its main stream, optional sub stream, and their still images."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import av
import av.error

from .motion.worker import MotionWorker
from .relay.placeholder import DEFAULT_FORMAT, VideoFormat
from .relay.server import RelayServer
from .relay.stream import RelayStream
from .stills.fresh import FreshPicture, Picture
from .stills.placeholder import no_signal_jpeg
from .stills.snapshot import SnapshotError, encode_jpeg, gop_jpeg, latest_frame
from .stream.reader import StreamReader
from .stream.sinks import PacketSink, combine_sinks
from .stream.source import StreamSource
from .stream.status import StreamStatus

_LOGGER = logging.getLogger(__name__)

MAIN = "main"
SUB = "sub"
MOTION_PICTURE_AGE = 0.5
"""Seconds the motion detector's newest picture may trail the stream's newest packet to serve as a still."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """What the engine needs to run a channel."""

    key: str
    """Stable id used in thread names and logs (no credentials)."""
    name: str
    main: StreamSource
    sub: StreamSource | None = None


class Channel:
    """Runs one reader per stream and answers still-image requests."""

    def __init__(
        self,
        config: ChannelConfig,
        on_status: Callable[[str, StreamStatus], None] | None = None,
        recorder: PacketSink | None = None,
        motion: MotionWorker | None = None,
        stills: Executor | None = None,
        relay: RelayServer | None = None,
        relay_formats: dict[str, VideoFormat] | None = None,
    ) -> None:
        """Create readers for the channel's streams; call start() to run them.

        A ``recorder`` receives every packet of the main stream. A ``motion``
        worker receives the packets of the sub stream, or of the main stream
        when there is no sub stream. ``stills`` runs the decoding that keeps
        each stream's newest picture while stills are asked for (a private
        thread when None). With a ``relay``, each stream is served to local
        viewers at :meth:`relay_url` (``relay_formats``: what to assume of a
        stream before its first connection); :meth:`set_relay` changes that
        while the streams go on.
        """
        self.config = config
        self.recorder = recorder
        self.motion = motion
        self.motion_role = SUB if config.sub is not None else MAIN
        """The stream motion detection analyses."""
        if motion is not None:
            motion.picture_source = self._detection_picture
        if stills is None:
            stills = self._own_stills = ThreadPoolExecutor(1, thread_name_prefix=f"nvr-stills-{config.key}")
        else:
            self._own_stills = None
        self.readers: dict[str, StreamReader] = {}
        self.pictures: dict[str, FreshPicture] = {}
        self.relay = relay
        self.relayed: dict[str, RelayStream] = {}
        """Every stream's relay side: always fed, it holds packets only while a relay serves it."""
        self._running = False
        streams = {MAIN: config.main, SUB: config.sub}
        for role, source in streams.items():
            if source is None:
                continue
            callback = partial(on_status, role) if on_status is not None else None
            label = f"{config.name} ({role})"
            self.pictures[role] = FreshPicture.on(stills, label)
            initial = (relay_formats or {}).get(role, DEFAULT_FORMAT)
            self.relayed[role] = RelayStream(label, initial, lambda: self.config.name)
            self.readers[role] = StreamReader(
                source,
                f"{config.key}-{role}",
                callback,
                label=label,
                sink=combine_sinks(
                    recorder if role == MAIN else None,
                    motion if role == self.motion_role else None,
                    self.pictures[role],
                    self.relayed[role],
                ),
            )

    def rename(self, name: str) -> None:
        """Change the name shown in stills and logs (the streams go on)."""
        self.config = replace(self.config, name=name)
        for role, reader in self.readers.items():
            reader.label = f"{name} ({role})"

    def relay_key(self, role: str) -> str:
        """The key of a stream in the relay (stable: the channel's key and the role)."""
        return f"{self.config.key}-{role}"

    def relay_url(self, role: str = MAIN) -> str | None:
        """The loopback URL local viewers read the stream from (None without a relay)."""
        if self.relay is None or role not in self.relayed:
            return None
        return self.relay.url(self.relay_key(role))

    def set_relay(self, relay: RelayServer | None, linger: float = 0.0) -> None:
        """Serve the streams on ``relay`` from now on (None: serve them no more); the readers go on.

        The old relay's viewers are disconnected, after waiting up to
        ``linger`` seconds for them to leave by themselves. Blocking.
        """
        if relay is self.relay:
            return
        old = self.relay
        deadline = time.monotonic() + linger
        while old is not None and self._running and time.monotonic() < deadline:
            if not any(old.clients(self.relay_key(role)) for role in self.relayed):
                break
            time.sleep(0.05)
        self.relay = relay
        if not self._running:
            return
        for role, stream in self.relayed.items():
            if old is not None:
                old.remove(self.relay_key(role), stream)
            if relay is not None:
                relay.add(self.relay_key(role), stream)

    def start(self) -> None:
        """Start every reader thread (and serve the streams on the relay)."""
        self._running = True
        if self.relay is not None:
            for role, stream in self.relayed.items():
                self.relay.add(self.relay_key(role), stream)
        for reader in self.readers.values():
            reader.start()

    def request_stop(self) -> None:
        """Ask every reader to end without waiting."""
        for reader in self.readers.values():
            reader.request_stop()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop every reader; True if all ended within the timeout."""
        self.request_stop()  # signal all first so they wind down together
        deadline = time.monotonic() + timeout
        ok = True
        for reader in self.readers.values():
            ok = reader.stop(max(0.0, deadline - time.monotonic())) and ok
        if not ok:
            _LOGGER.warning("A reader of %s did not end within %.1f s", self.config.name, timeout)
        if self._own_stills is not None:
            # Queued stills are dropped; one being made (a decode) is waited for, so no thread outlives stop().
            self._own_stills.shutdown(wait=True, cancel_futures=True)
        self._running = False
        if self.relay is not None:
            for role, stream in self.relayed.items():
                self.relay.remove(self.relay_key(role), stream)
        return ok

    def status(self, role: str = MAIN) -> StreamStatus:
        """The status of one stream."""
        return self.readers[role].status

    def image(self, role: str = MAIN, width: int | None = None, height: int | None = None) -> bytes:
        """Return a JPEG of the stream's newest picture, or the no-signal picture.

        Blocking (decoding and encoding): call it from a worker thread.
        """
        return self.still(role, width, height).jpeg

    def still(self, role: str = MAIN, width: int | None = None, height: int | None = None) -> Still:
        """The stream's newest picture as a JPEG, and when its packet arrived; blocking.

        The picture comes from the motion detector when it decodes this stream
        anyway, else from the stream's :class:`.stills.fresh.FreshPicture`.
        """
        reader = self.readers[role]
        if reader.status.connected:
            picture = self._newest_picture(role)
            try:
                if picture is not None:
                    return Still(encode_jpeg(picture.frame, width, height), picture.arrival)
                gop = reader.gop.latest()  # the picture could not be decoded: the keyframe's
                if gop is not None:
                    return Still(gop_jpeg(gop, width, height), None)
            except (SnapshotError, av.error.FFmpegError, ValueError) as err:
                _LOGGER.debug("Snapshot of %s failed: %s", self.config.name, err)
        info = reader.status.info
        size = (info.width, info.height) if info and info.width and info.height else None
        return Still(no_signal_jpeg(self.config.name, width, height, size), None)

    def _detection_picture(self) -> av.VideoFrame | None:
        """The detection stream's newest picture, decoded once from its held GOP; blocking.

        The thumbnail of a motion event the camera reported while nothing is
        decoded here (it warms nothing up: one GOP, once).
        """
        reader = self.readers.get(self.motion_role)
        gop = reader.gop.latest() if reader is not None and reader.status.connected else None
        if gop is None:
            return None
        try:
            return latest_frame(gop)
        except (SnapshotError, av.error.FFmpegError, ValueError) as err:
            _LOGGER.debug("No picture of %s for a camera event: %s", self.config.name, err)
            return None

    def _newest_picture(self, role: str) -> Picture | None:
        reader = self.readers[role]
        motion = self.motion if role == self.motion_role else None
        if motion is not None:
            picture = motion.latest_picture
            newest = reader.status.last_frame_time
            if picture is not None and newest is not None and newest - picture.arrival < MOTION_PICTURE_AGE:
                return picture
        return self.pictures[role].newest(reader.gop.latest)


@dataclass(frozen=True, slots=True)
class Still:
    """A still image and when the packet of its picture arrived (None: a placeholder or a keyframe)."""

    jpeg: bytes
    arrival: float | None


def stop_channels(channels: list[Channel], timeout: float = 2.0) -> bool:
    """Stop many channels within one shared deadline; True if all ended.

    A reader blocked inside FFmpeg (opening a stream, or waiting for a
    packet) is woken by shutting its sockets down (see ``stream.interrupt``).
    """
    for channel in channels:
        channel.request_stop()
    deadline = time.monotonic() + timeout
    ended = True
    for channel in channels:
        ended = channel.stop(max(0.0, deadline - time.monotonic())) and ended
    return ended
