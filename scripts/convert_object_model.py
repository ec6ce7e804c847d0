"""Convert MediaPipe's SSD-MobileNetV2 (Open Images V4) into the integration's model file.

Run once by a developer; the integration never converts or downloads.

    python scripts/convert_object_model.py mediapipe-objectron-0.4.1675468480.tgz \
        custom_components/nvr/engine/objects/model/ssd_mobilenetv2_oidv4.nvrnet

The input is the npm tarball of ``@mediapipe/objectron`` 0.4.1675468480
(Apache-2.0; ``npm pack @mediapipe/objectron@0.4.1675468480``). Its
``objectron_solution_packed_assets.data`` holds the label map and
``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite``; the byte ranges are
read from ``objectron_solution_packed_assets_loader.js``.

The output (read by ``engine/objects/network.py``) is deterministic: the
same tarball always gives the same bytes. Layout: ``MAGIC``, a little-endian
uint32 header length, a JSON header (the operators, the tensors' offsets and
shapes, the labels, the source's sha256), zero padding to 64 bytes, then
every constant tensor as float16. The model's DEQUANTIZE operators (float16
constants to float32) are folded: the file keeps the constants as float16
and the runtime widens them once at load.

Needs the ``tflite`` package (flatbuffers bindings for the TFLite schema),
a test requirement only.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np

MAGIC = b"NVRNET1\n"
PACKAGE = "@mediapipe/objectron"
VERSION = "0.4.1675468480"
TFLITE_NAME = "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"
LABELS_NAME = "object_detection_oidv4_labelmap.txt"
ACTIVATIONS = {0: "none", 1: "relu", 3: "relu6"}
PADDINGS = {0: "same", 1: "valid"}


def packed_assets(tarball: Path) -> dict[str, bytes]:
    """The files packed in the tarball's assets data, by base name."""
    with tarfile.open(tarball) as tar:
        loader = tar.extractfile("package/objectron_solution_packed_assets_loader.js").read().decode()
        data = tar.extractfile("package/objectron_solution_packed_assets.data").read()
    ranges = re.findall(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader)
    if not ranges:
        raise SystemExit("no packed files found in the loader")
    return {name.rsplit("/", 1)[-1]: data[int(start) : int(end)] for name, start, end in ranges}


def _options(tflite, kind: str, op, index: int) -> dict:
    """An operator's settings, as the runtime reads them."""
    options = op.BuiltinOptions()
    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        parsed = tflite.Conv2DOptions() if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        parsed.Init(options.Bytes, options.Pos)
        if parsed.DilationHFactor() != 1 or parsed.DilationWFactor() != 1:
            raise SystemExit(f"operator {index}: dilation is not supported")
        if kind == "DEPTHWISE_CONV_2D" and parsed.DepthMultiplier() != 1:
            raise SystemExit(f"operator {index}: depth multiplier is not supported")
        return {
            "stride": [parsed.StrideH(), parsed.StrideW()],
            "padding": PADDINGS[parsed.Padding()],
            "act": ACTIVATIONS[parsed.FusedActivationFunction()],
        }
    if kind == "ADD":
        parsed = tflite.AddOptions()
        parsed.Init(options.Bytes, options.Pos)
        return {"act": ACTIVATIONS[parsed.FusedActivationFunction()]}
    if kind == "CONCATENATION":
        parsed = tflite.ConcatenationOptions()
        parsed.Init(options.Bytes, options.Pos)
        return {"axis": parsed.Axis(), "act": ACTIVATIONS[parsed.FusedActivationFunction()]}
    if kind == "RESHAPE":
        return {}
    raise SystemExit(f"operator {index}: {kind} is not supported")


def convert(tflite_bytes: bytes, labels_text: str) -> bytes:
    """The model file for one .tflite model."""
    import tflite

    model = tflite.Model.GetRootAsModel(tflite_bytes, 0)
    if model.SubgraphsLength() != 1:
        raise SystemExit("expected one subgraph")
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        codes.append(names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())])

    def tensor_name(index: int) -> str:
        return f"t{index}"

    def shape(index: int) -> list[int]:
        tensor = graph.Tensors(index)
        return [int(v) for v in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []

    def constant(index: int) -> np.ndarray | None:
        tensor = graph.Tensors(index)
        buffer = model.Buffers(tensor.Buffer())
        if buffer.DataLength() == 0:
            return None
        dtype = {tflite.TensorType.FLOAT16: np.float16, tflite.TensorType.FLOAT32: np.float32}.get(tensor.Type())
        if dtype is None:
            return None
        return np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape(index))

    aliases: dict[int, int] = {}  # a DEQUANTIZE output -> its float16 constant
    constants: dict[int, np.ndarray] = {}
    ops: list[dict] = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        kind = codes[op.OpcodeIndex()]
        inputs = [int(v) for v in op.InputsAsNumpy()]
        outputs = [int(v) for v in op.OutputsAsNumpy()]
        if kind == "DEQUANTIZE":
            value = constant(inputs[0])
            if value is None:
                raise SystemExit(f"operator {i}: DEQUANTIZE of a non-constant")
            aliases[outputs[0]] = inputs[0]
            constants[inputs[0]] = value
            continue
        inputs = [aliases.get(v, v) for v in inputs]
        entry: dict = {"op": kind.lower(), "in": [], "out": tensor_name(outputs[0]), "shape": shape(outputs[0])}
        entry |= _options(tflite, kind, op, i)
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            inputs = inputs[:3]
        elif kind == "RESHAPE":
            inputs = inputs[:1]  # the new shape is the output's
        for index in inputs:
            if index not in constants and (value := constant(index)) is not None:
                constants[index] = value
            entry["in"].append(tensor_name(index))
        ops.append(entry)

    graph_inputs = [int(v) for v in graph.InputsAsNumpy()]
    graph_outputs = [int(v) for v in graph.OutputsAsNumpy()]
    header = {
        "format": 1,
        "source": {
            "package": f"{PACKAGE}@{VERSION}",
            "file": TFLITE_NAME,
            "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
            "licence": "Apache-2.0",
        },
        "input": {"name": tensor_name(graph_inputs[0]), "shape": shape(graph_inputs[0])},
        "outputs": {
            "boxes": tensor_name(graph_outputs[0]),
            "scores": tensor_name(graph_outputs[1]),
        },
        "labels": [line.strip() for line in labels_text.splitlines() if line.strip()],
        "ops": ops,
    }
    return _pack(header, {tensor_name(index): value for index, value in constants.items()})


def _pack(header: dict, constants: dict[str, np.ndarray]) -> bytes:
    """The file: magic, header length, JSON header with the constants' offsets, padding, float16 constants."""
    tensors: dict[str, dict] = {}
    blob = io.BytesIO()
    for name in sorted(constants, key=lambda n: int(n[1:])):
        tensors[name] = {"offset": blob.tell(), "shape": list(constants[name].shape)}
        blob.write(np.ascontiguousarray(constants[name], dtype="<f2").tobytes())
    text = json.dumps(header | {"tensors": tensors}, sort_keys=True, separators=(",", ":")).encode()
    start = len(MAGIC) + 4 + len(text)
    padding = -start % 64
    return MAGIC + struct.pack("<I", len(text) + padding) + text + b" " * padding + blob.getvalue()


def main(argv: list[str]) -> int:
    """Convert the tarball in argv[1] into the file argv[2]."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    assets = packed_assets(Path(argv[1]))
    out = convert(assets[TFLITE_NAME], assets[LABELS_NAME].decode())
    Path(argv[2]).parent.mkdir(parents=True, exist_ok=True)
    Path(argv[2]).write_bytes(out)
    print(f"{argv[2]}: {len(out)} bytes, sha256 {hashlib.sha256(out).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
