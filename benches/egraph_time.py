#!/usr/bin/env python3
"""Benchmark: how long `egraph-optimize` takes per model, and how big its e-graph gets.

For each model it runs `nnopt opt MODEL --json -o /dev/null` (the default pipeline; with
`--target npu`, extraction by the NPU's cycles) N times and reports the median time of
the `egraph-optimize` pass, the anchor measured in the same runs (the median wall time of
the whole `nnopt opt` process: start-up, import, every pass, writing the IR) and the
pass's share of it, plus the time of the pipeline's other passes, the e-graph's size,
iterations, stop reason and ops before/after from the pass's statistics.

Usage (from the repo root; see benches/README.md):
  python3 benches/egraph_time.py [--runs 5] [--target npu] [--json] [--nnopt PATH] [MODEL ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_common import BenchError, build_nnopt

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "models"
DEFAULT_MODELS = [
    SHARED / "generated" / "digits_cnn_float.tflite",
    SHARED / "generated" / "mobilenet_v2_035_96_int8.tflite",
    SHARED / "person_detect.tflite",
    SHARED / "selfie_segmentation.tflite",
    SHARED / "face_detection_short_range.tflite",
    SHARED / "hand_landmark_lite.tflite",
    REPO / "testdata" / "onnx" / "models" / "cnn_bn_pool_softmax.onnx",
    REPO / "testdata" / "onnx-light" / "test_resnet50" / "model.onnx",
    REPO / "testdata" / "onnx-light" / "test_inception_v2" / "model.onnx",
]
PASS = "egraph-optimize"



def run_once(nnopt: str, model: Path, target: str | None) -> tuple[float, list[dict]]:
    """One `nnopt opt` run; returns its wall time (ms) and its per-pass records."""
    cmd = [nnopt, "opt", str(model), "--json", "-o", os.devnull]
    if target:
        cmd += ["--target", target]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall_ms = (time.perf_counter() - start) * 1e3
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed:\n{proc.stderr[-2000:]}")
    # --json prints the pass records as the last JSON document on stderr.
    start = proc.stderr.rfind("\n[")
    text = proc.stderr[start + 1 :] if start >= 0 else proc.stderr
    return wall_ms, json.loads(text)


def measure(nnopt: str, model: Path, runs: int, target: str | None) -> dict:
    egraph_ms, other_ms, wall_ms, stats = [], [], [], None
    for _ in range(runs):
        wall, records = run_once(nnopt, model, target)
        wall_ms.append(wall)
        eg = [r for r in records if r["pass"] == PASS]
        if not eg:
            raise BenchError(f"{model}: the pipeline has no {PASS} pass")
        egraph_ms.append(sum(r["micros"] for r in eg) / 1e3)
        other_ms.append(sum(r["micros"] for r in records if r["pass"] != PASS) / 1e3)
        stats = eg[0]["stats"]
    e, o, w = (statistics.median(x) for x in (egraph_ms, other_ms, wall_ms))
    return {
        "model": model.name if model.name != "model.onnx" else model.parent.name,
        "egraph_ms": e,
        "other_passes_ms": o,
        "process_ms": w,
        "share": e / w,
        "egraph_nodes": stats["egraph_nodes"],
        "iterations": stats["iterations"],
        "stop_reason": stats["stop_reason"],
        "ops_before": stats["ops_before"],
        "ops_after": stats["ops_after"],
        "cost_ratio": stats["cost_after"] / stats["cost_before"] if stats["cost_before"] else 1.0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", type=Path, help="model files (default: a fixed set)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", help="extract by this NPU preset's cycles (e.g. npu)")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release binary)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        models = args.models or DEFAULT_MODELS
        for m in models:
            if not m.is_file():
                raise BenchError(f"model not found: {m} (run tools/make_testdata.py for testdata/)")
        nnopt = args.nnopt or build_nnopt()
        rows = [measure(nnopt, m, args.runs, args.target) for m in models]
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    head = f"{'model':<36} {'egraph ms':>10} {'process ms':>11} {'share':>6} {'others ms':>10} {'e-nodes':>8} {'iters':>5} {'ops':>11} {'cost':>6}  stop"
    print(head)
    print("-" * len(head))
    for r in rows:
        ops = f"{r['ops_before']}->{r['ops_after']}"
        print(
            f"{r['model']:<36} {r['egraph_ms']:>10.2f} {r['process_ms']:>11.1f} {r['share']:>6.2f} {r['other_passes_ms']:>10.2f} "
            f"{r['egraph_nodes']:>8} {r['iterations']:>5} {ops:>11} {r['cost_ratio']:>6.3f}  {r['stop_reason']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
