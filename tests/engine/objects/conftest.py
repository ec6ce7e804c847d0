"""One detector for the whole module: loading the model widens about 40 MB of weights."""

from __future__ import annotations

import pytest
from engine.objects.detector import ObjectDetector
from engine.objects.worker import limit_blas_threads


@pytest.fixture(scope="session")
def detector() -> ObjectDetector:
    """The shipped model, run as the integration runs it (BLAS in one thread)."""
    limit_blas_threads()
    return ObjectDetector.load()
