"""The NVR wall card and the NVR page: JavaScript served by the integration.

The card is loaded on every page of HA's frontend; the page (playback on a
timeline) is a sidebar panel, "NVR", open to every user.
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components import panel_custom
from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from .const import DOMAIN

URL_BASE = f"/{DOMAIN}_static"
FOLDER = Path(__file__).parent / "frontend"
CARD = "nvr-wall-card.js"
PANEL = "nvr-panel.js"
PANEL_PATH = DOMAIN
"""The page's address: /nvr."""
DATA_FRONTEND = f"{DOMAIN}_frontend"


async def async_setup_frontend(hass: HomeAssistant) -> None:
    """Serve the card's files and add it to every page (once per run).

    The integration's version is in the URL, so a new release is never
    served from a browser's cache; within a version the files may be cached.
    """
    if hass.data.get(DATA_FRONTEND):
        return
    hass.data[DATA_FRONTEND] = True
    version = (await async_get_integration(hass, DOMAIN)).version
    base = f"{URL_BASE}/{version}"
    await hass.http.async_register_static_paths([StaticPathConfig(base, str(FOLDER), True)])
    if "frontend" in hass.config.components:
        add_extra_js_url(hass, card_url(version))
        await panel_custom.async_register_panel(
            hass,
            frontend_url_path=PANEL_PATH,
            webcomponent_name="nvr-panel",
            module_url=f"{base}/{PANEL}",
            sidebar_title="NVR",
            sidebar_icon="mdi:cctv",
            require_admin=False,
        )


def card_url(version: str) -> str:
    """Where the card's module is served."""
    return f"{URL_BASE}/{version}/{CARD}"
