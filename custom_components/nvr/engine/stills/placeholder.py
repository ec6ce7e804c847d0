"""The "No video signal" picture shown while a channel's feed is down."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw

from .caption import Caption, current_caption, load_font
from .snapshot import target_size

DEFAULT_SIZE = (1280, 720)
_BACKGROUND = (16, 18, 22)
_TITLE = (235, 235, 235)
_SUBTITLE = (150, 156, 166)


def no_signal_jpeg(
    channel_name: str,
    width: int | None = None,
    height: int | None = None,
    source_size: tuple[int, int] | None = None,
) -> bytes:
    """Return a JPEG saying the channel has no video, at the size asked for.

    ``source_size`` is the stream's last known size, used for the aspect
    ratio when only one dimension (or none) is asked for.
    """
    src_w, src_h = source_size or DEFAULT_SIZE
    w, h = target_size(src_w, src_h, width, height)
    return _render(current_caption(), channel_name, w, h)


def no_signal_image(channel_name: str, width: int, height: int, caption: Caption | None = None) -> Image.Image:
    """The "No video signal" picture with the channel's name, as an RGB image.

    In the words and font of ``caption`` (default: the current one, which
    follows HA's language).
    """
    caption = caption or current_caption()
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font = load_font(caption, max(10, height // 9))
    name_font = load_font(caption, max(8, height // 16))
    _centered(draw, width, height // 2 - height // 14, caption.text, title_font, _TITLE)
    if channel_name:
        _centered(draw, width, height // 2 + height // 10, channel_name, name_font, _SUBTITLE)
    return image


@lru_cache(maxsize=32)
def _render(caption: Caption, channel_name: str, width: int, height: int) -> bytes:
    out = io.BytesIO()
    no_signal_image(channel_name, width, height, caption).save(out, format="JPEG", quality=80)
    return out.getvalue()


def _centered(draw: ImageDraw.ImageDraw, width: int, y: int, text: str, font, fill) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    text_w = right - left
    if text_w > width * 0.92:  # too long for the tile: shorten the text
        keep = max(1, int(len(text) * width * 0.92 / text_w) - 1)
        text = text[:keep] + "…"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w = right - left
    draw.text(((width - text_w) / 2 - left, y - (bottom - top) / 2 - top), text, font=font, fill=fill)
