"""Float ONNX models with foldable structure, for benches/onnxsim_compare.py.

Each builder returns an `onnx.ModelProto` (opset 13, static shapes, deterministic weights
from numpy's seeded Generator) with the patterns that exporters and converters emit and
that graph simplifiers are expected to clean up: BatchNormalization after Conv and Gemm,
explicit zero Pad nodes before convolutions, per-channel Mul/Add normalizations,
NCHW->NHWC->NCHW Transpose pairs around elementwise ops, Reshape chains, consecutive
constant scalings and shifts, Concat/Split pairs and Relu/Clip activations.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


class Builder:
    """A small graph builder: named nodes, float initializers from one seeded generator."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.fresh(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weights(self, shape: tuple[int, ...], fan_in: int) -> str:
        w = self.rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)
        return self.const(w, "w")

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def ops(self, op_type: str, inputs: list[str], n_out: int, **attrs) -> list[str]:
        base = self.fresh(op_type.lower())
        outs = [f"{base}_o{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=base, **attrs))
        return outs

    def conv(self, x: str, cin: int, cout: int, k: int, pad: int = 0, group: int = 1,
             stride: int = 1, bias: bool = True) -> str:
        w = self.weights((cout, cin // group, k, k), cin // group * k * k)
        ins = [x, w]
        if bias:
            ins.append(self.const(self.rng.normal(0, 0.1, cout).astype(np.float32), "b"))
        return self.op("Conv", ins, kernel_shape=[k, k], pads=[pad] * 4,
                       strides=[stride, stride], group=group)

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        scale = self.const(r.uniform(0.5, 1.5, c).astype(np.float32), "bn_scale")
        shift = self.const(r.normal(0, 0.1, c).astype(np.float32), "bn_bias")
        mean = self.const(r.normal(0, 0.1, c).astype(np.float32), "bn_mean")
        var = self.const(r.uniform(0.5, 1.5, c).astype(np.float32), "bn_var")
        return self.op("BatchNormalization", [x, scale, shift, mean, var], epsilon=1e-5)

    def pad(self, x: str, p: int) -> str:
        pads = np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64)
        return self.op("Pad", [x, self.const(pads, "pads")], mode="constant")

    def channel_affine(self, x: str, c: int, rank: int = 4) -> str:
        """x * scale + shift with per-channel constants (channel axis 1)."""
        shape = (1, c) + (1,) * (rank - 2)
        s = self.const(self.rng.uniform(0.5, 1.5, shape).astype(np.float32), "scale")
        t = self.const(self.rng.normal(0, 0.1, shape).astype(np.float32), "shift")
        return self.op("Add", [self.op("Mul", [x, s]), t])

    def scalar(self, v: float) -> str:
        return self.const(np.array(v, dtype=np.float32), "k")

    def clip6(self, x: str) -> str:
        return self.op("Clip", [x, self.scalar(0.0), self.scalar(6.0)])

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", [x, self.const(np.array(shape, dtype=np.int64), "shape")])

    def gemm(self, x: str, cin: int, cout: int) -> str:
        w = self.weights((cout, cin), cin)
        b = self.const(self.rng.normal(0, 0.1, cout).astype(np.float32), "b")
        return self.op("Gemm", [x, w, b], transB=1)

    def finish(self, inputs: list[tuple[str, list[int]]], output: str,
               out_shape: list[int]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            self.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, out_shape)],
            initializer=self.inits,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="onnxsim_compare"
        )
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


def cnn_bn() -> onnx.ModelProto:
    """Conv->BN->Relu blocks behind explicit zero Pads, a residual Add, a per-channel
    Mul/Add normalization after a conv, global pooling and a Gemm head."""
    b = Builder("cnn_bn", 1)
    x = "input"
    # input normalization (x - mean) / std as converters emit it: Sub then Div by constants
    mean = b.const(np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1), "mean")
    std = b.const(np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1), "std")
    h = b.op("Div", [b.op("Sub", [x, mean]), std])
    h = b.op("Relu", [b.bn(b.conv(b.pad(h, 1), 3, 16, 3, stride=2), 16)])
    r = h
    h = b.op("Relu", [b.bn(b.conv(b.pad(h, 1), 16, 16, 3), 16)])
    h = b.bn(b.conv(b.pad(h, 1), 16, 16, 3, bias=False), 16)
    h = b.op("Relu", [b.op("Add", [h, r])])
    h = b.op("Relu", [b.channel_affine(b.conv(h, 16, 32, 1), 32)])
    h = b.op("Relu", [b.bn(b.conv(b.pad(h, 1), 32, 32, 3, stride=2), 32)])
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    return b.finish([("input", [1, 3, 32, 32])], b.gemm(h, 32, 10), [1, 10])


def mobile_block() -> onnx.ModelProto:
    """MobileNet-v2-style inverted residuals: 1x1 expand->BN->Clip(0,6), Pad + depthwise
    3x3->BN->Clip(0,6), 1x1 project->BN, residual Add."""
    b = Builder("mobile_block", 2)
    x = "input"
    h = b.clip6(b.bn(b.conv(b.pad(x, 1), 3, 16, 3, stride=2, bias=False), 16))
    for cin in (16, 16):
        r = h
        e = b.clip6(b.bn(b.conv(h, cin, 48, 1, bias=False), 48))
        d = b.clip6(b.bn(b.conv(b.pad(e, 1), 48, 48, 3, group=48, bias=False), 48))
        p = b.bn(b.conv(d, 48, cin, 1, bias=False), cin)
        h = b.op("Add", [p, r])
    h = b.clip6(b.bn(b.conv(h, 16, 64, 1, bias=False), 64))
    h = b.reshape(b.op("GlobalAveragePool", [h]), [1, 64])
    return b.finish([("input", [1, 3, 48, 48])], b.gemm(h, 64, 8), [1, 8])


def transpose_sandwich() -> onnx.ModelProto:
    """What TF->ONNX converters emit: NCHW->NHWC Transposes around channel-last
    elementwise ops (a per-channel Mul and Add, a Relu) and back, a Transpose pair with
    nothing between, and a Reshape chain."""
    b = Builder("transpose_sandwich", 3)
    x = "input"
    h = b.conv(x, 8, 16, 3, pad=1)
    t = b.op("Transpose", [h], perm=[0, 2, 3, 1])
    s = b.const(b.rng.uniform(0.5, 1.5, 16).astype(np.float32), "scale")
    o = b.const(b.rng.normal(0, 0.1, 16).astype(np.float32), "shift")
    t = b.op("Relu", [b.op("Add", [b.op("Mul", [t, s]), o])])
    h = b.op("Transpose", [t], perm=[0, 3, 1, 2])
    h = b.conv(h, 16, 16, 3, pad=1)
    t = b.op("Transpose", [h], perm=[0, 2, 3, 1])
    h = b.op("Transpose", [t], perm=[0, 3, 1, 2])
    t = b.op("Transpose", [b.op("Relu", [h])], perm=[0, 2, 3, 1])
    t = b.op("Mul", [t, b.scalar(0.5)])
    h = b.op("Transpose", [t], perm=[0, 3, 1, 2])
    h = b.conv(h, 16, 8, 1)
    h = b.reshape(b.reshape(b.reshape(h, [1, 8, 256]), [1, 2048]), [1, 8, 16, 16])
    return b.finish([("input", [1, 8, 16, 16])], h, [1, 8, 16, 16])


def mlp_bn() -> onnx.ModelProto:
    """An MLP: Gemm->BN->Relu, MatMul+Add (bias)->BN->Relu, consecutive constant
    scalings and shifts (x*0.5*4+1-1), a Reshape chain and a Gemm head."""
    b = Builder("mlp_bn", 4)
    x = "input"
    h = b.op("Relu", [b.bn(b.gemm(x, 64, 128), 128)])
    w = b.weights((128, 96), 128)
    bias = b.const(b.rng.normal(0, 0.1, 96).astype(np.float32), "b")
    h = b.op("Relu", [b.bn(b.op("Add", [b.op("MatMul", [h, w]), bias]), 96)])
    h = b.op("Mul", [b.op("Mul", [h, b.scalar(0.5)]), b.scalar(4.0)])
    h = b.op("Sub", [b.op("Add", [h, b.scalar(1.0)]), b.scalar(1.0)])
    h = b.reshape(b.reshape(h, [1, 8, 12]), [1, 96])
    h = b.op("Clip", [b.channel_affine(b.gemm(h, 96, 64), 64, rank=2), b.scalar(0.0),
                      b.scalar(6.0)])
    return b.finish([("input", [1, 64])], b.gemm(h, 64, 10), [1, 10])


def concat_split() -> onnx.ModelProto:
    """Split->Concat that rebuilds its input, Concat->Split that takes it apart again,
    and a Concat of Concats, between convolutions."""
    b = Builder("concat_split", 5)
    x = "input"
    h = b.op("Relu", [b.conv(x, 8, 16, 3, pad=1)])
    s = b.ops("Split", [h, b.const(np.array([8, 8], np.int64), "split")], 2, axis=1)
    h = b.op("Concat", s, axis=1)
    a = b.op("Relu", [b.conv(h, 16, 8, 1)])
    c = b.op("Relu", [b.conv(h, 16, 8, 1)])
    j = b.op("Concat", [a, c], axis=1)
    a2, c2 = b.ops("Split", [j, b.const(np.array([8, 8], np.int64), "split")], 2, axis=1)
    d = b.op("Relu", [b.conv(a2, 8, 8, 3, pad=1)])
    e = b.op("Relu", [b.conv(c2, 8, 8, 3, pad=1)])
    h = b.op("Concat", [b.op("Concat", [d, e], axis=1), a2], axis=1)
    return b.finish([("input", [1, 8, 16, 16])], b.conv(h, 24, 8, 1), [1, 8, 16, 16])


def torch_export() -> onnx.ModelProto:
    """What torch.onnx.export emits for `x.view(x.size(0), -1)` and friends: a Conv without
    bias followed by a bias Add, Identity and Dropout, a Shape->Gather->Unsqueeze->Concat
    subgraph computing a Reshape's target shape, an Unsqueeze/Squeeze pair, a MatMul by a
    transposed constant plus a bias Add, and no-op arithmetic (x*1, x+0)."""
    b = Builder("torch_export", 7)
    x = "input"
    h = b.conv(x, 3, 8, 3, pad=1, bias=False)
    bias = b.const(b.rng.normal(0, 0.1, (1, 8, 1, 1)).astype(np.float32), "b")
    h = b.op("Relu", [b.op("Add", [h, bias])])
    h = b.op("Dropout", [b.op("Identity", [h])])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    batch = b.op("Gather", [b.op("Shape", [h]), b.const(np.array(0, np.int64), "idx")], axis=0)
    batch = b.op("Unsqueeze", [batch, b.const(np.array([0], np.int64), "axes")])
    shape = b.op("Concat", [batch, b.const(np.array([-1], np.int64), "minus1")], axis=0)
    h = b.op("Reshape", [h, shape])
    h = b.op("Squeeze", [b.op("Unsqueeze", [h, b.const(np.array([1], np.int64), "axes")]),
                         b.const(np.array([1], np.int64), "axes")])
    w = b.op("Transpose", [b.weights((32, 8 * 8 * 8), 8 * 8 * 8)], perm=[1, 0])
    bias = b.const(b.rng.normal(0, 0.1, 32).astype(np.float32), "b")
    h = b.op("Relu", [b.op("Add", [b.op("MatMul", [h, w]), bias])])
    h = b.op("Add", [b.op("Mul", [h, b.scalar(1.0)]), b.scalar(0.0)])
    return b.finish([("input", [1, 3, 16, 16])], b.gemm(h, 32, 10), [1, 10])


def nops_cse() -> onnx.ModelProto:
    """No-op nodes and repeated subexpressions: an identity Transpose, an all-zero Pad, a
    one-input Concat, a Reshape to the same shape, a whole-tensor Slice, Div by 1, two
    Transposes that compose into one, and the same Conv and Relu computed twice and
    added."""
    b = Builder("nops_cse", 8)
    x = "input"
    h = b.op("Transpose", [x], perm=[0, 1, 2, 3])
    h = b.pad(h, 0)
    h = b.op("Concat", [h], axis=1)
    h = b.reshape(h, [1, 8, 16, 16])
    i64 = lambda v: b.const(np.array(v, np.int64), "s")  # noqa: E731
    h = b.op("Slice", [h, i64([0, 0]), i64([16, 16]), i64([2, 3])])
    h = b.op("Div", [h, b.scalar(1.0)])
    w = b.weights((8, 8, 3, 3), 72)
    bias = b.const(b.rng.normal(0, 0.1, 8).astype(np.float32), "b")
    conv = lambda v: b.op("Relu", [b.op("Conv", [v, w, bias], kernel_shape=[3, 3],  # noqa: E731
                                        pads=[1, 1, 1, 1])])
    h = b.op("Add", [conv(h), conv(h)])
    t = b.op("Transpose", [h], perm=[0, 2, 3, 1])
    t = b.op("Transpose", [t], perm=[0, 3, 2, 1])  # composes to [0, 1, 3, 2]
    return b.finish([("input", [1, 8, 16, 16])], b.conv(t, 8, 8, 1), [1, 8, 16, 16])


def plain_cnn() -> onnx.ModelProto:
    """A control with nothing to fold (Conv with bias, Relu, MaxPool, Gemm): both tools
    should tie here."""
    b = Builder("plain_cnn", 6)
    x = "input"
    h = b.op("Relu", [b.conv(x, 1, 8, 3, pad=1)])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("Relu", [b.conv(h, 8, 16, 3, pad=1)])
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("Flatten", [h], axis=1)
    return b.finish([("input", [1, 1, 28, 28])], b.gemm(h, 16 * 7 * 7, 10), [1, 10])


GENERATED: dict[str, Callable[[], onnx.ModelProto]] = {
    "cnn_bn": cnn_bn,
    "mobile_block": mobile_block,
    "transpose_sandwich": transpose_sandwich,
    "mlp_bn": mlp_bn,
    "concat_split": concat_split,
    "torch_export": torch_export,
    "nops_cse": nops_cse,
    "plain_cnn": plain_cnn,
}
