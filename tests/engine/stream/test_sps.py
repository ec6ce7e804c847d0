"""The picture size read from an SPS matches what FFmpeg decodes, for the shapes cameras send."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from engine.stream.sps import picture_size
from rtsp_peer import _run_ffmpeg

# (codec, width, height, extra encoder parameters): cropped heights (360, 1080, 1944),
# High profile with scaling matrices, 4:2:2 and 4:4:4, interlaced coding.
CASES = [
    ("h264", 640, 360, ["-profile:v", "baseline"]),
    ("h264", 1920, 1080, []),
    ("h264", 2592, 1944, []),
    ("h264", 352, 288, ["-x264-params", "cqm=jvt"]),
    ("h264", 1280, 720, ["-pix_fmt", "yuv422p", "-profile:v", "high422"]),
    ("h264", 704, 576, ["-pix_fmt", "yuv444p", "-profile:v", "high444"]),
    ("h264", 720, 480, ["-flags", "+ildct+ilme", "-x264-params", "interlaced=1"]),
    ("hevc", 640, 360, []),
    ("hevc", 1920, 1080, []),
    ("hevc", 2560, 1440, ["-pix_fmt", "yuv422p"]),
]


def _encode(tmp: Path, codec: str, width: int, height: int, extra: list[str], suffix: str) -> Path:
    path = tmp / f"{codec}_{width}x{height}_{len(extra)}{suffix}"
    encoder = ["-c:v", "libx264"] if codec == "h264" else ["-c:v", "libx265", "-x265-params", "log-level=error"]
    encoder += ["-preset", "ultrafast"]  # three pictures; x265's default preset takes tens of seconds on a busy machine
    pix = [] if "-pix_fmt" in extra else ["-pix_fmt", "yuv420p"]
    _run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate=5",
            "-frames:v",
            "3",
            *encoder,
            *pix,
            *extra,
            str(path),
        ]
    )
    return path


@pytest.mark.parametrize(("codec", "width", "height", "extra"), CASES, ids=lambda v: str(v))
def test_size_from_extradata_and_keyframe(tmp_path: Path, codec: str, width: int, height: int, extra) -> None:
    mp4 = _encode(tmp_path, codec, width, height, extra, ".mp4")  # extradata as avcC / hvcC
    ts = _encode(tmp_path, codec, width, height, extra, ".ts")  # Annex B, SPS in the keyframe
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        expected = (stream.codec_context.width, stream.codec_context.height)
        assert picture_size(codec, bytes(stream.codec_context.extradata)) == expected
    with av.open(str(ts)) as container:
        keyframe = next(p for p in container.demux(video=0) if p.is_keyframe)
        assert picture_size(codec, bytes(keyframe)) == expected
    assert expected == (width, height)


def test_size_from_rtsp_extradata_when_the_probe_has_none(recording_server) -> None:
    """FFmpeg's RTSP demuxer turns the SDP's sprop-parameter-sets into Annex B extradata."""
    options = {"rtsp_transport": "tcp", "analyzeduration": "0", "probesize": "32"}
    with av.open(recording_server.url("/av"), options=options, timeout=(8, 5)) as container:
        ctx = container.streams.video[0].codec_context
        assert (ctx.width, ctx.height) == (0, 0), "the short probe did not leave the size empty"
        assert picture_size("h264", bytes(ctx.extradata)) == (320, 180)


@pytest.mark.parametrize("data", [None, b"", b"\x00\x00\x01\x67", b"\x00\x00\x01\x67\xff\xff", b"\x01\x02", b"junk"])
def test_garbage_gives_none(data) -> None:
    assert picture_size("h264", data) is None
    assert picture_size("hevc", data) is None
