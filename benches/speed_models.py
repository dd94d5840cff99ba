#!/usr/bin/env python3
"""Benchmark models for benches/speed.py: float MobileNetV2 and ResNet-50 (ONNX), and the
MobileNetV2's int8 TFLite.

Writes into a cache directory (default `target/bench-models/`, `--out`):

- `mobilenet_v2_224.onnx`: float MobileNetV2, width 1.0, input `input` 1x3x224x224 NCHW,
  output 1x1000 logits, opset 13. The real architecture: a 3x3/2 stem conv to 32 channels,
  17 inverted-residual blocks (expansion 1 for the first, 6 for the others; output
  channels 16, 24x2, 32x3, 64x4, 96x3, 160x3, 320; stride 2 at the first block of the 24,
  32, 64 and 160 stages), 1x1 expand -> 3x3 depthwise -> 1x1 linear projection, ReLU6 as
  Clip(0, 6), a residual Add wherever stride is 1 and channels match, a 1x1 conv to 1280,
  GlobalAveragePool, Flatten and a Gemm to 1000 classes. Convs carry a bias (batch norm
  already folded). Weights are seeded He-normal (the linear projections a little smaller,
  so residual sums stay in range): activations neither blow up nor vanish, which the
  script checks with onnxruntime (finite, non-constant logits).
- `resnet50.onnx`: float ResNet-50 (v1.5: the stride of a downsampling bottleneck sits in
  its 3x3 conv), input `input` 1x3x224x224 NCHW, output 1x1000 logits, opset 13: a 7x7/2
  stem conv to 64 channels with ReLU, a 3x3/2 MaxPool, four stages of 3, 4, 6 and 3
  bottlenecks (1x1 -> 3x3 -> 1x1, widths 64, 128, 256, 512, outputs four times that; a
  1x1 projection shortcut, strided like the block, where shape changes), ReLU after each
  residual Add, GlobalAveragePool, Flatten and a Gemm to 1000 classes; 25.6 M parameters,
  4.1 G multiply-adds. Batch norm is folded (convs carry a bias). The onnx wheel's ResNet-50
  test model is downloaded on demand, which this offline machine cannot do, so the
  architecture is rebuilt here with seeded He-normal weights (each block's last conv
  scaled down, so residual sums stay in range), checked like the MobileNetV2.
- `mobilenet_v2_224_cal.npy`: calibration data, 8 seeded uniform samples in [-1, 1]
  stacked along the batch axis (8x3x224x224 float32).
- `mobilenet_v2_224_int8.tflite`: made by nnopt itself from the float model:
  `nnopt quantize mobilenet_v2_224.onnx --format int8 --per-channel --calibration CAL.npy
  -o mobilenet_v2_224_int8.nnir`, then `nnopt export mobilenet_v2_224_int8.nnir -o
  mobilenet_v2_224_int8.tflite`. The script checks that LiteRT loads and runs it.

Everything is deterministic (fixed numpy seeds). Existing files are kept; `--force`
regenerates them. The graph builder is `Builder` from benches/onnxsim_models.py.

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/speed_models.py [--out DIR] [--nnopt PATH] [--force]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench_common import REPO, BenchError, build_nnopt

DEFAULT_OUT = REPO / "target" / "bench-models"
FLOAT_ONNX = "mobilenet_v2_224.onnx"
RESNET50_ONNX = "resnet50.onnx"
CALIBRATION = "mobilenet_v2_224_cal.npy"
INT8_NNIR = "mobilenet_v2_224_int8.nnir"
INT8_TFLITE = "mobilenet_v2_224_int8.tflite"
INPUT_SHAPE = (1, 3, 224, 224)
CALIBRATION_SAMPLES = 8
SEED_WEIGHTS = 224
SEED_CALIBRATION = 225
SEED_CHECK = 226
SEED_RESNET50 = 50

# MobileNetV2 (Sandler et al. 2018, table 2): expansion t, output channels c, repeats n,
# stride s of the first block of the stage.
MOBILENET_V2_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


def mobilenet_v2_224():
    """The float MobileNetV2 (width 1.0, 224x224, 1000 classes) as an onnx.ModelProto."""
    from onnxsim_models import Builder  # onnx is imported there

    b = Builder("mobilenet_v2_224", SEED_WEIGHTS)

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1,
             gain: float = 2.0) -> str:
        """Conv with bias, weights N(0, gain / fan_in) (He-normal for gain 2), 'same' pads."""
        fan_in = cin // group * k * k
        w = b.rng.normal(0.0, np.sqrt(gain / fan_in), (cout, cin // group, k, k))
        bias = b.rng.normal(0.0, 0.05, cout)
        return b.op("Conv", [x, b.const(w.astype(np.float32), "w"),
                             b.const(bias.astype(np.float32), "b")],
                    kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride, stride],
                    group=group)

    h = b.clip6(conv("input", 3, 32, 3, stride=2))
    cin = 32
    for t, c, n, s in MOBILENET_V2_STAGES:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            x = h
            if t != 1:
                x = b.clip6(conv(x, cin, hidden, 1))
            x = b.clip6(conv(x, hidden, hidden, 3, stride=stride, group=hidden))
            x = conv(x, hidden, c, 1, gain=1.0)  # linear bottleneck: no activation
            h = b.op("Add", [x, h]) if stride == 1 and cin == c else x
            cin = c
    h = b.clip6(conv(h, cin, 1280, 1))
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    w = b.rng.normal(0.0, np.sqrt(1.0 / 1280), (1000, 1280)).astype(np.float32)
    bias = np.zeros(1000, np.float32)
    logits = b.op("Gemm", [h, b.const(w, "w"), b.const(bias, "b")], transB=1)
    model = b.finish([("input", list(INPUT_SHAPE))], logits, [1, 1000])
    model.producer_name = "nnopt benches/speed_models.py"
    return model


def resnet50():
    """The float ResNet-50 v1.5 (224x224, 1000 classes) as an onnx.ModelProto."""
    from onnxsim_models import Builder  # onnx is imported there

    b = Builder("resnet50", SEED_RESNET50)

    def conv(x: str, cin: int, cout: int, k: int, stride: int = 1, gain: float = 2.0) -> str:
        """Conv with bias, weights N(0, gain / fan_in), 'same' pads."""
        w = b.rng.normal(0.0, np.sqrt(gain / (cin * k * k)), (cout, cin, k, k))
        bias = b.rng.normal(0.0, 0.05, cout)
        return b.op("Conv", [x, b.const(w.astype(np.float32), "w"),
                             b.const(bias.astype(np.float32), "b")],
                    kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride, stride])

    relu = lambda x: b.op("Relu", [x])  # noqa: E731
    h = relu(conv("input", 3, 64, 7, stride=2))
    h = b.op("MaxPool", [h], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    cin = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        cout = width * 4
        for i in range(blocks):
            stride = 2 if i == 0 and stage > 0 else 1
            x = relu(conv(h, cin, width, 1))
            x = relu(conv(x, width, width, 3, stride=stride))
            x = conv(x, width, cout, 1, gain=0.2)
            short = h if (cin, stride) == (cout, 1) else conv(h, cin, cout, 1, stride, gain=1.0)
            h = relu(b.op("Add", [x, short]))
            cin = cout
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    w = b.rng.normal(0.0, np.sqrt(1.0 / cin), (1000, cin)).astype(np.float32)
    logits = b.op("Gemm", [h, b.const(w, "w"), b.const(np.zeros(1000, np.float32), "b")],
                  transB=1)
    model = b.finish([("input", list(INPUT_SHAPE))], logits, [1, 1000])
    model.producer_name = "nnopt benches/speed_models.py"
    return model


def check_float(path: Path) -> str:
    """Runs the float model in onnxruntime on a seeded input; the logits must be finite
    and not constant. Returns a one-line summary."""
    import onnxruntime as ort

    x = np.random.default_rng(SEED_CHECK).uniform(-1, 1, INPUT_SHAPE).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"input": x})
    if not np.all(np.isfinite(y)):
        raise BenchError(f"{path.name}: onnxruntime output has non-finite values")
    if float(np.std(y)) < 1e-3 * max(1.0, float(np.max(np.abs(y)))):
        raise BenchError(f"{path.name}: onnxruntime output is (nearly) constant: std {np.std(y)}")
    return (f"{path.name}: onnxruntime logits finite, mean {y.mean():.3f}, std {y.std():.3f}, "
            f"range [{y.min():.3f}, {y.max():.3f}]")


def check_tflite(path: Path) -> str:
    """Loads the TFLite model in LiteRT (builtin kernels, then the default resolver with
    XNNPACK) and runs it on a seeded input; the output must be finite and not constant.
    Runs in a child process, so that a LiteRT crash is reported rather than fatal.
    Returns a one-line summary."""
    code = f"""
import json, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
outs = []
for r in (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, OpResolverType.AUTO):
    it = Interpreter(model_path={str(path)!r}, experimental_op_resolver_type=r, num_threads=1)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    rng = np.random.default_rng({SEED_CHECK})
    if np.issubdtype(d['dtype'], np.integer):
        info = np.iinfo(d['dtype'])
        x = rng.integers(info.min, info.max, d['shape'], endpoint=True).astype(d['dtype'])
    else:
        x = rng.uniform(-1, 1, d['shape']).astype(d['dtype'])
    it.set_tensor(d['index'], x)
    it.invoke()
    outs.append(np.array(it.get_tensor(it.get_output_details()[0]['index'])).astype(np.float64))
    ops = sorted({{o['op_name'] for o in it._get_ops_details()}})
print(json.dumps({{'input': np.dtype(d['dtype']).name, 'shape': [int(v) for v in d['shape']],
                  'finite': bool(np.isfinite(outs[0]).all()), 'std': float(outs[0].std()),
                  'min': float(outs[0].min()), 'max': float(outs[0].max()),
                  'diff': float(np.abs(outs[0] - outs[1]).max())}}), flush=True)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = "\n".join(l for l in p.stderr.splitlines() if "XNNPACK" not in l)[-1500:]
        raise BenchError(f"{path.name}: LiteRT cannot load or run it (exit {p.returncode}):\n{tail}")
    r = json.loads(lines[-1])
    if not r["finite"] or r["std"] == 0.0:
        raise BenchError(f"{path.name}: LiteRT output is non-finite or constant: {r}")
    return (f"{path.name}: LiteRT runs it (builtin kernels and XNNPACK); input {r['input']} "
            f"{r['shape']}, output range [{r['min']:.3f}, {r['max']:.3f}], "
            f"max |builtin - XNNPACK| {r['diff']:.3g}")


def run(cmd: list[str], step: str) -> None:
    print("  $ " + " ".join(cmd), file=sys.stderr)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"{step} failed (exit {p.returncode}): `{' '.join(cmd)}`\n"
                         f"{(p.stderr or p.stdout)[-2000:]}")


def ensure_models(out: Path, nnopt: str | None, force: bool = False,
                  log=lambda s: print(s, file=sys.stderr)) -> dict[str, Path]:
    """Makes the models that are missing (all with `force`) and returns their paths by
    name (`mobilenet_v2_224`, `mobilenet_v2_224_int8`, `resnet50`). `nnopt` may be None when only the
    float model is needed and the int8 one exists."""
    import onnx

    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / FLOAT_ONNX
    cal_path = out / CALIBRATION
    nnir_path = out / INT8_NNIR
    tflite_path = out / INT8_TFLITE
    resnet_path = out / RESNET50_ONNX

    def write_float(path: Path, build) -> None:
        """Saves build()'s model at path (through a temporary file) and checks it."""
        log(f"== writing {path}")
        tmp = path.with_suffix(".onnx.tmp")
        onnx.save(build(), str(tmp))
        tmp.replace(path)
        log("  " + check_float(path))

    if force or not resnet_path.is_file():
        write_float(resnet_path, resnet50)
    if force or not onnx_path.is_file():
        write_float(onnx_path, mobilenet_v2_224)
        force = True  # the int8 model derives from this one
    if force or not cal_path.is_file():
        rng = np.random.default_rng(SEED_CALIBRATION)
        cal = rng.uniform(-1, 1, (CALIBRATION_SAMPLES,) + INPUT_SHAPE[1:]).astype(np.float32)
        np.save(cal_path, cal)
    if force or not tflite_path.is_file():
        if nnopt is None:
            raise BenchError(f"{tflite_path} is missing and no nnopt binary was given")
        log(f"== writing {tflite_path} with {nnopt}")
        run([nnopt, "quantize", str(onnx_path), "--format", "int8", "--per-channel",
             "--calibration", str(cal_path), "-o", str(nnir_path)],
            f"mobilenet_v2_224_int8: step `nnopt quantize` (float ONNX -> int8 IR)")
        tmp = out / "mobilenet_v2_224_int8.tmp.tflite"
        run([nnopt, "export", str(nnir_path), "-o", str(tmp)],
            f"mobilenet_v2_224_int8: step `nnopt export` (int8 IR -> TFLite)")
        log("  " + check_tflite(tmp))
        tmp.replace(tflite_path)
    return {"mobilenet_v2_224": onnx_path, "mobilenet_v2_224_int8": tflite_path,
            "resnet50": resnet_path}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"cache directory (default {DEFAULT_OUT.relative_to(REPO)})")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release binary)")
    ap.add_argument("--force", action="store_true", help="regenerate existing files")
    args = ap.parse_args()
    try:
        need_nnopt = args.force or not (args.out / INT8_TFLITE).is_file()
        nnopt = args.nnopt or (build_nnopt() if need_nnopt else None)
        if args.nnopt and not Path(args.nnopt).is_file():
            raise BenchError(f"--nnopt {args.nnopt}: no such file")
        paths = ensure_models(args.out, nnopt, args.force)
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths.values():
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
