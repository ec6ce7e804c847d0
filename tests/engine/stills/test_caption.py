"""The "No video signal" picture in the user's language, or in English when no font can draw it."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from engine.stills.caption import ENGLISH, Caption, caption_for, current_caption, load_font, set_caption
from engine.stills.placeholder import no_signal_image, no_signal_jpeg
from PIL import Image, ImageDraw

CHINESE = "无视频信号"
KOREAN = "비디오 신호 없음"


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    set_caption(ENGLISH)


def cjk_caption(text: str, language: str) -> Caption:
    caption = caption_for(text, language)
    if caption.font_path is None:
        pytest.fail(
            "No installed font draws Chinese and Korean: scripts/test installs fonts-noto-cjk as root "
            "(apt-get install fonts-noto-cjk)"
        )
    return caption


def text_picture(caption: Caption, text: str) -> np.ndarray:
    image = Image.new("L", (400, 60))
    ImageDraw.Draw(image).text((4, 4), text, font=load_font(caption, 32), fill=255)
    return np.asarray(image)


@pytest.mark.parametrize(("text", "language", "face"), [(CHINESE, "zh-Hans", "SC"), (KOREAN, "ko", "KR")])
def test_cjk_caption_has_a_font_with_every_glyph(text: str, language: str, face: str) -> None:
    caption = cjk_caption(text, language)
    assert caption.text == text
    font = load_font(caption, 32)
    assert face in font.getname()[0], f"{font.getname()} is not the regional face for {language}"
    # Every character is drawn with its own glyph, not the font's "missing glyph" box.
    missing = text_picture(caption, "\U0010fffd")
    for char in set(text) - {" "}:
        assert not np.array_equal(text_picture(caption, char), missing), f"{char!r} is drawn as a missing glyph"


def test_no_font_for_the_language_falls_back_to_english() -> None:
    assert caption_for(CHINESE, "zh-Hans", font_dirs=()) == ENGLISH
    assert caption_for("", "ko") == ENGLISH
    assert caption_for("No video signal", "en") == ENGLISH


def test_latin_text_needs_no_extra_font() -> None:
    assert caption_for("Video signal lost", "en") == Caption("Video signal lost")


def test_placeholders_follow_the_current_caption() -> None:
    english = no_signal_jpeg("Gate", 640, 360)
    chinese = cjk_caption(CHINESE, "zh-Hans")
    set_caption(chinese)
    assert current_caption() == chinese
    translated = no_signal_jpeg("Gate", 640, 360)
    assert translated != english, "the cached English picture was served after the language changed"
    picture = np.asarray(Image.open(io.BytesIO(translated)).convert("L"), dtype=np.int16)
    expected = np.asarray(no_signal_image("Gate", 640, 360, chinese).convert("L"), dtype=np.int16)
    assert np.abs(picture - expected).mean() < 3, "the JPEG is not the Chinese picture"
    set_caption(ENGLISH)
    assert no_signal_jpeg("Gate", 640, 360) == english
