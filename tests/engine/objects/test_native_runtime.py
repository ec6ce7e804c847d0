"""The numpy runtime gives the model's outputs: compared with TFLite's own runtime, and with a fresh conversion.

Both need what scripts/test fetches and installs outside the integration's
venvs: the npm tarball the model comes from (``NVR_OBJECT_MODEL_SOURCE``)
and a Python with ``ai-edge-litert`` (``NVR_LITERT_PYTHON``). scripts/test
sets both, and a test fails if what they name is missing. The HA 2026
line's root gets the tarball's path but not the LiteRT venv (its Python is
the host's, which the root does not have): there the comparison is skipped
with the reason, as in a developer's run without them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from engine.objects.detector import MODEL_FILE, ObjectDetector

from ...objects_scenes import photo

REPO = Path(__file__).resolve().parents[3]
SOURCE = os.environ.get("NVR_OBJECT_MODEL_SOURCE", "")
LITERT = os.environ.get("NVR_LITERT_PYTHON", "")


def _required(value: str, what: str) -> Path:
    if not value:
        pytest.skip(f"{what} is not set (scripts/test sets it)")
    path = Path(value)
    assert path.exists(), f"{what} names {value}, which is missing"
    return path


def test_the_shipped_model_is_what_the_conversion_script_makes(tmp_path: Path) -> None:
    tarball = _required(SOURCE, "NVR_OBJECT_MODEL_SOURCE")
    out = tmp_path / "model.nvrnet"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "convert_object_model.py"), str(tarball), str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert out.read_bytes() == MODEL_FILE.read_bytes()


def test_numpy_outputs_match_the_native_runtime(detector: ObjectDetector, tmp_path: Path) -> None:
    tarball = _required(SOURCE, "NVR_OBJECT_MODEL_SOURCE")
    python = _required(LITERT, "NVR_LITERT_PYTHON")
    names = ["astronaut", "cameraman", "chelsea", "grass"]
    inputs = np.stack([detector.prepare(photo(name)) for name in names])
    np.save(tmp_path / "inputs.npy", inputs)
    subprocess.run(
        [
            str(python),
            str(Path(__file__).with_name("litert_reference.py")),
            str(tarball),
            str(tmp_path / "inputs.npy"),
            str(tmp_path / "outputs.npz"),
        ],
        check=True,
        timeout=300,
    )
    native = np.load(tmp_path / "outputs.npz")
    for i, name in enumerate(names):
        ours = detector.network.run(inputs[i])
        assert np.abs(ours["boxes"] - native["boxes"][i]).max() < 1e-3, name
        assert np.abs(ours["scores"] - native["scores"][i]).max() < 1e-3, name
