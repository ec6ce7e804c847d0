"""Scenes for object detection: real photographs, composed into clips at test time.

The photographs in ``tests/data/objects`` come from packages whose licences
allow it (see its README): people (``astronaut``, ``cameraman``), an animal
(``chelsea``), vehicles (where found) and textures used as backgrounds
(``grass``, ``gravel``). A positive clip moves a person's photograph across a
real background at a given size; the negative clips change a real
background the ways that fool pixel-difference motion detection: a lighting
change, foliage swaying, rain-like noise, headlights sweeping.

Clips are encoded with PyAV (H.264, no B-frames) so they can be served over
RTSP like a camera, or decoded directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data" / "objects"
WIDTH, HEIGHT, FPS = 640, 360, 10

SUBJECTS = {
    # The object's part of each photograph: (left, top, right, bottom) in pixels.
    "astronaut": (0, 0, 340, 512),
    "cameraman": (60, 20, 340, 512),
    "truck_bicycle_dog": (455, 75, 695, 180),
}
"""People (and a pickup truck) cut from the photographs."""


def photo(name: str) -> np.ndarray:
    """One of the photographs, as an (h, w, 3) uint8 RGB array."""
    with Image.open(DATA / f"{name}.jpg") as image:
        return np.asarray(image.convert("RGB"))


def fitted(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """``picture`` scaled (and cropped) to fill ``width`` × ``height``."""
    image = Image.fromarray(picture)
    scale = max(width / image.width, height / image.height)
    image = image.resize((max(width, round(image.width * scale)), max(height, round(image.height * scale))))
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)))


def subject(name: str, height: int) -> np.ndarray:
    """A photograph cut to its person (or vehicle), ``height`` pixels tall."""
    left, top, right, bottom = SUBJECTS[name]
    crop = photo(name)[top:bottom, left:right]
    width = max(4, round(crop.shape[1] * height / crop.shape[0]))
    return np.asarray(Image.fromarray(crop).resize((width, height)))


Frame = Callable[[int, float], np.ndarray]
"""Makes frame ``index`` at ``t`` seconds."""


@dataclass(frozen=True)
class Scene:
    """A clip and its truth: when a person is in the picture (empty for a negative clip)."""

    name: str
    seconds: float
    frame: Frame
    present: tuple[float, float] | None = None
    """(first, last) second with the whole object in the picture."""
    share: float = 0.0
    """The object's share of the picture's area."""
    label: str = "person"


def crossing(
    name: str, background: str, share: float, seconds: float = 8.0, enter: float = 1.0, leave: float | None = None
) -> Scene:
    """A person (or the truck) at ``share`` of the picture's area moving across a real background.

    It enters at ``enter`` seconds and is gone at ``leave`` (one second before the end by default).
    """
    back = fitted(photo(background), WIDTH, HEIGHT)
    crop = SUBJECTS[name]
    aspect = (crop[2] - crop[0]) / (crop[3] - crop[1])
    height = min(HEIGHT - 4, round(math.sqrt(share * WIDTH * HEIGHT / aspect)))
    person = subject(name, height)
    w = person.shape[1]
    top = HEIGHT - height - 2
    leave = seconds - 1.0 if leave is None else leave
    speed = (WIDTH + w) / (leave - enter)

    def frame(_index: int, t: float) -> np.ndarray:
        out = back.copy()
        if enter <= t <= leave:
            x = round(-w + (t - enter) * speed)
            left, right = max(0, x), min(WIDTH, x + w)
            if right > left:
                out[top : top + height, left:right] = person[:, left - x : right - x]
        return out

    inside = (enter + w / speed, leave - w / speed)
    label = "vehicle" if name == "truck_bicycle_dog" else "person"
    title = f"{'truck' if label == 'vehicle' else name} {share:.1%} on {background}"
    return Scene(title, seconds, frame, inside, w * height / (WIDTH * HEIGHT), label)


def lighting(background: str, seconds: float = 6.0) -> Scene:
    """The light goes down and up again (clouds, a lamp)."""
    back = fitted(photo(background), WIDTH, HEIGHT).astype(np.float32)

    def frame(_index: int, t: float) -> np.ndarray:
        gain = 1.0 - 0.5 * math.sin(math.pi * t / seconds)
        return np.clip(back * gain, 0, 255).astype(np.uint8)

    return Scene(f"lighting on {background}", seconds, frame)


def swaying(background: str, seconds: float = 6.0) -> Scene:
    """Foliage in the wind: a bush (a third of the picture) whose texture wobbles by several pixels."""
    back = fitted(photo(background), WIDTH + 32, HEIGHT + 32)
    still = back[16 : 16 + HEIGHT, 16 : 16 + WIDTH]
    rows = np.arange(HEIGHT // 2)
    cols = np.arange(WIDTH // 2)

    def frame(_index: int, t: float) -> np.ndarray:
        out = still.copy()
        dx = (16 + 12 * np.sin(2 * math.pi * (1.1 * t + rows / 40.0))).astype(np.intp)
        dy = (16 + 10 * np.sin(2 * math.pi * (0.9 * t + cols / 50.0))).astype(np.intp)
        out[: HEIGHT // 2, : WIDTH // 2] = back[rows[:, None] + dy[None, :], cols[None, :] + dx[:, None]]
        return out

    return Scene(f"swaying {background}", seconds, frame)


def rain(background: str, seconds: float = 6.0, seed: int = 7) -> Scene:
    """Rain-like streaks and sensor noise over a still background."""
    back = fitted(photo(background), WIDTH, HEIGHT).astype(np.int16)
    rng = np.random.default_rng(seed)

    def frame(_index: int, _t: float) -> np.ndarray:
        out = back + rng.normal(0, 6, back.shape).astype(np.int16)
        for _ in range(60):
            x, y = int(rng.integers(0, WIDTH - 2)), int(rng.integers(0, HEIGHT - 20))
            out[y : y + 18, x : x + 1] += 70
        return np.clip(out, 0, 255).astype(np.uint8)

    return Scene(f"rain on {background}", seconds, frame)


def headlights(background: str, seconds: float = 6.0) -> Scene:
    """A bright beam sweeping across the scene at night."""
    back = fitted(photo(background), WIDTH, HEIGHT).astype(np.float32) * 0.35
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)

    def frame(_index: int, t: float) -> np.ndarray:
        cx = -200 + (WIDTH + 400) * t / seconds
        beam = np.exp(-(((xx - cx) / 170) ** 2 + ((yy - HEIGHT * 0.7) / 90) ** 2))
        return np.clip(back * (1 + 2.5 * beam[..., None]) + 120 * beam[..., None], 0, 255).astype(np.uint8)

    return Scene(f"headlights on {background}", seconds, frame)


def animal(background: str, seconds: float = 6.0) -> Scene:
    """A cat's photograph crossing: an animal, neither a person nor a vehicle."""
    back = fitted(photo(background), WIDTH, HEIGHT)
    cat = np.asarray(Image.fromarray(photo("chelsea")).resize((270, 180)))

    def frame(_index: int, t: float) -> np.ndarray:
        out = back.copy()
        x = round(-270 + (WIDTH + 270) * t / seconds)
        left, right = max(0, x), min(WIDTH, x + 270)
        if right > left:
            out[150:330, left:right] = cat[:, left - x : right - x]
        return out

    return Scene(f"cat on {background}", seconds, frame)


def encode(scene: Scene, path: Path, gop: int = FPS) -> Path:
    """Encode a scene as H.264 in MPEG-TS (what a camera sends), and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": str(gop), "bf": "0", "tune": "zerolatency", "preset": "veryfast", "crf": "21"}
        stream.codec_context.time_base = Fraction(1, FPS)
        for index in range(round(scene.seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(scene.frame(index, index / FPS), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def frames(scene: Scene) -> list[tuple[float, np.ndarray]]:
    """Every frame of a scene, uncompressed (for tests of the detector alone)."""
    return [(i / FPS, scene.frame(i, i / FPS)) for i in range(round(scene.seconds * FPS))]


def positives() -> list[Scene]:
    """People crossing, from large to about 1 % of the picture, and a truck."""
    return [
        crossing("astronaut", "grass", 0.12),
        crossing("cameraman", "gravel", 0.06),
        crossing("astronaut", "gravel", 0.03),
        crossing("cameraman", "grass", 0.012),
        crossing("truck_bicycle_dog", "gravel", 0.05),
    ]


def negatives() -> list[Scene]:
    """What must raise no person or vehicle alarm."""
    return [lighting("gravel"), swaying("grass"), rain("gravel"), headlights("grass"), animal("gravel")]
