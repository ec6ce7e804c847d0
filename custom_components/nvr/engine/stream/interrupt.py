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
(compared by socket inode from ``/proc/self/fd``). Once the stream is open,
the reader claims them, so that another reader of the same address (a
recorder's sixteen channels share one) never loses its connection to this
one's stop. A reader whose open overlapped another open to the same address
cannot tell the sockets apart and claims none: it still stops between two
packets, and only a stalled read of it waits for FFmpeg's read timeout. A
stop during an open shuts down the new, unclaimed sockets to the address,
so another reader opening at that very moment may have to reconnect. Where
``/proc`` is missing, nothing is shut down and a stop waits for FFmpeg's own
timeouts, as before.
"""

from __future__ import annotations

import _socket
import contextlib
import ipaddress
import logging
import os
import socket
import threading
from urllib.parse import urlsplit

_LOGGER = logging.getLogger(__name__)

_PROC_FD = "/proc/self/fd"
_PROC_NET = ("/proc/self/net/tcp", "/proc/self/net/tcp6", "/proc/self/net/udp", "/proc/self/net/udp6")
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtspt": 554, "http": 80, "https": 443}

_claims: dict[int, object] = {}
"""Socket inode -> the watch that owns it (process-wide)."""
_opening: dict[tuple[frozenset[str], int], set[SocketWatch]] = {}
"""Endpoint -> the watches whose open is under way."""
_claims_lock = threading.Lock()


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


class SocketWatch:
    """The sockets one open of a stream creates, so that a stop can shut them down.

    Create it just before the open (in the reader's thread); call ``claim()``
    once the open succeeded, ``interrupt()`` from any thread to wake the
    reader, and ``release()`` when the connection is closed.
    """

    def __init__(self, url: str) -> None:
        """Note the sockets that exist now and where the stream's host is (blocking: /proc, DNS)."""
        self._addresses, self._port = _endpoint(url)
        self._key = (frozenset(self._addresses), self._port)
        self._owned: set[int] = set()
        self._lock = threading.Lock()
        self._released = False
        self._claimed = False
        self.overlapped = False
        """Another open to the same address ran at the same time: the sockets cannot be told apart."""
        with _claims_lock:
            others = _opening.setdefault(self._key, set())
            for other in others:
                other.overlapped = True
            self.overlapped = bool(others)
            others.add(self)
        self._before = set(socket_inodes())

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

    def _done_opening(self) -> None:
        """Leave the endpoint's set of opens under way (call with ``_claims_lock`` held)."""
        others = _opening.get(self._key)
        if others is not None:
            others.discard(self)
            if not others:
                del _opening[self._key]

    def claim(self) -> None:
        """Take this open's sockets (after a successful open), unless another open overlapped it."""
        candidates = self._candidates()
        with _claims_lock, self._lock:
            self._done_opening()
            self._claimed = True
            if self.overlapped:
                return
            for inode in candidates:
                if _claims.setdefault(inode, self) is self:
                    self._owned.add(inode)

    def release(self) -> None:
        """Give the claims up (the connection is closed, or the open failed)."""
        with _claims_lock, self._lock:
            self._done_opening()
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
        else:  # still opening: the new sockets to the camera that no other reader owns
            with _claims_lock:
                targets = {i: fd for i, fd in self._candidates().items() if i not in _claims}
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
