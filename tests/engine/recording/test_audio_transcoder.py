"""The AAC transcoder on its own: the sound it makes, and no thread of FFmpeg's kept alive by it."""

from __future__ import annotations

import io
import os
from fractions import Fraction

import av
import numpy as np
import pytest
from engine.recording.audio import AacTranscoder, PlanarFrames
from engine.stream.mediaformat import AudioFormat

RATE = 8000
TONE = 440.0


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _g711(seconds: float, codec: str = "pcm_mulaw") -> list[bytes]:
    """A 440 Hz tone as 20 ms G.711 packets, as a camera sends it."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = (np.sin(2 * np.pi * TONE * t) * 12000).astype(np.int16)
    encoder = av.CodecContext.create(codec, "w")
    encoder.sample_rate, encoder.layout, encoder.format = RATE, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = RATE
    packets = [bytes(p) for p in encoder.encode(frame)] + [bytes(p) for p in encoder.encode(None)]
    data = b"".join(packets)
    return [data[i : i + 160] for i in range(0, len(data), 160)]


def _decode_aac(transcoder: AacTranscoder, packets: list[av.Packet]) -> np.ndarray:
    decoder = av.CodecContext.create("aac", "r")
    decoder.extradata = transcoder.stream.codec_context.extradata
    out = [f.to_ndarray()[0] for p in packets for f in decoder.decode(av.Packet(bytes(p)))]
    return np.concatenate(out)


@pytest.mark.parametrize("codec", ["pcm_mulaw", "pcm_alaw"])
def test_g711_becomes_aac_of_the_same_sound(codec: str) -> None:
    fmt = AudioFormat(codec, RATE, 1, Fraction(1, RATE), None)
    transcoder = AacTranscoder(av.open(io.BytesIO(), "w", format="mpegts"), fmt)
    packets: list[av.Packet] = []
    for n, data in enumerate(_g711(2.0, codec)):
        packets += transcoder.encode(data, n * 160)
    packets += transcoder.flush()
    assert [p.pts for p in packets] == sorted(p.pts for p in packets)
    assert packets[0].pts == 0 and abs(packets[-1].pts + 1024 - 2.0 * RATE) <= 1024
    sound = _decode_aac(transcoder, packets)[2048:-2048]  # the encoder's start and end aside
    spectrum = np.abs(np.fft.rfft(sound * np.hanning(len(sound))))
    assert abs(np.argmax(spectrum) * RATE / len(sound) - TONE) < 5
    assert 0.2 < np.sqrt(np.mean(sound**2)) < 0.4  # 12000 / 32768 / sqrt(2) = 0.26


def test_transcoding_keeps_no_thread_alive() -> None:
    """Eight transcoders at once (eight files or live views): not one thread more.

    PyAV's AudioResampler, used before, ran an FFmpeg filter graph whose
    thread pool added a thread per CPU for as long as it lived.
    """
    before = _threads()
    fmt = AudioFormat("pcm_mulaw", RATE, 1, Fraction(1, RATE), None)
    packets = _g711(0.5)
    transcoders = [AacTranscoder(av.open(io.BytesIO(), "w", format="mpegts"), fmt) for _ in range(8)]
    made = [sum(len(t.encode(data, n * 160)) for n, data in enumerate(packets)) for t in transcoders]
    assert all(made)
    assert _threads() == before


def test_planar_frames_from_interleaved_stereo_and_many_channels() -> None:
    stereo = np.array([[1000, -1000] * 1500], dtype=np.int16)  # left 1000, right -1000, interleaved
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = RATE
    chunks = PlanarFrames(2, RATE, 1024).push(frame)
    assert [c.samples for c in chunks] == [1024]
    planes = chunks[0].to_ndarray()
    assert planes.shape == (2, 1024) and np.allclose(planes[0], 1000 / 32768) and np.allclose(planes[1], -1000 / 32768)
    frames = PlanarFrames(1, RATE, 1024)  # stereo into mono: the mean of the two, 0 here
    chunks = frames.push(frame) + frames.flush()
    assert [c.samples for c in chunks] == [1024, 476]
    assert all(c.to_ndarray().shape[0] == 1 and np.allclose(c.to_ndarray(), 0) for c in chunks)
    with pytest.raises(ValueError):
        other = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        other.sample_rate = 16000
        PlanarFrames(2, RATE, 1024).push(other)
