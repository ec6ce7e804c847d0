"""The shipped model on real photographs, with numpy alone."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from engine.objects.detector import MODEL_FILE, ObjectDetector, crop_around, resize
from engine.objects.network import MAGIC, ModelError, Network
from engine.objects.ssd import Decoder, anchors

from ...objects_scenes import crossing, frames, photo


def test_the_model_has_the_anchors_and_labels_it_was_trained_with(detector: ObjectDetector) -> None:
    assert anchors().shape == (1917, 4)
    labels = detector.network.labels
    for name in ("Person", "Car", "Vehicle", "Bicycle", "Dog", "Cat"):
        assert name in labels
    assert detector.network.header["source"]["package"] == "@mediapipe/objectron@0.4.1675468480"
    assert detector.network.header["source"]["licence"] == "Apache-2.0"
    licence = MODEL_FILE.parent / "LICENSE"
    assert "Apache License" in licence.read_text()
    assert "objectron" in (MODEL_FILE.parent / "NOTICE").read_text()


@pytest.mark.parametrize("name", ["astronaut", "cameraman"])
def test_a_person_is_found_in_a_photograph(detector: ObjectDetector, name: str) -> None:
    found = detector.detect(photo(name), min_score=0.4)
    people = [d for d in found if d.label == "person"]
    assert people, found
    x0, y0, x1, y1 = people[0].box
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert people[0].area > 0.2  # the person fills much of these pictures


def test_vehicles_and_a_bicycle_are_found_in_photographs(detector: ObjectDetector) -> None:
    found = detector.detect(photo("truck_bicycle_dog"), min_score=0.5)
    assert {"vehicle", "bicycle", "animal"} <= {d.label for d in found}
    truck = next(d for d in found if d.label == "vehicle")
    assert truck.box[0] > 0.5 and truck.box[3] < 0.4  # the pickup, top right
    cars = [d for d in detector.detect(photo("motorway"), min_score=0.3) if d.label == "vehicle"]
    assert len(cars) >= 5  # small cars on a motorway
    assert all(d.area < 0.01 for d in cars)


def test_a_cat_is_an_animal_not_a_person(detector: ObjectDetector) -> None:
    found = detector.detect(photo("chelsea"), min_score=0.4)
    assert found and found[0].label == "animal"
    assert not [d for d in found if d.label in ("person", "vehicle")]


@pytest.mark.parametrize("name", ["grass", "gravel"])
def test_textures_hold_no_object(detector: ObjectDetector, name: str) -> None:
    assert detector.detect(photo(name), min_score=0.4) == []


def test_a_small_person_is_found_in_a_crop_around_the_moving_area(detector: ObjectDetector) -> None:
    scene = crossing("cameraman", "grass", 0.012)
    t, picture = next((t, p) for t, p in frames(scene) if t >= sum(scene.present) / 2)
    # The moving area: where the picture differs from the empty background.
    moved = np.abs(picture.astype(int) - scene.frame(0, 0.0).astype(int)).sum(axis=2) > 30
    rows, cols = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
    h, w = moved.shape
    around = (cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h)
    assert crop_around((w, h), around) is not None
    people = [d for d in detector.detect(picture, 0.4, around) if d.label == "person"]
    assert people, f"no person at {t:.1f} s"
    x0, y0, x1, y1 = people[0].box
    assert x0 < around[2] and x1 > around[0] and y0 < around[3] and y1 > around[1]  # boxes are in picture coordinates


def test_resize_averages_when_it_shrinks_a_lot() -> None:
    stripes = np.zeros((600, 600, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: a plain sample would alias to black or white
    out = resize(stripes, 300, 300)
    assert out.shape == (300, 300, 3) and out.dtype == np.float32
    assert np.allclose(out, 127.5, atol=1)


def test_network_rejects_a_wrong_input(detector: ObjectDetector) -> None:
    with pytest.raises(ValueError, match="input must be"):
        detector.network.run(np.zeros((100, 100, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((100, 100), dtype=np.uint8))


def test_a_damaged_model_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        Network.load(tmp_path / "missing.nvrnet")
    (tmp_path / "other.nvrnet").write_bytes(b"PK\x03\x04 something else")
    with pytest.raises(ModelError, match="not a model file"):
        Network.load(tmp_path / "other.nvrnet")
    raw = MODEL_FILE.read_bytes()
    (tmp_path / "short.nvrnet").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelError, match="truncated"):
        Network.load(tmp_path / "short.nvrnet")
    (tmp_path / "header.nvrnet").write_bytes(MAGIC + struct.pack("<I", 5) + b"{oops")
    with pytest.raises(ModelError, match="damaged header"):
        Network.load(tmp_path / "header.nvrnet")


def test_decoder_suppresses_overlapping_boxes_of_one_group() -> None:
    decoder = Decoder(["???", "Person", "Car", "Vehicle"])
    raw_boxes = np.zeros((1917, 4), dtype=np.float32)
    scores = np.full((1917, 4), -10.0, dtype=np.float32)
    scores[100, 2] = 3.0  # the same anchor as a car and as a vehicle: one vehicle
    scores[100, 3] = 2.0
    scores[101, 1] = 1.0  # a person next to it
    found = decoder.decode(raw_boxes, scores, 0.5)
    assert [d.label for d in found] == ["vehicle", "person"]
    assert found[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-4)
