"""Probing reaches every failure reason for real, against real peers."""

from __future__ import annotations

import time

import pytest
from engine import FailureReason, StreamError, StreamSource, probe
from rtsp_peer import free_port


def _reason(url: str, user: str = "", password: str = "", timeout: float = 5.0) -> FailureReason:
    with pytest.raises(StreamError) as info:
        probe(StreamSource(url, user, password), timeout)
    assert "secret" not in str(info.value), "credentials leaked into the error"
    return info.value.reason


def test_probe_live_stream(rtsp_server) -> None:
    start = time.monotonic()
    info = probe(StreamSource(rtsp_server.url("/live")))
    elapsed = time.monotonic() - start
    assert (info.codec, info.width, info.height) == ("h264", 640, 360)
    assert info.fps == pytest.approx(15, abs=1.5)
    assert "H264 640×360" in info.describe()
    assert elapsed < 3, f"probe took {elapsed:.2f}s"


@pytest.mark.parametrize("fixture", ["rtsp_basic", "rtsp_digest"])
def test_probe_with_auth(request, fixture: str) -> None:
    server = request.getfixturevalue(fixture)
    url = server.url("/live")
    assert probe(StreamSource(url, "admin", "secret")).codec == "h264"
    assert _reason(url, "admin", "wrong-secret") is FailureReason.INVALID_AUTH
    assert _reason(url) is FailureReason.INVALID_AUTH


@pytest.mark.parametrize("url", ["http://127.0.0.1/live", "rtsp:///live", "not a url"])
def test_invalid_url(url: str) -> None:
    assert _reason(url) is FailureReason.INVALID_URL


def test_closed_port_cannot_connect() -> None:
    assert _reason(f"rtsp://127.0.0.1:{free_port()}/live") is FailureReason.CANNOT_CONNECT


def test_garbage_server_cannot_connect(garbage_server) -> None:
    assert _reason(garbage_server.url("/live")) is FailureReason.CANNOT_CONNECT


def test_audio_only_has_no_video(rtsp_server) -> None:
    assert _reason(rtsp_server.url("/audio")) is FailureReason.NO_VIDEO


def test_mjpeg_is_unsupported(rtsp_server) -> None:
    assert _reason(rtsp_server.url("/mjpeg")) is FailureReason.UNSUPPORTED_CODEC


def test_silent_server_times_out(silent_server) -> None:
    start = time.monotonic()
    assert _reason(silent_server.url("/live"), timeout=1.0) is FailureReason.TIMEOUT
    assert time.monotonic() - start < 4
