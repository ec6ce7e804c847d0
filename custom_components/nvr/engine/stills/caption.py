"""The words of the "No video signal" picture, in the user's language, and a font that can draw them.

Pillow's own font draws Latin text only. For Chinese or Korean words a font
with their glyphs must be installed (Debian: ``fonts-noto-cjk``, or
``fonts-wqy-zenhei``, ``fonts-nanum``); without one the picture stays in
English rather than showing empty boxes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_LOGGER = logging.getLogger(__name__)

ENGLISH_TEXT = "No video signal"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
KNOWN_FONTS = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJK-Medium.ttc",
    "NotoSansCJKsc-Regular.otf",
    "NotoSansCJKkr-Regular.otf",
    "NotoSansCJK-Bold.ttc",
    "wqy-zenhei.ttc",
    "wqy-microhei.ttc",
    "NanumGothic.ttf",
    "UnDotum.ttf",
    "DroidSansFallbackFull.ttf",
)
"""File names tried first, in this order (sans-serif faces that cover Chinese and Hangul)."""
FACE_HINTS = {"zh-hans": ("SC", "CN"), "zh": ("SC", "CN"), "ko": ("KR", "Korean"), "ja": ("JP",)}
"""Language -> words in a face's family name that mark its regional glyph shapes (a .ttc holds several)."""
_PROBE_SIZE = 24
_NO_GLYPH = "\U0010fffd"  # a private-use code point no font draws: its box is the "missing glyph" shape
_MAX_FACES = 16


@dataclass(frozen=True, slots=True)
class Caption:
    """What the placeholder says and the font file (and face in it) to say it with; no file: Pillow's own."""

    text: str = ENGLISH_TEXT
    font_path: str | None = None
    font_index: int = 0


ENGLISH = Caption()
_current = ENGLISH


def current_caption() -> Caption:
    """The caption placeholders are drawn with now."""
    return _current


def set_caption(caption: Caption) -> None:
    """Use ``caption`` for every placeholder drawn from now on (the glue sets it from HA's language)."""
    global _current  # noqa: PLW0603 - one HA language per process
    _current = caption


def caption_for(text: str, language: str = "en", font_dirs: Iterable[Path] = FONT_DIRS) -> Caption:
    """A caption saying ``text``, with a font that draws every one of its characters; blocking.

    English (Pillow's own font) when no installed font can draw ``text``.
    """
    text = text.strip()
    if not text or text == ENGLISH_TEXT:
        return ENGLISH
    if _draws_all(_default_font(), text):
        return Caption(text)
    hints = FACE_HINTS.get(language.lower(), FACE_HINTS.get(language.lower().split("-")[0], ()))
    for path in _font_files(tuple(font_dirs)):
        index = _face_with_glyphs(path, text, hints)
        if index is not None:
            _LOGGER.debug("'%s' is drawn with %s (face %d)", text, path, index)
            return Caption(text, str(path), index)
    _LOGGER.info("No installed font can draw '%s': the 'No video signal' picture stays in English", text)
    return ENGLISH


def load_font(caption: Caption, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """The caption's font at ``size`` pixels (Pillow's own when it has none or it cannot be read)."""
    if caption.font_path is not None:
        try:
            return _truetype(caption.font_path, caption.font_index, size)
        except OSError:
            pass
    return _default_font(size)


@lru_cache(maxsize=32)
def _truetype(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


@lru_cache(maxsize=16)
def _default_font(size: int = _PROBE_SIZE) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def _font_files(font_dirs: tuple[Path, ...]) -> list[Path]:
    """Installed font files, the known CJK ones first."""
    found: list[Path] = []
    for folder in font_dirs:
        try:
            found += [p for p in folder.rglob("*") if p.suffix.lower() in (".ttf", ".ttc", ".otf") and p.is_file()]
        except OSError:
            continue
    rank = {name.lower(): n for n, name in enumerate(KNOWN_FONTS)}
    return sorted(found, key=lambda p: (rank.get(p.name.lower(), len(rank)), str(p)))


def _face_with_glyphs(path: Path, text: str, hints: tuple[str, ...]) -> int | None:
    """Index of the face in ``path`` that draws all of ``text``, preferring one whose name has a hint."""
    fitting: list[tuple[int, str]] = []
    for index in range(_MAX_FACES):
        try:
            font = ImageFont.truetype(str(path), _PROBE_SIZE, index=index)
        except OSError:
            break  # no more faces (or not a font Pillow reads)
        if _draws_all(font, text):
            family = font.getname()[0] or ""
            if any(hint.lower() in family.lower() for hint in hints):
                return index
            fitting.append((index, family))
        if path.suffix.lower() != ".ttc":
            break
    return fitting[0][0] if fitting else None


def _draws_all(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, text: str) -> bool:
    """True if ``font`` has a glyph of its own for every character of ``text`` (not the missing-glyph box)."""
    missing = _picture(font, _NO_GLYPH)
    for char in set(text):
        if char.isspace():
            continue
        picture = _picture(font, char)
        if picture is None or picture == missing:
            return False
    return True


def _picture(font: ImageFont.ImageFont | ImageFont.FreeTypeFont, char: str) -> bytes | None:
    try:
        left, top, right, bottom = font.getbbox(char)
    except (UnicodeEncodeError, ValueError):
        return None
    if right <= left or bottom <= top:
        return b""
    image = Image.new("L", (right - left, bottom - top))
    ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
    return image.tobytes()
