"""The model's raw outputs from LiteRT (TensorFlow Lite's native runtime), for the comparison test.

Run by test_native_runtime.py with another Python that has ``ai-edge-litert``
(it has no wheels for the Python versions HA runs on):

    python litert_reference.py TARBALL INPUTS.npy OUTPUTS.npz
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from ai_edge_litert.interpreter import Interpreter
from convert_object_model import TFLITE_NAME, packed_assets


def main(tarball: str, inputs: str, outputs: str) -> None:
    """Run every input through the model, one thread, and save the outputs and the median time."""
    interpreter = Interpreter(model_content=packed_assets(Path(tarball))[TFLITE_NAME], num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    names = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    boxes, scores, times = [], [], []
    for picture in np.load(inputs):
        interpreter.set_tensor(source, picture[None].astype(np.float32))
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
        boxes.append(interpreter.get_tensor(names["raw_outputs/box_encodings"])[0])
        scores.append(interpreter.get_tensor(names["raw_outputs/class_predictions"])[0])
    np.savez(outputs, boxes=np.array(boxes), scores=np.array(scores), seconds=np.median(times))


if __name__ == "__main__":
    main(*sys.argv[1:4])
