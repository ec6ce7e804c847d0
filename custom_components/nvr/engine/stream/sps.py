"""The picture size from an H.264 or H.265 sequence parameter set.

FFmpeg's short probe of an RTSP stream does not always learn the picture
size (it stops before the first keyframe, or before it parsed one), although
the SDP carries the parameter sets and every keyframe repeats them. This
reads the size from the SPS itself, in the codec's extradata (Annex B, as
FFmpeg's RTSP demuxer gives it, or avcC/hvcC) or in a keyframe's NAL units,
cropping (conformance window) included.
"""

from __future__ import annotations

from collections.abc import Iterator

H264_SPS = 7
HEVC_SPS = 33


class _Bits:
    """An MSB-first bit reader over an RBSP (emulation prevention removed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte = self.data[self.pos >> 3]  # IndexError past the end: caught by the caller
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def skip(self, count: int) -> None:
        if (self.pos + count + 7) >> 3 > len(self.data):
            raise IndexError("past the end of the SPS")
        self.pos += count

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def _rbsp(nal: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _annexb_nals(data: bytes) -> Iterator[bytes]:
    """NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        yield data[start:end].rstrip(b"\x00") if n + 1 < len(starts) else data[start:end]


def _avcc_nals(data: bytes) -> Iterator[bytes]:
    """SPS and PPS NAL units of an avcC record."""
    count = data[5] & 0x1F
    pos = 6
    for _ in range(count):
        size = int.from_bytes(data[pos : pos + 2], "big")
        yield data[pos + 2 : pos + 2 + size]
        pos += 2 + size


def _hvcc_nals(data: bytes) -> Iterator[bytes]:
    """The NAL units of an hvcC record's arrays."""
    arrays = data[22]
    pos = 23
    for _ in range(arrays):
        count = int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        for _ in range(count):
            size = int.from_bytes(data[pos : pos + 2], "big")
            yield data[pos + 2 : pos + 2 + size]
            pos += 2 + size


def _nals(codec: str, data: bytes) -> Iterator[bytes]:
    if b"\x00\x00\x01" in data[:5]:
        return _annexb_nals(data)
    if data[:1] == b"\x01" and codec == "h264" and len(data) >= 7:
        return _avcc_nals(data)
    if data[:1] == b"\x01" and codec == "hevc" and len(data) >= 23:
        return _hvcc_nals(data)
    return iter(())


def picture_size(codec: str, data: bytes | None) -> tuple[int, int] | None:
    """(width, height) from the first SPS in ``data`` (extradata or a keyframe), or None."""
    if not data:
        return None
    try:
        for nal in _nals(codec, data):
            if codec == "h264" and nal and nal[0] & 0x1F == H264_SPS:
                return _h264_size(_Bits(_rbsp(nal[1:])))
            if codec == "hevc" and len(nal) > 2 and (nal[0] >> 1) & 0x3F == HEVC_SPS:
                return _hevc_size(_Bits(_rbsp(nal[2:])))
    except (IndexError, ValueError):
        return None
    return None


_H264_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def _h264_size(bits: _Bits) -> tuple[int, int] | None:
    profile = bits.u(8)
    bits.skip(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    separate_planes = 0
    if profile in _H264_HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.u(1)
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.skip(1)  # qpprime_y_zero_transform_bypass
        if bits.u(1):  # seq_scaling_matrix_present
            for i in range(12 if chroma_format == 3 else 8):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.skip(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.skip(1)  # gaps_in_frame_num_allowed
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.skip(1)  # mb_adaptive_frame_field
    bits.skip(1)  # direct_8x8_inference
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.u(1) else (0, 0, 0, 0)
    chroma_array = 0 if separate_planes else chroma_format
    if chroma_array == 0:
        unit_x, unit_y = 1, 2 - frame_mbs_only
    else:
        sub_w = 1 if chroma_array == 3 else 2
        sub_h = 2 if chroma_array == 1 else 1
        unit_x, unit_y = sub_w, sub_h * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (crop[2] + crop[3])
    return (width, height) if width > 0 and height > 0 else None


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def _hevc_size(bits: _Bits) -> tuple[int, int] | None:
    bits.skip(4)  # sps_video_parameter_set_id
    sub_layers = bits.u(3)  # sps_max_sub_layers_minus1
    bits.skip(1)  # temporal_id_nesting
    bits.skip(96)  # general profile, tier and level
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.skip(2 * (8 - sub_layers))
    for profile_present, level_present in present:
        bits.skip((88 if profile_present else 0) + (8 if level_present else 0))
    bits.ue()  # sps_seq_parameter_set_id
    chroma_format = bits.ue()
    if chroma_format == 3:
        bits.skip(1)  # separate_colour_plane
    width = bits.ue()
    height = bits.ue()
    if bits.u(1):  # conformance_window
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        sub_w = 2 if chroma_format in (1, 2) else 1
        sub_h = 2 if chroma_format == 1 else 1
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    return (width, height) if width > 0 and height > 0 else None
