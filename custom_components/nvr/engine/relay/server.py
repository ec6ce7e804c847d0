"""The relay's own HTTP listener: 127.0.0.1 only, one secret URL per stream.

A stream's URL is ``http://127.0.0.1:<port>/<n>.ts?auth=<token>``: ``n``
numbers the stream (not secret), the token is random for each run of the
server and stable while it runs, so Home Assistant's stream and go2rtc can
keep it. The token is the query's ``auth``: Home Assistant's stream writes
its source URL into its log messages (``Error demuxing stream (...)``), and
it writes ``auth=****`` there. Any other path or query, and any other method
than GET, gets 404. Nothing is logged of the URLs. Each viewer has a thread of
the server's; one more thread sends the placeholder pictures.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .stream import PLACEHOLDER_FPS, RelayStream

_LOGGER = logging.getLogger(__name__)

HOST = "127.0.0.1"
TICK = 1 / (4 * PLACEHOLDER_FPS)
SEND_BUFFER = 256 * 1024
WAIT = 1.0
"""Seconds a viewer's thread waits for a chunk before it checks whether it was disconnected."""


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    protocol_version = "HTTP/1.0"
    server_version = "nvr-relay"
    sys_version = ""

    def setup(self) -> None:
        """Keep the kernel's buffer small: a viewer's backlog is counted (and bounded) by its queue."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def do_GET(self) -> None:
        stream = self.server.relay.lookup(self.path)
        if stream is None:
            self._not_found()
            return
        client = stream.open_client(f"{self.client_address[0]}:{self.client_address[1]}")
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            while not self.server.relay.stopping:
                chunk = client.get(WAIT)
                if chunk is None:
                    if client.closed:
                        break
                    continue
                self.wfile.write(chunk)
        except OSError:
            pass  # the viewer went away
        finally:
            stream.close_client(client)

    def _not_found(self) -> None:
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _not_found

    def log_message(self, format: str, *args) -> None:
        """Log nothing: request lines carry the secret tokens."""


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, relay: RelayServer) -> None:
        super().__init__((HOST, 0), _Handler)
        self.relay = relay


class RelayServer:
    """Serves the registered streams on 127.0.0.1 (see the module)."""

    def __init__(self) -> None:
        """Nothing listens before :meth:`start`."""
        self._lock = threading.Lock()
        self._streams: dict[str, RelayStream] = {}
        self._tokens: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        self._numbers: dict[str, int] = {}
        self._listener: _Listener | None = None
        self._threads: list[threading.Thread] = []
        self.stopping = False

    @property
    def port(self) -> int:
        """The listening port (0 before start)."""
        return self._listener.server_address[1] if self._listener is not None else 0

    def start(self) -> None:
        """Listen on 127.0.0.1 at a free port; blocking (bind, thread start)."""
        if self._listener is not None:
            return
        self._listener = _Listener(self)
        self._threads = [
            threading.Thread(target=self._listener.serve_forever, args=(0.5,), name="nvr-relay", daemon=True),
            threading.Thread(target=self._tick, name="nvr-relay-placeholder", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        _LOGGER.debug("Live relay listening on %s:%d", HOST, self.port)

    def stop(self) -> None:
        """Disconnect every viewer and stop listening; blocking."""
        self.stopping = True
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            stream.close()
        if self._listener is not None:
            self._listener.shutdown()
            self._listener.server_close()
        for thread in self._threads:
            thread.join(2.0)

    def token(self, key: str) -> str:
        """The secret of a stream's URL (made once per key and run of the server)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is None:
                token = self._tokens[key] = secrets.token_urlsafe(24)
                self._by_token[token] = key
                self._numbers[key] = len(self._numbers) + 1
            return token

    def url(self, key: str) -> str:
        """The stream's URL for local viewers."""
        token = self.token(key)
        return f"http://{HOST}:{self.port}/{self._numbers[key]}.ts?auth={token}"

    def add(self, key: str, stream: RelayStream) -> None:
        """Serve ``stream`` at ``key``'s URL (a stream there before is disconnected)."""
        self.token(key)
        stream.served = True
        with self._lock:
            old, self._streams[key] = self._streams.get(key), stream
        if old is not None and old is not stream:
            old.served = False
            old.close()

    def remove(self, key: str, stream: RelayStream) -> None:
        """Stop serving ``stream`` (if it is still the one at ``key``) and disconnect its viewers."""
        with self._lock:
            if self._streams.get(key) is stream:
                del self._streams[key]
        stream.served = False
        stream.close()

    def lookup(self, target: str) -> RelayStream | None:
        """The stream a request target (path and query) names, or None."""
        parts = urlsplit(target)
        token = parts.query.removeprefix("auth=")
        if parts.scheme or parts.netloc or parts.fragment or token == parts.query:
            return None
        with self._lock:
            key = self._by_token.get(token)
            if key is None or parts.path != f"/{self._numbers[key]}.ts":
                return None
            return self._streams.get(key)

    def clients(self, key: str) -> list[dict]:
        """The viewers of a stream (diagnostics)."""
        with self._lock:
            stream = self._streams.get(key)
        return stream.clients() if stream is not None else []

    def _tick(self) -> None:
        while not self.stopping:
            now = time.monotonic()
            with self._lock:
                streams = list(self._streams.values())
            for stream in streams:
                try:
                    stream.tick(now)
                except Exception:
                    _LOGGER.exception("Relay placeholder of %s failed", stream.label)
            time.sleep(TICK)
