"""Waking a reader that is blocked inside FFmpeg: shut its sockets down.

PyAV's only hook into FFmpeg's blocking calls (opening an RTSP stream,
reading a packet) is its timeout: FFmpeg's interrupt callback compares a
clock with a deadline fixed when the call began, and neither can be moved
from outside (PyAV 13 even keeps the clock in a C variable). So a stop
request could wait for the whole open timeout.

The kernel offers what PyAV does not: ``shutdown()`` on a socket wakes every
thread polling or reading it, which is how Linux documents waking a thread
blocked on a socket from another thread. FFmpeg then sees the connection end
and returns at once, within its 100 ms polling slice; PyAV raises, and the
reader, seeing its stop flag, ends.

Which sockets are a reader's: the TCP (and UDP) sockets whose peer is the
camera's address and port and that were created after the reader began to open
(compared by socket inode from ``/proc/self/fd``), and that no other reader
owns. A recorder's sixteen channels share one address and all open at once,
so opens to one address take turns, but only to *connect*: an open waits
until every earlier open to the address has a socket of its own, which that
open creates within milliseconds of starting (FFmpeg connects first, then
spends half a second or more probing). The waiting open identifies those
sockets on the earlier one's behalf (they are the only new, unowned ones to
the address) and registers them as its, then starts. So the sixteen opens
run side by side, each owning its connection, and stopping one reader never
cuts another's. Only an open that waited ``turn`` seconds in vain (an earlier
one made no socket meanwhile: a slow DNS lookup) joins the others anyway; the
opens then *overlap*, cannot tell their sockets apart and claim none (they
still stop between two packets; see the reader for their read timeout). A
stop during an open shuts down this open's sockets and the new, unowned ones
to the address, so another reader opening at that very moment may have to
reconnect. Where ``/proc`` is missing, opens do not wait, nothing is shut
down and a stop waits for FFmpeg's own timeouts, as before.
"""

from __future__ import annotations

import _socket
import contextlib
import ipaddress
import logging
import os
import socket
import threading
import time
from urllib.parse import urlsplit

_LOGGER = logging.getLogger(__name__)

_PROC_FD = "/proc/self/fd"
_PROC_NET = ("/proc/self/net/tcp", "/proc/self/net/tcp6", "/proc/self/net/udp", "/proc/self/net/udp6")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtspt": 554, "http": 80, "https": 443}
TURN_POLL = 0.01
"""Seconds between two looks (by one waiting open per address) for an earlier open's new socket."""
WAIT_POLL = 0.05
"""Seconds between two checks of a stop request by the other waiting opens."""

_Endpoint = tuple[frozenset[str], int]
_claims: dict[int, object] = {}
"""Socket inode -> the watch that owns it (process-wide)."""
_claims_lock = threading.Lock()
_turn_changed = threading.Condition(_claims_lock)
"""Notified whenever an open stops connecting (its sockets are known, or it ended) or stops waiting."""


class _Turns:
    """The opens to one address that are connecting (sockets not known yet) or waiting to."""

    __slots__ = ("connecting", "poller", "waiting")

    def __init__(self) -> None:
        self.connecting: set[SocketWatch] = set()
        self.waiting = 0
        self.poller: SocketWatch | None = None
        """The waiting open that looks for the connecting open's socket (one per address)."""


_turns: dict[_Endpoint, _Turns] = {}


def socket_inodes() -> dict[int, int]:
    """Inode -> file descriptor of every socket this process has open (empty without /proc)."""
    found: dict[int, int] = {}
    try:
        names = os.listdir(_PROC_FD)
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(f"{_PROC_FD}/{name}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            found[int(target[8:-1])] = int(name)
    return found


def _parse_address(text: str) -> tuple[str, int]:
    """``0100007F:0016`` (as /proc/net/* prints it) -> ("127.0.0.1", 22)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        address = ipaddress.IPv4Address(raw[::-1])
    else:  # four 32-bit words, each in host (little-endian) order
        address = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return str(address), int(port, 16)


def socket_peers() -> dict[int, tuple[str, int]]:
    """Inode -> remote (address, port) of every TCP and UDP socket of this process's network namespace."""
    peers: dict[int, tuple[str, int]] = {}
    for table in _PROC_NET:
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)  # header
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9:
                        with contextlib.suppress(ValueError):
                            peers[int(fields[9])] = _parse_address(fields[2])
        except OSError:
            continue
    return peers


def _endpoint(url: str) -> tuple[set[str], int]:
    """The addresses a URL's host resolves to, and its port (blocking: DNS)."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), DEFAULT_PORTS["rtsp"])
    addresses: set[str] = set()
    if parts.hostname:
        with contextlib.suppress(OSError, UnicodeError):
            for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP):
                addresses.add(str(ipaddress.ip_address(info[4][0].split("%")[0])))
    return addresses, port


def opens_waiting(url: str) -> int:
    """How many opens to ``url``'s address are waiting for their turn to connect (blocking: DNS)."""
    addresses, port = _endpoint(url)
    with _claims_lock:
        turns = _turns.get((frozenset(addresses), port))
        return turns.waiting if turns is not None else 0


class SocketWatch:
    """The sockets one open of a stream creates, so that a stop can shut them down.

    Create it just before the open (in the reader's thread); call ``claim()``
    once the open succeeded, ``interrupt()`` from any thread to wake the
    reader, and ``release()`` when the connection is closed.
    """

    def __init__(self, url: str, turn: float = 0.0, stop: threading.Event | None = None) -> None:
        """Wait for the turn to connect, then note the sockets that exist now (blocking: DNS, /proc).

        ``turn``: wait up to this many seconds (or until ``stop`` is set) for
        the earlier opens to the same address to have their sockets known (see
        the module's docstring). Check :attr:`overlapped` after it; a watch
        created once ``stop`` is set owns and shuts down nothing.
        """
        self._addresses, self._port = _endpoint(url)
        self._key: _Endpoint = (frozenset(self._addresses), self._port)
        self._owned: set[int] = set()
        self._lock = threading.Lock()
        self._released = False
        self._claimed = False
        self._before: set[int] = set()
        self.overlapped = False
        """Another open to the same address connected at the same time: the sockets cannot be told apart."""
        self._take_turn(turn, stop)

    @property
    def owned(self) -> frozenset[int]:
        """The inodes of the sockets known to be this open's."""
        with self._lock:
            return frozenset(self._owned)

    def _take_turn(self, turn: float, stop: threading.Event | None) -> None:
        deadline = time.monotonic() + turn
        with _claims_lock:
            turns = _turns.setdefault(self._key, _Turns())
            turns.waiting += 1
        try:
            if os.path.isdir(_PROC_FD):  # without /proc no socket can be told apart: no use waiting
                self._wait_turn(turns, deadline, stop)
        finally:
            with _claims_lock:
                turns.waiting -= 1
                if turns.poller is self:
                    turns.poller = None
                    _turn_changed.notify_all()
                if stop is not None and stop.is_set():
                    self._released = True  # never opens: owns nothing, shuts nothing down
                    self._forget(turns)
                else:
                    self._before = set(socket_inodes())
                    for other in turns.connecting:
                        other.overlapped = True
                    self.overlapped = bool(turns.connecting)
                    turns.connecting.add(self)

    def _wait_turn(self, turns: _Turns, deadline: float, stop: threading.Event | None) -> None:
        """Wait until no open to the address is connecting; one waiting open identifies the connecting one's sockets."""
        while True:
            with _claims_lock:
                left = deadline - time.monotonic()
                if not turns.connecting or left <= 0 or (stop is not None and stop.is_set()):
                    return
                if turns.poller is None:
                    turns.poller = self
                earlier = next(iter(turns.connecting)) if len(turns.connecting) == 1 else None
                if turns.poller is not self or earlier is None or earlier.overlapped:
                    _turn_changed.wait(min(left, WAIT_POLL))  # woken when an open stops connecting
                    continue
            if not earlier._identified(earlier._candidates()):
                with _claims_lock:
                    _turn_changed.wait(min(left, TURN_POLL))

    def _identified(self, found: dict[int, int]) -> bool:
        """Own ``found``'s unowned sockets if this is still the address's only connecting open (another thread)."""
        with _claims_lock:
            turns = _turns.get(self._key)
            if turns is None or turns.connecting != {self} or self.overlapped or self._released:
                return False
            new = [inode for inode in found if inode not in _claims]
            if not new:
                return False
            with self._lock:
                for inode in new:
                    _claims[inode] = self
                    self._owned.add(inode)
            self._forget(turns)
            return True

    def _forget(self, turns: _Turns | None) -> None:
        """Leave the address's connecting opens (call with ``_claims_lock`` held)."""
        if turns is None:
            return
        if self in turns.connecting:
            turns.connecting.discard(self)
            _turn_changed.notify_all()
        if not turns.connecting and not turns.waiting and _turns.get(self._key) is turns:
            del _turns[self._key]

    def _candidates(self) -> dict[int, int]:
        """Inode -> fd of sockets created since the watch began whose peer is the stream's host and port.

        The port matters: other connections to the same host (HA's own, or
        a connection to the camera's web page) are not the reader's.
        """
        current = {i: fd for i, fd in socket_inodes().items() if i not in self._before}
        if not current:
            return {}
        peers = socket_peers()
        found = {}
        for inode, fd in current.items():
            peer = peers.get(inode)
            if peer is None:
                continue
            address, port = peer
            if port == self._port and (address in self._addresses or not self._addresses):
                found[inode] = fd
        return found

    def claim(self) -> None:
        """Take this open's sockets (after a successful open).

        Those identified while it connected are kept; new unowned ones to the
        address are added unless another open is connecting to it (or
        overlapped this one): they could be that open's.
        """
        candidates = self._candidates()
        with _claims_lock, self._lock:
            turns = _turns.get(self._key)
            alone = turns is None or not (turns.connecting - {self})
            self._forget(turns)
            self._claimed = True
            if self.overlapped or not alone or self._released:
                return
            for inode in candidates:
                if _claims.setdefault(inode, self) is self:
                    self._owned.add(inode)

    def release(self) -> None:
        """Give the claims up (the connection is closed, or the open failed)."""
        with _claims_lock, self._lock:
            self._forget(_turns.get(self._key))
            self._released = True
            for inode in self._owned:
                if _claims.get(inode) is self:
                    del _claims[inode]
            self._owned.clear()

    def interrupt(self) -> int:
        """Shut down this open's sockets, waking FFmpeg; returns how many. Any thread."""
        with self._lock:
            if self._released:
                return 0
            owned = set(self._owned)
            claimed = self._claimed
        if claimed:  # open: its own sockets (none if they could not be told apart)
            targets = {i: fd for i, fd in socket_inodes().items() if i in owned}
        else:  # still opening: its sockets, and the new ones to the camera that no other reader owns
            with _claims_lock:
                targets = {i: fd for i, fd in self._candidates().items() if _claims.get(i, self) is self}
        shut = 0
        for inode, fd in targets.items():
            if _shutdown(fd, inode):
                shut += 1
        return shut


def _shutdown(fd: int, inode: int) -> bool:
    """Shut a socket down through a duplicate of ``fd`` if it still is socket ``inode``."""
    try:
        dup = os.dup(fd)
    except OSError:
        return False
    try:
        if os.fstat(dup).st_ino != inode:
            return False  # the descriptor was closed and reused meanwhile
        # The C socket type: a duplicate descriptor needs none of socket.socket's
        # Python layer (which test harnesses replace to forbid new connections).
        sock = _socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError as err:
        _LOGGER.debug("Socket %d not shut down: %s", inode, err)
        return False
    finally:
        sock.close()  # closes the duplicate only: FFmpeg's descriptor stays valid until FFmpeg closes it
    return True
