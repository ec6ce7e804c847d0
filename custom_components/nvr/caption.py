"""The "No video signal" picture follows HA's configured language (when a font for it is installed)."""

from __future__ import annotations

from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.translation import async_get_translations

from .const import DOMAIN
from .engine import ENGLISH_CAPTION, caption_for, set_caption

NO_SIGNAL_KEY = f"component.{DOMAIN}.entity.binary_sensor.video_signal.state.off"
"""The video-signal sensor's "off" state: the words the card and the picture show."""


async def async_update_caption(hass: HomeAssistant) -> None:
    """Draw placeholders in HA's language, or in English when no installed font has its glyphs."""
    language = hass.config.language or "en"
    translations = await async_get_translations(hass, language, "entity", {DOMAIN})
    text = translations.get(NO_SIGNAL_KEY)
    caption = await hass.async_add_executor_job(caption_for, text, language) if text else ENGLISH_CAPTION
    set_caption(caption)


@callback
def async_follow_language(hass: HomeAssistant) -> None:
    """Update the placeholder when the user changes HA's language (for the rest of the run)."""

    async def _async_changed(_event: Event) -> None:
        await async_update_caption(hass)

    hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, _async_changed)
