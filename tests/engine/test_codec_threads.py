"""No codec context of the integration runs FFmpeg threads (engine/libav.py says why they froze HA).

A static check over the integration's source, and a live one: every way
the engine makes a codec context leaves ``thread_count`` at 1.
"""

from __future__ import annotations

import io
import re
from fractions import Fraction
from pathlib import Path

import av
from engine import libav
from engine.stream.mediaformat import copy_stream

SOURCE = Path(__file__).resolve().parents[2] / "custom_components" / "nvr"


def test_codec_contexts_are_only_made_through_libav() -> None:
    """``CodecContext.create`` appears in engine/libav.py alone; decoding a stream's own context is made safe;
    no filter graph (PyAV's ``AudioResampler`` is one) is made anywhere."""
    offenders = []
    for path in SOURCE.rglob("*.py"):
        if path.name == "libav.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "CodecContext.create" in text:
            offenders.append(f"{path.relative_to(SOURCE)}: CodecContext.create")
        for graph in ("AudioResampler", "av.filter"):  # an FFmpeg filter graph: a thread per CPU
            if graph in text:
                offenders.append(f"{path.relative_to(SOURCE)}: {graph}")
        for match in re.finditer(r"(\w+)\.codec_context\.decode\(", text):
            if f"single_threaded({match.group(1)}.codec_context)" not in text:
                offenders.append(f"{path.relative_to(SOURCE)}: {match.group(0)} without single_threaded")
    assert not offenders, offenders


def test_decoders_encoders_and_copied_streams_have_one_thread() -> None:
    assert libav.open_decoder("h264").thread_count == 1
    assert libav.open_decoder("hevc").thread_count == 1
    assert libav.open_encoder("mjpeg").thread_count == 1
    source = av.open(io.BytesIO(), "w", format="mp4")
    template = source.add_stream("mpeg4", rate=25)
    template.width, template.height, template.pix_fmt = 64, 64, "yuv420p"
    template.codec_context.time_base = Fraction(1, 25)
    output = av.open(io.BytesIO(), "w", format="mp4")
    try:
        assert copy_stream(output, template).codec_context.thread_count == 1
    finally:
        output.close()
        source.close()
