"""DS-CNN-like float networks for Fashion-MNIST (28x28 grey images, 10 classes), with
fresh He-initialized weights and zero biases, global average pooling and a fully
connected classifier at the end.

- `--arch dscnn` (the default): a 3x3 stride-2 convolution, three depthwise-separable
  blocks (3x3 depthwise, 1x1 pointwise, ReLU after each); 30,794 parameters, 1.8 M MACs.
- `--arch mobilenet`: MobileNet-style, its first stage at full resolution (a 3x3
  convolution to 16 channels, a separable block to 32), then separable blocks with
  stride 2 to 64 and 96 channels; 11,146 parameters, 1.4 M MACs, 77 % of them in the
  first five layers (the shape FixyNN's fixed front-ends suit: early layers carry the
  compute).

`nnopt compress --data-dir /usr/share/datasets/fashion-mnist --warmup-epochs N` trains
it (see the README's "Compression" section). Deterministic for a seed:

    .venv/bin/python tools/fashion_dscnn.py OUT.onnx [--seed 18] [--arch dscnn|mobilenet]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def make_fashion_dscnn(path: Path, seed: int = 18, arch: str = "dscnn") -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    count = [0]

    def const(a) -> str:
        count[0] += 1
        name = f"c{count[0]}"
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def he(shape) -> str:
        fan_in = int(np.prod(shape[1:]))
        return const(rng.standard_normal(shape) * np.sqrt(2.0 / fan_in))

    def op(kind, inputs, **attrs) -> str:
        count[0] += 1
        out = f"{kind.lower()}{count[0]}"
        nodes.append(helper.make_node(kind, inputs, [out], name=f"{kind.lower()}_{count[0]}", **attrs))
        return out

    def conv_relu(x, cin, cout, k, stride, group=1) -> str:
        y = op(
            "Conv",
            [x, he([cout, cin // group, k, k]), const(np.zeros(cout))],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[k // 2] * 4,
            group=group,
        )
        return op("Relu", [y])

    if arch == "dscnn":
        first, blocks = (32, 2), [(32, 64, 1), (64, 128, 2), (128, 128, 1)]
    elif arch == "mobilenet":
        first, blocks = (16, 1), [(16, 32, 1), (32, 64, 2), (64, 96, 2)]
    else:
        raise ValueError(f"unknown architecture {arch}")
    h = conv_relu("input", 1, first[0], 3, first[1])
    for cin, cout, stride in blocks:
        h = conv_relu(h, cin, cin, 3, stride, group=cin)
        h = conv_relu(h, cin, cout, 1, 1)
    h = op("GlobalAveragePool", [h])
    h = op("Flatten", [h], axis=1)
    width = blocks[-1][1]
    y = op("Gemm", [h, he([10, width]), const(np.zeros(10))], transB=1)
    graph = helper.make_graph(
        nodes,
        "fashion_dscnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="nnopt")
    model.ir_version = 7
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--arch", choices=["dscnn", "mobilenet"], default="dscnn")
    a = ap.parse_args()
    make_fashion_dscnn(a.out, a.seed, a.arch)
