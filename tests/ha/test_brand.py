"""The brand images (custom_components/nvr/brand/), which HA 2026.3+ serves for custom integrations."""

from __future__ import annotations

import importlib.util
import sys
from http import HTTPStatus
from pathlib import Path

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
BRAND = ROOT / "custom_components" / "nvr" / "brand"
SIZES = {
    "icon.png": (256, 256),
    "icon@2x.png": (512, 512),
    "logo.png": (None, 128),
    "logo@2x.png": (None, 256),
    "dark_logo.png": (None, 128),
    "dark_logo@2x.png": (None, 256),
}


def test_brand_images_have_the_sizes_ha_asks_for() -> None:
    """Icons square at 256 and 512; logos landscape, their short side 128 and 256; transparent corners."""
    assert sorted(p.name for p in BRAND.iterdir()) == sorted(SIZES)
    for name, (width, height) in SIZES.items():
        with Image.open(BRAND / name) as image:
            assert image.format == "PNG" and image.mode == "RGBA", name
            assert image.height == height, name
            assert image.width == (width or image.width) and image.width >= image.height, name
            assert image.getpixel((0, 0))[3] == 0, f"{name}: the background is transparent"


def test_brand_images_are_what_the_script_draws(tmp_path: Path) -> None:
    """scripts/draw_brand.py makes the committed images (up to Pillow's rounding between versions)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import draw_brand
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    draw_brand.draw_all(tmp_path)
    for name in SIZES:
        with Image.open(BRAND / name) as committed, Image.open(tmp_path / name) as drawn:
            assert committed.size == drawn.size, name
            diff = np.abs(np.asarray(committed, dtype=np.int16) - np.asarray(drawn, dtype=np.int16))
            assert diff.mean() < 1.0, name


@pytest.mark.skipif(
    importlib.util.find_spec("homeassistant.components.brands") is None,
    reason="HA serves a custom integration's brand/ folder from 2026.3 (its brands integration)",
)
async def test_ha_serves_our_brand_images(hass: HomeAssistant, hass_client) -> None:
    """HA's brands API answers with our own images, never a placeholder or the CDN (no traffic leaves)."""
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for name in SIZES:
        response = await client.get(f"/api/brands/integration/nvr/{name}?placeholder=no")
        assert response.status == HTTPStatus.OK, name
        assert await response.read() == (BRAND / name).read_bytes(), name
