#!/usr/bin/env python3
"""Benchmark: does extraction by the learned CPU cost give graphs LiteRT runs no slower?

For each model it writes two optimized float TFLite files, `nnopt opt MODEL --cost
default -o A.tflite` and `nnopt opt MODEL --cost learned:cpu -o B.tflite`, then times
both in LiteRT on one thread (XNNPACK, the kernels the learned CPU latency was trained
on), alternating A and B (and which goes first) for several rounds so that drift in the
machine's load hits both alike; each timing is the mean of back-to-back invocations
(enough for 20 ms), the figure the median over rounds. The anchor is A (the default cost's graph), measured in the same run; the
table gives B / A. Identical files are timed too (their ratio shows the noise).

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/cost_extraction.py [--rounds 10] [--runs 30] [--json]
      [--nnopt PATH] [MODEL ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from bench_common import BenchError, build_nnopt

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "models"
ONNX = REPO / "testdata" / "onnx"
LIGHT = REPO / "testdata" / "onnx-light"
DEFAULT_MODELS = [
    SHARED / "generated" / "digits_cnn_float.tflite",
    SHARED / "face_detection_short_range.tflite",
    SHARED / "hand_landmark_lite.tflite",
    SHARED / "iris_landmark.tflite",
    ONNX / "models" / "mlp_gemm.onnx",
    ONNX / "models" / "cnn_bn_pool_softmax.onnx",
    ONNX / "models" / "residual_block.onnx",
    LIGHT / "test_squeezenet" / "model.onnx",
    LIGHT / "test_shufflenet" / "model.onnx",
    LIGHT / "test_inception_v2" / "model.onnx",
]


def model_name(path: Path) -> str:
    return path.parent.name if path.stem == "model" else path.stem


def optimize(nnopt: str, model: Path, cost: str, out: Path) -> dict:
    """`nnopt opt MODEL --cost COST -o OUT` and its JSON summary."""
    cmd = [nnopt, "opt", str(model), "--cost", cost, "-o", str(out), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def interpreter(path: Path) -> Interpreter:
    it = Interpreter(
        model_path=str(path),
        num_threads=1,
        experimental_op_resolver_type=OpResolverType.AUTO,
    )
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            i = np.iinfo(d["dtype"])
            x = rng.integers(i.min, i.max + 1, size=d["shape"], dtype=d["dtype"])
        else:
            x = rng.uniform(0, 1, size=d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    it.invoke()
    return it


def invocations(it: Interpreter, runs: int) -> int:
    """At least `runs` invocations, and enough to take 20 ms (tiny models take microseconds,
    too close to the timer's own cost to time one by one)."""
    t = time.perf_counter()
    for _ in range(3):
        it.invoke()
    single = (time.perf_counter() - t) / 3
    return max(runs, int(0.02 / max(single, 1e-9)) + 1)


def mean_ms(it: Interpreter, n: int) -> float:
    """Mean time of one invocation over `n` back to back."""
    t = time.perf_counter()
    for _ in range(n):
        it.invoke()
    return (time.perf_counter() - t) / n * 1e3


def ops(summary: dict) -> int:
    """IR nodes after optimization."""
    return summary["after"]["nodes"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", type=Path)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--runs", type=int, default=30, help="least invocations per timing")
    ap.add_argument("--nnopt", help="the nnopt binary (default: build release)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    nnopt = args.nnopt or build_nnopt()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models or DEFAULT_MODELS:
            name = model_name(model)
            a, b = Path(tmp) / f"{name}_default.tflite", Path(tmp) / f"{name}_learned.tflite"
            try:
                sa = optimize(nnopt, model, "default", a)
                sb = optimize(nnopt, model, "learned:cpu", b)
                ia, ib = interpreter(a), interpreter(b)
            except (BenchError, RuntimeError, ValueError) as e:
                rows.append({"model": name, "error": str(e).splitlines()[0][:120]})
                continue
            n = invocations(ia, args.runs)
            ta, tb = [], []
            for k in range(args.rounds):
                # Alternate which goes first: the second of a pair runs a little slower.
                if k % 2 == 0:
                    ta.append(mean_ms(ia, n))
                    tb.append(mean_ms(ib, n))
                else:
                    tb.append(mean_ms(ib, n))
                    ta.append(mean_ms(ia, n))
            da, db = statistics.median(ta), statistics.median(tb)
            rows.append(
                {
                    "model": name,
                    "same_graph": a.read_bytes() == b.read_bytes(),
                    "ops_default": ops(sa),
                    "ops_learned": ops(sb),
                    "default_ms": da,
                    "learned_ms": db,
                    "ratio": db / da,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"{'model':<26} {'same':>5} {'IR A':>6} {'IR B':>6} "
        f"{'A default ms':>13} {'B learned ms':>13} {'B / A':>7}"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<26} not timed: {r['error']}")
            continue
        print(
            f"{r['model']:<26} {('yes' if r['same_graph'] else 'no'):>5} "
            f"{r['ops_default']:>6} {r['ops_learned']:>6} {r['default_ms']:>13.3f} "
            f"{r['learned_ms']:>13.3f} {r['ratio']:>7.3f}"
        )
    timed = [r["ratio"] for r in rows if "ratio" in r]
    if timed:
        geo = float(np.exp(np.mean(np.log(timed))))
        print(f"\ngeometric mean B / A over {len(timed)} models: {geo:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
