"""The wall card's files: served by the integration under its version, nothing else of the folder's parents."""

from __future__ import annotations

import re

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

from custom_components.nvr.const import DOMAIN
from custom_components.nvr.frontend import FOLDER, card_url

from .conftest import channel_data

IMPORT = re.compile(r'^import [^;]*? from "\./([\w-]+\.js)";', re.MULTILINE)


def imported_modules(*roots: str) -> set[str]:
    """The modules ``roots`` are, and every module of the folder they import, however deep."""
    found: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module not in found:
            found.add(module)
            todo.extend(IMPORT.findall((FOLDER / module).read_text(encoding="utf-8")))
    return found


async def test_card_is_served_under_the_integration_version(hass: HomeAssistant, make_entry, hass_client) -> None:
    entry = make_entry(channel_data("Gate", "rtsp://127.0.0.1:9/none"))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    version = (await async_get_integration(hass, DOMAIN)).version
    url = card_url(version)
    assert url == f"/nvr_static/{version}/nvr-wall-card.js"

    client = await hass_client()
    response = await client.get(url)
    assert response.status == 200
    assert await response.read() == (FOLDER / "nvr-wall-card.js").read_bytes()
    assert "javascript" in response.headers["Content-Type"]
    modules = imported_modules("nvr-wall-card.js", "nvr-panel.js")  # the card, the NVR page, what they import
    assert modules == {path.name for path in FOLDER.glob("*.js")}, "a module nothing imports, or a missing one"
    for module in sorted(modules):
        response = await client.get(f"/nvr_static/{version}/{module}")
        assert response.status == 200 and await response.read() == (FOLDER / module).read_bytes(), module

    for outside in (
        f"/nvr_static/{version}/../manifest.json",
        f"/nvr_static/{version}/%2e%2e/manifest.json",
        f"/nvr_static/{version}/..%2fconst.py",
        "/nvr_static/0.0.0-other/nvr-wall-card.js",
    ):
        response = await client.get(outside)
        assert response.status in (400, 403, 404), f"{outside}: {response.status}"
