"""Every string in every language: the integration's translations, the wall card's and the NVR page's strings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from custom_components.nvr.const import MAX_NAME_LENGTH

INTEGRATION = Path(__file__).resolve().parents[1] / "custom_components" / "nvr"
CARD = INTEGRATION / "frontend" / "nvr-wall-strings.js"
PANEL = INTEGRATION / "frontend" / "nvr-panel-strings.js"
LANGUAGES = ("en", "zh-Hans", "ko")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
NO_SIGNAL = ("entity", "binary_sensor", "video_signal", "state", "off")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def card_strings(module: Path = CARD) -> dict[str, dict[str, str]]:
    """A module's STRINGS object, between its STRINGS-BEGIN and STRINGS-END markers (JSON on purpose)."""
    source = module.read_text(encoding="utf-8")
    block = source.split("// STRINGS-BEGIN", 1)[1].split("// STRINGS-END", 1)[0]
    body = block.strip().removeprefix("export const STRINGS =").strip().removesuffix(";")
    return json.loads(body)


def test_english_translation_is_strings_json() -> None:
    assert load(INTEGRATION / "translations" / "en.json") == load(INTEGRATION / "strings.json")


@pytest.mark.parametrize("language", LANGUAGES)
def test_name_too_long_quotes_the_limit(language: str) -> None:
    strings = flatten(load(INTEGRATION / "translations" / f"{language}.json"))
    errors = [text for key, text in strings.items() if key.endswith(".error.name_too_long")]
    assert len(errors) == 2, "the NVR's and the channel's form"
    assert all(str(MAX_NAME_LENGTH) in text for text in errors), errors


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_translated(language: str) -> None:
    source = flatten(load(INTEGRATION / "strings.json"))
    translated = flatten(load(INTEGRATION / "translations" / f"{language}.json"))
    assert sorted(set(source) - set(translated)) == [], f"missing in {language}.json"
    assert sorted(set(translated) - set(source)) == [], f"not in strings.json but in {language}.json"
    for key, text in source.items():
        assert isinstance(translated[key], str) and translated[key].strip(), f"{language}: {key} is empty"
        assert set(PLACEHOLDER.findall(translated[key])) == set(PLACEHOLDER.findall(text)), (
            f"{language}: {key} has other placeholders than the English"
        )


@pytest.mark.parametrize("module", [CARD, PANEL], ids=["card", "page"])
def test_card_strings_exist_in_every_language(module: Path) -> None:
    strings = card_strings(module)
    assert set(strings) == set(LANGUAGES)
    english = strings["en"]
    for language in LANGUAGES:
        assert set(strings[language]) == set(english), f"card strings of {language} differ from English"
        for key, text in english.items():
            assert strings[language][key].strip(), f"card: {language}.{key} is empty"
            assert set(PLACEHOLDER.findall(strings[language][key])) == set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_card_says_no_video_signal_as_the_integration_does(language: str) -> None:
    """The card's overlay, the video-signal sensor's state and the placeholder picture use the same words."""
    translation: Any = load(INTEGRATION / "translations" / f"{language}.json")
    for key in NO_SIGNAL:
        translation = translation[key]
    assert card_strings()[language]["no_signal"] == translation
