"""Draw the integration's brand images (custom_components/nvr/brand/), which HA 2026.3+ shows.

    python scripts/draw_brand.py [OUT_DIR]

The mark is a recorder: a slate rounded square with a camera lens and a red
record dot. The logo sets "NVR" beside it, in DejaVu Sans Bold (Debian's
``fonts-dejavu-core``), dark on light themes and light on dark ones (``dark_``).
Sizes follow HA's brand rules: icons square, 256 and 512 (``@2x``); logos
with their short side 128 and 256, landscape. Everything is drawn four times
larger and scaled down, for smooth edges. The images are committed; nothing
draws them at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parents[1] / "custom_components" / "nvr" / "brand"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
SCALE = 4
SLATE = (38, 50, 56, 255)
LENS_RING = (236, 239, 241, 255)
LENS_GLASS = (3, 169, 244, 255)
RECORD = (229, 57, 53, 255)
TEXT = {"": (38, 50, 56, 255), "dark_": (236, 239, 241, 255)}


def mark(size: int) -> Image.Image:
    """The square recorder mark, ``size`` pixels a side, on a transparent background."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    pad = big * 0.06
    draw.rounded_rectangle((pad, pad, big - pad, big - pad), radius=big * 0.2, fill=SLATE)
    centre, ring, glass = big * 0.47, big * 0.27, big * 0.15
    draw.ellipse((centre - ring, centre - ring, centre + ring, centre + ring), fill=LENS_RING)
    draw.ellipse((centre - glass, centre - glass, centre + glass, centre + glass), fill=LENS_GLASS)
    shine = big * 0.045
    draw.ellipse((centre - glass * 0.45 - shine, centre - glass * 0.45 - shine,
                  centre - glass * 0.45 + shine, centre - glass * 0.45 + shine), fill=LENS_RING)  # fmt: skip
    dot, dot_x, dot_y = big * 0.075, big * 0.76, big * 0.24
    draw.ellipse((dot_x - dot, dot_y - dot, dot_x + dot, dot_y + dot), fill=RECORD)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, text_colour: tuple[int, int, int, int]) -> Image.Image:
    """The mark with "NVR" beside it: ``height`` pixels high, as wide as the text ends (no margin right)."""
    big = height * SCALE
    image = Image.new("RGBA", (big * 3, big), (0, 0, 0, 0))
    image.alpha_composite(mark(height).resize((big, big), Image.Resampling.LANCZOS))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), int(big * 0.62))
    left, top, right, bottom = draw.textbbox((0, 0), "NVR", font=font)
    x = big * 1.12
    y = (big - (bottom - top)) / 2 - top
    draw.text((x, y), "NVR", font=font, fill=text_colour)
    end = x + right - left
    assert end < big * 3, "the text must fit"
    width = int(end / SCALE) + 2
    return image.resize((height * 3, height), Image.Resampling.LANCZOS).crop((0, 0, width, height))


def draw_all(out: Path) -> list[Path]:
    """Write every brand image into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    images = {"icon.png": mark(256), "icon@2x.png": mark(512)}
    for prefix, colour in TEXT.items():
        images[f"{prefix}logo.png"] = logo(128, colour)
        images[f"{prefix}logo@2x.png"] = logo(256, colour)
    written = []
    for name, image in images.items():
        path = out / name
        image.save(path, optimize=True)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in draw_all(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(written_path)
