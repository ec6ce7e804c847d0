"""A convolutional network run with numpy alone.

HA OS and HA Container are Alpine (musl): PyPI has no wheels of onnxruntime,
TFLite or OpenCV for them, but numpy's run everywhere HA does. This module
runs the operators an SSD-MobileNetV2 needs (``conv_2d``,
``depthwise_conv_2d``, ``add``, ``reshape``, ``concatenation``; fused ReLU6)
on float32 arrays in height × width × channels order, batch of one.

The model file is written by ``scripts/convert_object_model.py``: a JSON
header (the operators in order, the constants' offsets) and the constants as
float16. ``Network.load`` widens them to float32 once, laid out for the
matrix products: a 1×1 convolution is one ``(pixels, in) @ (in, out)``
product, a k×k one a product over gathered patches; a depthwise 3×3 is nine
multiply-adds of shifted views. Everything runs in the caller's thread;
numpy releases the GIL inside the products.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"NVRNET1\n"


class ModelError(Exception):
    """The model file is missing, damaged or of an unknown kind."""


@dataclass(slots=True)
class _Op:
    kind: str
    inputs: list[str]
    out: str
    shape: tuple[int, ...]
    stride: int = 1
    padding: str = "same"
    relu6: bool = False
    axis: int = 0
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    kernel: int = 1


def _read(path: Path) -> tuple[dict[str, Any], memoryview]:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ModelError(f"cannot read {path.name}: {err.strerror}") from err
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4:
        raise ModelError(f"{path.name} is not a model file")
    (length,) = struct.unpack_from("<I", raw, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(raw[start : start + length])
    except ValueError as err:
        raise ModelError(f"{path.name} has a damaged header") from err
    if header.get("format") != 1:
        raise ModelError(f"{path.name} is of an unknown format")
    return header, memoryview(raw)[start + length :]


def _constant(header: dict[str, Any], blob: memoryview, name: str) -> np.ndarray:
    entry = header["tensors"][name]
    count = int(np.prod(entry["shape"])) if entry["shape"] else 1
    end = entry["offset"] + 2 * count
    if end > len(blob):
        raise ModelError("the model file is truncated")
    return np.frombuffer(blob[entry["offset"] : end], dtype="<f2").reshape(entry["shape"]).astype(np.float32)


class Network:
    """A loaded model: ``run(picture)`` gives its named outputs."""

    def __init__(self, header: dict[str, Any], ops: list[_Op]) -> None:
        self.header = header
        self.labels: list[str] = list(header["labels"])
        self.input_shape: tuple[int, ...] = tuple(header["input"]["shape"][1:])
        self._input = header["input"]["name"]
        self._outputs: dict[str, str] = dict(header["outputs"])
        self._ops = ops
        last_use: dict[str, int] = {}
        for index, op in enumerate(ops):
            for name in op.inputs:
                last_use[name] = index
        # The tensors no later operator reads, freed as the run goes on.
        keep = set(self._outputs.values())
        self._free_after = [
            [name for name in op.inputs if last_use.get(name) == index and name not in keep]
            for index, op in enumerate(ops)
        ]

    @classmethod
    def load(cls, path: Path) -> Network:
        """Read a model file (blocking: call it off the event loop)."""
        header, blob = _read(path)
        constants = set(header["tensors"])
        ops = []
        try:
            for entry in header["ops"]:
                op = _Op(
                    entry["op"], [n for n in entry["in"] if n not in constants], entry["out"], tuple(entry["shape"][1:])
                )
                weights = [n for n in entry["in"] if n in constants]
                if op.kind in ("conv_2d", "depthwise_conv_2d"):
                    op.stride = int(entry["stride"][0])
                    op.padding = entry["padding"]
                    op.relu6 = entry["act"] == "relu6"
                    weight = _constant(header, blob, weights[0])
                    op.bias = _constant(header, blob, weights[1])
                    op.kernel = weight.shape[1]
                    if op.kind == "conv_2d":
                        # (out, kh, kw, in) -> (kh * kw * in, out), the patches' order
                        op.weight = np.ascontiguousarray(weight.reshape(weight.shape[0], -1).T)
                    else:
                        op.weight = np.ascontiguousarray(weight[0])  # (kh, kw, channels)
                elif op.kind in ("add", "concatenation"):
                    op.relu6 = entry.get("act") == "relu6"
                    op.axis = int(entry.get("axis", 0))
                elif op.kind != "reshape":
                    raise ModelError(f"unsupported operator {op.kind}")
                ops.append(op)
        except (KeyError, IndexError, ValueError) as err:
            raise ModelError(f"{path.name} has a damaged operator list") from err
        return cls(header, ops)

    def run(self, picture: np.ndarray) -> dict[str, np.ndarray]:
        """The outputs for one input (height × width × channels, float32)."""
        if picture.shape != self.input_shape:
            raise ValueError(f"input must be {self.input_shape}, not {picture.shape}")
        values: dict[str, np.ndarray] = {self._input: np.ascontiguousarray(picture, dtype=np.float32)}
        for op, free in zip(self._ops, self._free_after, strict=True):
            args = [values[name] for name in op.inputs]
            values[op.out] = _RUN[op.kind](op, *args)
            for name in free:
                del values[name]
        return {key: values[name] for key, name in self._outputs.items()}


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """TensorFlow's SAME padding: (output size, pad before, pad after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _padded(x: np.ndarray, kernel: int, stride: int, padding: str) -> tuple[np.ndarray, int, int]:
    height, width, _ = x.shape
    if padding == "valid":
        return x, (height - kernel) // stride + 1, (width - kernel) // stride + 1
    out_h, top, bottom = _same_padding(height, kernel, stride)
    out_w, left, right = _same_padding(width, kernel, stride)
    if top or bottom or left or right:
        x = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    return x, out_h, out_w


def _finish(out: np.ndarray, op: _Op) -> np.ndarray:
    if op.relu6:
        np.clip(out, 0.0, 6.0, out=out)
    return out


def _conv(op: _Op, x: np.ndarray) -> np.ndarray:
    k, s = op.kernel, op.stride
    if k == 1 and s == 1:
        height, width, channels = x.shape
        out = x.reshape(-1, channels) @ op.weight
    else:
        x, out_h, out_w = _padded(x, k, s, op.padding)
        patches = np.empty((out_h, out_w, k, k, x.shape[2]), dtype=np.float32)
        for dy in range(k):
            for dx in range(k):
                patches[:, :, dy, dx] = x[dy : dy + (out_h - 1) * s + 1 : s, dx : dx + (out_w - 1) * s + 1 : s]
        height, width = out_h, out_w
        out = patches.reshape(out_h * out_w, -1) @ op.weight
    out += op.bias
    return _finish(out, op).reshape(height, width, -1)


def _depthwise(op: _Op, x: np.ndarray) -> np.ndarray:
    k, s = op.kernel, op.stride
    x, out_h, out_w = _padded(x, k, s, op.padding)
    out = np.empty((out_h, out_w, x.shape[2]), dtype=np.float32)
    out[...] = op.bias
    tap = np.empty_like(out)
    for dy in range(k):
        for dx in range(k):
            view = x[dy : dy + (out_h - 1) * s + 1 : s, dx : dx + (out_w - 1) * s + 1 : s]
            np.multiply(view, op.weight[dy, dx], out=tap)
            out += tap
    return _finish(out, op)


def _add(op: _Op, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _finish(a + b, op)


def _reshape(op: _Op, x: np.ndarray) -> np.ndarray:
    return x.reshape(op.shape)


def _concatenate(op: _Op, *parts: np.ndarray) -> np.ndarray:
    # The model's axes count the batch of one, which these arrays do not have.
    return _finish(np.concatenate(parts, axis=op.axis - 1), op)


_RUN = {
    "conv_2d": _conv,
    "depthwise_conv_2d": _depthwise,
    "add": _add,
    "reshape": _reshape,
    "concatenation": _concatenate,
}
