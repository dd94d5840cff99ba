#!/usr/bin/env python3
"""Benchmark: federated learning with FP8 clients and messages against the FP32 baseline.

Compiles MODEL into a training program with fresh weights and the default training
options (`nnopt compile MODEL --target train --precision fp8 --reinit`), then for each
seed and partition runs `nnopt fl simulate ... --precision fp8 --compare --json` (the
FP32 run uses the same seed, partition and starting weights) and prints, per run: final test accuracy
of FP8 and FP32, the bytes (uplink + downlink, serialized messages) until the global model
first reached the target accuracy, and the ratio FP32 bytes / FP8 bytes (goal >= 2.9,
the seed paper's figure; aim 3.5).

Usage (from the repo root):
  .venv/bin/python benches/fl_digits.py                        # digits CNN, 3 seeds, IID and dirichlet:0.5
  .venv/bin/python benches/fl_digits.py --model testdata/digits/digits_mlp.onnx --learning-rate 0.02
  .venv/bin/python benches/fl_digits.py --seeds 0 1 2 3 4 --rounds 150 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import REPO, BenchError, build_nnopt


def simulate(nnopt: str, program: Path, data: Path, args, seed: int, partition: str) -> dict:
    cmd = [
        nnopt, "fl", "simulate", "--program", str(program), "--data", str(data),
        "--clients", str(args.clients), "--rounds", str(args.rounds),
        "--local-epochs", str(args.local_epochs), "--precision", "fp8", "--seed", str(seed),
        "--target-accuracy", str(args.target), "--compare", "--json",
    ]
    if partition != "iid":
        cmd += ["--non-iid", partition]
    print("== " + " ".join(cmd[1:]), file=sys.stderr)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"nnopt fl simulate failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="../shared/models/generated/digits_cnn_float.tflite")
    ap.add_argument("--data", default="../shared/data/digits.csv.gz")
    ap.add_argument("--learning-rate", help="client learning rate (default: nnopt's)")
    ap.add_argument("--batch", help="samples per step (default: nnopt's)")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--partitions", nargs="+", default=["iid", "dirichlet:0.5"])
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        nnopt = args.nnopt or build_nnopt()
        model, data = (REPO / args.model).resolve(), (REPO / args.data).resolve()
        for p in (model, data):
            if not p.is_file():
                raise BenchError(f"{p} not found")
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            program = Path(tmp) / "client.ntp"
            cmd = [nnopt, "compile", str(model), "--target", "train", "--precision", "fp8", "--reinit",
                   "-o", str(program)]
            for flag, value in (("--learning-rate", args.learning_rate), ("--batch", args.batch)):
                if value is not None:
                    cmd += [flag, value]
            subprocess.run(cmd, check=True, capture_output=True)
            for partition in args.partitions:
                for seed in args.seeds:
                    fp8 = simulate(nnopt, program, data, args, seed, partition)
                    fp32 = fp8["comparison"]
                    rows.append({
                        "partition": partition, "seed": seed,
                        "fp8_final_accuracy": fp8["final_accuracy"],
                        "fp32_final_accuracy": fp32["final_accuracy"],
                        "fp8_last5_accuracy": fp8["last_5_rounds_accuracy"],
                        "fp32_last5_accuracy": fp32["last_5_rounds_accuracy"],
                        "fp8_bytes_to_target": fp8["bytes_to_target"],
                        "fp32_bytes_to_target": fp32["bytes_to_target"],
                        "fp8_rounds_to_target": fp8["rounds_to_target"],
                        "fp32_rounds_to_target": fp32["rounds_to_target"],
                        "bytes_ratio": fp8["bytes_to_target_ratio"],
                        "fp8_message_bytes": [fp8["broadcast_bytes"], fp8["update_bytes"]],
                        "fp32_message_bytes": [fp32["broadcast_bytes"], fp32["update_bytes"]],
                    })
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.model}: {args.clients} clients, {args.rounds} rounds, {args.local_epochs} local epoch(s), "
          f"lr {args.learning_rate or 'default'}, batch {args.batch or 'default'}; target {100 * args.target:.0f} %")
    print(f"{'partition':<14} {'seed':>4} {'FP8 acc':>8} {'FP32 acc':>9} {'FP8 last5':>9} {'FP32 last5':>10} "
          f"{'FP8 bytes':>12} {'FP32 bytes':>12} {'rounds 8/32':>11} {'FP32/FP8':>9}")
    fmt = lambda b: "-" if b is None else str(b)
    for r in rows:
        ratio = "-" if r["bytes_ratio"] is None else f"{r['bytes_ratio']:.2f}x"
        print(f"{r['partition']:<14} {r['seed']:>4} {100 * r['fp8_final_accuracy']:>7.2f}% "
              f"{100 * r['fp32_final_accuracy']:>8.2f}% {100 * r['fp8_last5_accuracy']:>8.2f}% "
              f"{100 * r['fp32_last5_accuracy']:>9.2f}% {fmt(r['fp8_bytes_to_target']):>12} "
              f"{fmt(r['fp32_bytes_to_target']):>12} "
              f"{fmt(r['fp8_rounds_to_target']):>5}/{fmt(r['fp32_rounds_to_target']):<5} {ratio:>9}")
    for part in args.partitions:
        rs = [r for r in rows if r["partition"] == part]
        mean = lambda k: 100 * statistics.mean(r[k] for r in rs)  # noqa: E731
        print(f"{part}: mean final accuracy FP8 {mean('fp8_final_accuracy'):.2f} %, FP32 {mean('fp32_final_accuracy'):.2f} %; "
              f"last 5 rounds FP8 {mean('fp8_last5_accuracy'):.2f} %, FP32 {mean('fp32_last5_accuracy'):.2f} %")
    ratios = [r["bytes_ratio"] for r in rows if r["bytes_ratio"] is not None]
    if ratios:
        print(f"bytes ratio: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
              f"max {max(ratios):.2f}x over {len(ratios)} runs")
    print("messages (broadcast, update): FP8 {} bytes, FP32 {} bytes".format(
        rows[0]["fp8_message_bytes"], rows[0]["fp32_message_bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
