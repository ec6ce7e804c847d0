#!/usr/bin/python3
"""Standalone RTSP server used as the real test peer for the nvr integration.

Run with Debian's ``/usr/bin/python3`` (it needs PyGObject with GStreamer and
gst-rtsp-server, which are not importable from the project venv)::

    /usr/bin/python3 tests/rtsp_server.py --config server.json

The JSON config::

    {
      "port": 8554,                       # 0 = let the kernel pick
      "auth": null | "basic" | "digest",
      "user": "admin", "password": "secret",
      "mounts": [
        {"path": "/x", "launch": "videotestsrc ! ... ! rtpjpegpay name=pay0",
         "shared": true, "protected": false},
        {"path": "/live", "rtp_clip": "/abs/clip.ts", "codec": "H264",
         "protected": false},
        {"path": "/file", "file": "/abs/clip.mp4", "protected": false}
      ]
    }

Mount kinds:

* ``launch``: a raw gst-launch description containing ``pay0`` (``pay1``...).
* ``rtp_clip``: an endless live stream. An ``ffmpeg -re -stream_loop -1``
  feeder sends the clip as RTP to a private UDP port on 127.0.0.1 and a shared
  ``udpsrc ! depay ! parse ! pay`` media relays it to the RTSP clients.
* ``file``: a finite stream of an MP4/MKV/TS file; it ends at EOF; not shared.

The server binds to 127.0.0.1 only. Once listening it prints ``FEEDER <pid>``
for each ffmpeg child and then ``READY <port>`` on stdout. It runs until
SIGTERM/SIGINT/SIGHUP (client connections are closed with a FIN), SIGUSR1
(client connections are aborted with a TCP RST), its stdin reaching EOF (the
parent closed the pipe or died; ``"watch_stdin": false`` disables this) or
its parent process going away. FFmpeg's RTSP demuxer reports both a FIN and
an RST as a plain end of stream. The ffmpeg feeders die with the launcher
(PR_SET_PDEATHSIG plus an explicit kill on the way out). Exit status: 0 after
a requested stop, 2 if the port cannot be bound, 3 if a feeder died.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PR_SET_PDEATHSIG = 1
ROLE_USER = "user"
ROLE_ANONYMOUS = "anonymous"

# Elements per RTP codec used by the ``rtp_clip`` mounts.
RTP_CODECS: dict[str, tuple[str, str, str]] = {
    "H264": ("rtph264depay", "h264parse", "rtph264pay"),
    "H265": ("rtph265depay", "h265parse", "rtph265pay"),
}

# Demuxer per file suffix and parser/payloader per codec for ``file`` mounts.
FILE_DEMUXERS: dict[str, str] = {
    ".mp4": "qtdemux",
    ".mov": "qtdemux",
    ".m4v": "qtdemux",
    ".mkv": "matroskademux",
    ".ts": "tsdemux",
}
FILE_CODECS: dict[str, tuple[str, str]] = {
    "H264": ("h264parse", "rtph264pay"),
    "H265": ("h265parse", "rtph265pay"),
}


def log(message: str) -> None:
    """Write a diagnostic line to stderr."""
    print(f"rtsp_server[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """``preexec_fn`` for feeders: SIGKILL the child when this process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def reserve_udp_pair() -> tuple[socket.socket, socket.socket]:
    """Bind an even UDP port on 127.0.0.1 and the next one (RTP, RTCP); the caller keeps them open.

    The feeder sends RTP to the first and RTCP to the second. Holding the RTP
    port until the media's udpsrc binds it (and the RTCP one for good) keeps
    another process or mount from taking them meanwhile: a port merely found
    free and closed at once could be handed out twice, and a mount whose
    udpsrc then shared its port with another starved (its RTSP clients
    connected and never got a packet), or got another feeder's RTCP.
    """
    for _ in range(64):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        port = int(rtp.getsockname()[1])
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if port % 2:
                raise OSError("odd port")
            rtcp.bind(("127.0.0.1", port + 1))
        except OSError:
            rtp.close()
            rtcp.close()
            continue
        return rtp, rtcp
    raise SystemExit("no free pair of UDP ports")


def spawn_feeder(clip: str, port: int) -> subprocess.Popen[bytes]:
    """Start an ffmpeg that loops ``clip`` forever as RTP to 127.0.0.1:port."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-re",
        "-stream_loop",
        "-1",
        "-i",
        clip,
        "-an",
        "-c:v",
        "copy",
        "-f",
        "rtp",
        f"rtp://127.0.0.1:{port}?pkt_size=1200",
    ]
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - launcher is single threaded here
    )


def rtp_clip_launch(codec: str, port: int) -> str:
    """Return the launch description relaying RTP from ``port`` to ``pay0``.

    * ``rtpjitterbuffer`` turns the sender's RTP timestamps back into regular
      buffer timestamps (udpsrc stamps arrival times, which jitter by a few
      ms; the payloader would copy that jitter into the outgoing stream).
    * ffmpeg's RTP muxer strips SPS/PPS (VPS) from the stream into its SDP, so
      ``parse config-interval=-1`` puts them back in front of every IDR
      access unit. The payloader must NOT also get ``config-interval``: it
      inserts them before every IDR *slice*, which splits multi-slice IDR
      frames into two access units with the same timestamp on the client.
    """
    try:
        depay, parse, pay = RTP_CODECS[codec.upper()]
    except KeyError as err:
        raise SystemExit(f"unsupported rtp_clip codec {codec!r}") from err
    caps = f"application/x-rtp,media=video,clock-rate=90000,encoding-name={codec.upper()},payload=96"
    return (
        # A 1080p keyframe (~300 KB) arrives as one burst of RTP packets: more
        # than the default socket buffer holds. The kernel caps this at
        # net.core.rmem_max.
        f'udpsrc address=127.0.0.1 port={port} buffer-size=4194304 caps="{caps}" '
        f"! rtpjitterbuffer latency=100 mode=none ! {depay} ! {parse} config-interval=-1 "
        f"! {pay} name=pay0 pt=96"
    )


def file_launch(path: str, codec: str) -> str:
    """Return the launch description playing ``path`` once to ``pay0``."""
    demux = FILE_DEMUXERS.get(Path(path).suffix.lower())
    if demux is None:
        raise SystemExit(f"unsupported file container {path!r}")
    try:
        parse, pay = FILE_CODECS[codec.upper()]
    except KeyError as err:
        raise SystemExit(f"unsupported file codec {codec!r}") from err
    location = GLib.strescape(path)
    return f'filesrc location="{location}" ! {demux} ! {parse} config-interval=-1 ! {pay} name=pay0 pt=96'


def _free_port_for_udpsrc(
    _factory: GstRtspServer.RTSPMediaFactory, _media: GstRtspServer.RTSPMedia, held: list
) -> None:
    """media-configure: close the reserved RTP socket just before the first media's udpsrc binds its port.

    (udpsrc is not handed the socket itself: a shared media can be made again
    while the last one winds down, and two udpsrc reading one socket would
    each get half of the packets.)
    """
    while held:
        held.pop().close()


class PathKeyedFactory(GstRtspServer.RTSPMediaFactory):
    """Shares one media per mount path, whatever the query string.

    The stock factory keys shared media by the whole request URI, so
    ``/live?x=1`` would build a second pipeline whose udpsrc competes with the
    first for the feeder's RTP port, and one of them starves. A camera serves
    ``/live`` and ``/live?x=1`` from the same encoder.
    """

    def do_gen_key(self, url: GstRtsp.RTSPUrl) -> str:
        """Key shared media by path only."""
        return url.abspath


def make_permissions(protected: bool) -> GstRtspServer.RTSPPermissions:
    """Permissions for a mount: the user role always, anonymous if open."""
    permissions = GstRtspServer.RTSPPermissions()
    roles = [ROLE_USER] if protected else [ROLE_USER, ROLE_ANONYMOUS]
    for role in roles:
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    return permissions


def make_token(role: str) -> GstRtspServer.RTSPToken:
    """Return a token granting ``role``."""
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    return token


class ChallengingAuth(GstRtspServer.RTSPAuth):
    """RTSPAuth that answers 401 (not 404) on protected mounts.

    With a default (anonymous) token, stock gst-rtsp-server answers 404 Not
    Found when that role may not access a factory, and clients such as FFmpeg
    only send credentials after a 401 challenge. So the anonymous default
    token is only handed out for factories that grant the anonymous role;
    for protected ones, a request without valid credentials stays without a
    token and the stock code answers 401 with a WWW-Authenticate challenge.
    Requests are handled on the server's main context (one thread), so
    switching the default token per request is safe.
    """

    def __init__(self) -> None:
        """Create the auth with its anonymous token."""
        super().__init__()
        self.anonymous_token = make_token(ROLE_ANONYMOUS)

    def do_authenticate(self, ctx: GstRtspServer.RTSPContext) -> bool:
        """Authenticate, offering the anonymous token only on open mounts."""
        factory = ctx.factory
        open_mount = factory is None or not self._is_protected(factory)
        self.set_default_token(self.anonymous_token if open_mount else None)
        return GstRtspServer.RTSPAuth.do_authenticate(self, ctx)

    @staticmethod
    def _is_protected(factory: GstRtspServer.RTSPMediaFactory) -> bool:
        permissions = factory.get_permissions()
        return permissions is not None and not permissions.is_allowed(
            ROLE_ANONYMOUS, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS
        )


def make_auth(config: dict[str, Any]) -> GstRtspServer.RTSPAuth | None:
    """Build the RTSPAuth for ``config['auth']`` (None when unauthenticated)."""
    method = config.get("auth")
    if not method:
        return None
    user = str(config.get("user", "admin"))
    password = str(config.get("password", "secret"))
    auth = ChallengingAuth()
    if method == "basic":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        auth.add_basic(basic, make_token(ROLE_USER))
    elif method == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(user, password, make_token(ROLE_USER))
    else:
        raise SystemExit(f"unsupported auth method {method!r}")
    # Clients without (valid) credentials get the anonymous role on open
    # mounts and a 401 challenge on protected ones (see ChallengingAuth).
    return auth


class Launcher:
    """Owns the RTSP server, its feeders and the main loop."""

    def __init__(self, config: dict[str, Any]) -> None:
        """Store the parsed config."""
        self.config = config
        self.feeders: list[subprocess.Popen[bytes]] = []
        self.reserved: list[socket.socket] = []
        """The live mounts' RTCP sockets, bound until the launcher exits (their RTP ones until the media starts)."""
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.exit_code = 0

    def build(self) -> None:
        """Create feeders, factories and auth. Raises SystemExit on bad config."""
        server = self.server
        server.set_address("127.0.0.1")
        server.set_service(str(int(self.config.get("port") or 0)))
        auth = make_auth(self.config)
        if auth is not None:
            server.set_auth(auth)
        mounts = server.get_mount_points()
        for mount in self.config.get("mounts", []):
            factory = self._factory(mount)
            if auth is not None:
                factory.set_permissions(make_permissions(bool(mount.get("protected"))))
            mounts.add_factory(mount["path"], factory)

    def _factory(self, mount: dict[str, Any]) -> GstRtspServer.RTSPMediaFactory:
        """Return a media factory for one mount entry."""
        factory = PathKeyedFactory()
        if "launch" in mount:
            launch = mount["launch"]
            shared = bool(mount.get("shared", True))
        elif "rtp_clip" in mount:
            rtp, rtcp = reserve_udp_pair()
            self.reserved.append(rtcp)
            port = int(rtp.getsockname()[1])
            feeder = spawn_feeder(str(mount["rtp_clip"]), port)
            self.feeders.append(feeder)
            launch = rtp_clip_launch(str(mount.get("codec", "H264")), port)
            shared = True
            factory.connect("media-configure", _free_port_for_udpsrc, [rtp])
        elif "file" in mount:
            launch = file_launch(str(mount["file"]), str(mount.get("codec", "H264")))
            shared = bool(mount.get("shared", False))
        else:
            raise SystemExit(f"mount without launch/rtp_clip/file: {mount!r}")
        factory.set_launch(f"( {launch} )")
        factory.set_shared(shared)
        if "latency" in mount:
            factory.set_latency(int(mount["latency"]))
        return factory

    def quit(self, reason: str) -> bool:
        """Stop the main loop (GLib source callback, returns REMOVE)."""
        log(f"stopping: {reason}")
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def reset_and_quit(self, reason: str) -> bool:
        """Arm SO_LINGER=0 on every client socket, then quit.

        Closing then sends a TCP RST instead of a FIN (an aborted connection
        rather than an orderly close).
        """
        self.server.client_filter(self._arm_reset)
        return self.quit(reason)

    @staticmethod
    def _arm_reset(
        _server: GstRtspServer.RTSPServer, client: GstRtspServer.RTSPClient
    ) -> GstRtspServer.RTSPFilterResult:
        """client_filter callback: set SO_LINGER 0 on the client's socket."""
        with contextlib.suppress(Exception):
            connection = client.get_connection()
            fd = connection.get_read_socket().get_fd()
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return GstRtspServer.RTSPFilterResult.KEEP

    def _on_stdin(self, _fd: int, _condition: GLib.IOCondition) -> bool:
        """Quit when the parent closes our stdin (EOF/HUP)."""
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if data:
            return GLib.SOURCE_CONTINUE
        return self.quit("stdin closed")

    def _check_parent(self, parent: int) -> bool:
        """Quit when re-parented (the launching process died)."""
        if os.getppid() != parent:
            return self.quit("parent died")
        return GLib.SOURCE_CONTINUE

    def _check_feeders(self) -> bool:
        """Exit with an error if a feeder died (the live mounts would stall)."""
        for feeder in self.feeders:
            if feeder.poll() is not None:
                log(f"feeder {feeder.pid} exited with {feeder.returncode}")
                self.exit_code = 3
                return self.quit("feeder died")
        return GLib.SOURCE_CONTINUE

    def run(self) -> int:
        """Attach the server, announce readiness and run until told to stop."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.quit, signal.Signals(signum).name)
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGUSR1, self.reset_and_quit, "SIGUSR1 (reset)")
        if self.server.attach(None) == 0:
            log(f"could not listen on 127.0.0.1:{self.config.get('port')}")
            return 2
        port = self.server.get_bound_port()
        for feeder in self.feeders:
            print(f"FEEDER {feeder.pid}", flush=True)
        print(f"READY {port}", flush=True)
        if self.config.get("watch_stdin", True):
            GLib.io_add_watch(
                0,
                GLib.PRIORITY_DEFAULT,
                GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR,
                self._on_stdin,
            )
        GLib.timeout_add(500, self._check_parent, os.getppid())
        if self.feeders:
            GLib.timeout_add(500, self._check_feeders)
        self.loop.run()
        return self.exit_code

    def close(self) -> None:
        """Disconnect clients and kill the feeders."""
        with contextlib.suppress(Exception):
            self.server.client_filter(lambda _server, _client: GstRtspServer.RTSPFilterResult.REMOVE)
        for feeder in self.feeders:
            if feeder.poll() is None:
                feeder.kill()
        for feeder in self.feeders:
            with contextlib.suppress(Exception):
                feeder.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON config file")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    Gst.init(None)
    launcher = Launcher(config)
    code = 1
    try:
        launcher.build()
        code = launcher.run()
    finally:
        launcher.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: GStreamer streaming threads may still be
    # winding down and must not keep the process (and the port) alive.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
