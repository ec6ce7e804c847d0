"""Stream addresses: credentials are split out, joined back safely, redacted."""

from __future__ import annotations

import pytest
from engine.stream.source import (
    InvalidUrlError,
    StreamSource,
    redact,
    split_credentials,
    stream_key,
    validate_url,
    with_credentials,
)


def test_split_credentials_from_url() -> None:
    assert split_credentials("rtsp://admin:p%40ss@10.0.0.5:554/Streaming/101") == (
        "rtsp://10.0.0.5:554/Streaming/101",
        "admin",
        "p@ss",
    )
    assert split_credentials(" rtsp://cam/live ") == ("rtsp://cam/live", "", "")


@pytest.mark.parametrize("password", ["secret", "p@ss:w/rd?#%", "ünï cødé"])
def test_credentials_round_trip(password: str) -> None:
    url = with_credentials("rtsp://cam.local:8554/live?channel=1", "ad min", password)
    assert split_credentials(url) == ("rtsp://cam.local:8554/live?channel=1", "ad min", password)


def test_source_without_credentials_keeps_url() -> None:
    assert StreamSource("rtsp://cam/live").authenticated_url() == "rtsp://cam/live"


@pytest.mark.parametrize(
    "url", ["", "http://cam/live", "cam/live", "rtsp:///live", "rtsp://cam:notaport/x", "rtsp://cam:0/x"]
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidUrlError):
        validate_url(url)


def test_stream_key_spots_the_same_stream() -> None:
    assert stream_key("RTSP://Cam.Local/live") == stream_key("rtsp://user:pw@cam.local:554/live")
    assert stream_key("rtsp://cam/live") != stream_key("rtsp://cam/live2")
    assert stream_key("rtsps://cam/x") == "rtsps://cam:322/x"
    # The same stream written differently: a trailing or doubled slash, the host's case, the default port.
    same = [
        "rtsp://cam.local/live",
        "rtsp://cam.local/live/",
        "rtsp://CAM.local:554//live",
        "rtsp://cam.local:554/live",
    ]
    assert len({stream_key(url) for url in same}) == 1
    assert stream_key("rtsp://cam/live?channel=1") != stream_key("rtsp://cam/live?channel=2")
    assert stream_key("rtsp://cam") == stream_key("rtsp://cam/") == "rtsp://cam:554/"


def test_redact_hides_userinfo_anywhere() -> None:
    text = "Connection refused: 'rtsp://admin:hunter2@10.0.0.5/x' and rtsp://u@h/y"
    out = redact(text)
    assert "hunter2" not in out
    assert "admin" not in out
    assert "rtsp://***@10.0.0.5/x" in out
    assert "rtsp://***@h/y" in out
