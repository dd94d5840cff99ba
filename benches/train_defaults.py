#!/usr/bin/env python3
"""Benchmark: the sweep that chose nnopt's training defaults.

Each configuration is a set of `nnopt compile --target train` flags (client optimizer,
learning rate, initialization, warm-up) and `nnopt fl simulate` flags (server
optimizer). For every configuration, seed and partition the script compiles the digits
CNN with fresh weights (`--reinit --seed SEED`) and runs `nnopt fl simulate --precision
fp8 --compare --json` with every other flag at its default (20 clients, 100 rounds, 1
local epoch, batch 16), so FP8 and FP32 clients start from the same weights and split.

The table gives, per configuration and partition, the mean and the worst seed of the
last-5-rounds test accuracy in FP8 and FP32, the mean FP8 - FP32 difference, the mean
rounds to 90 %, and the smallest FP32 / FP8 bytes-to-90 % ratio. The goal of the
defaults (the configuration `default`, which passes no flags): every seed and partition
reaches >= 95 % in both precisions, FP8 within 1 point of FP32, ratio >= 2.9.

Usage (from the repo root):
  .venv/bin/python benches/train_defaults.py                          # every configuration, seeds 0-4
  .venv/bin/python benches/train_defaults.py --configs default sgd --seeds 0 1
  .venv/bin/python benches/train_defaults.py --list
  .venv/bin/python benches/train_defaults.py --jobs 2 --json > sweep.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_common import REPO, BenchError, build_nnopt

# name -> (compile flags, simulate flags, what it tests). `default` passes no flags.
CONFIGS: dict[str, tuple[list[str], list[str], str]] = {
    "default": ([], [], "nnopt's defaults: He init, SGD 0.05 clients, FedAvgM server (1.0, 0.9)"),
    "old-defaults": (["--init", "glorot"], ["--server-optimizer", "fedavg"],
                     "the defaults before the sweep: Glorot init, FedAvg server"),
    "old-readme": (["--init", "glorot", "--learning-rate", "0.5"], ["--server-optimizer", "fedavg"],
                   "the old README benchmark's settings: Glorot, SGD 0.5, FedAvg"),
    "fedavg": ([], ["--server-optimizer", "fedavg"], "He init without server momentum"),
    "glorot": (["--init", "glorot"], [], "Glorot instead of He"),
    "sgd-lr0.02": (["--learning-rate", "0.02"], [], "a smaller client learning rate"),
    "sgd-lr0.1": (["--learning-rate", "0.1"], [], "a larger client learning rate"),
    "sgd-lr0.2": (["--learning-rate", "0.2"], [], "a still larger client learning rate"),
    "server-momentum-0.7": ([], ["--server-momentum", "0.7"], "less server momentum"),
    "warmup": (["--warmup-steps", "40"], [], "40 steps of warm-up"),
    "fedadam": ([], ["--server-optimizer", "fedadam"], "SGD clients, FedAdam server (Reddi et al.)"),
    "adamw": (["--optimizer", "adamw"], [], "AdamW clients (lr 0.003), FedAvgM server"),
    "adamw-fedavg": (["--optimizer", "adamw"], ["--server-optimizer", "fedavg"], "AdamW clients, FedAvg server"),
    "adamw-fedadam": (["--optimizer", "adamw"], ["--server-optimizer", "fedadam"], "AdamW clients, FedAdam server"),
    "adamw-lr1e-3": (["--optimizer", "adamw", "--learning-rate", "0.001"], [], "AdamW at lr 0.001"),
    "adamw-lr1e-2": (["--optimizer", "adamw", "--learning-rate", "0.01"], [], "AdamW at lr 0.01"),
    "adamw-warmup": (["--optimizer", "adamw", "--warmup-steps", "40"], [], "AdamW with 40 steps of warm-up"),
}


def run_one(nnopt: str, model: Path, data: Path, tmp: Path, name: str, seed: int, partition: str,
            rounds: int) -> dict:
    compile_flags, sim_flags, _ = CONFIGS[name]
    program = tmp / f"{name}-{seed}-{partition.replace(':', '')}.ntp"
    cmd = [nnopt, "compile", str(model), "--target", "train", "--reinit", "--seed", str(seed),
           *compile_flags, "-o", str(program)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"{' '.join(cmd[1:])} failed: {r.stderr.strip()}")
    cmd = [nnopt, "fl", "simulate", "--program", str(program), "--data", str(data),
           "--rounds", str(rounds), "--precision", "fp8", "--seed", str(seed), "--compare", "--json",
           "--threads", "1", *sim_flags]
    if partition != "iid":
        cmd += ["--non-iid", partition]
    print("== " + " ".join(cmd[1:]), file=sys.stderr)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"nnopt fl simulate failed: {r.stderr.strip()}")
    fp8 = json.loads(r.stdout)
    fp32 = fp8["comparison"]
    return {
        "config": name, "seed": seed, "partition": partition,
        "fp8_last5": fp8["last_5_rounds_accuracy"], "fp32_last5": fp32["last_5_rounds_accuracy"],
        "fp8_rounds_to_90": fp8["rounds_to_target"], "fp32_rounds_to_90": fp32["rounds_to_target"],
        "bytes_ratio": fp8["bytes_to_target_ratio"],
    }


def summarize(rows: list[dict], name: str, partition: str) -> str:
    rs = [r for r in rows if r["config"] == name and r["partition"] == partition]
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    mean = lambda k: statistics.mean(r[k] for r in rs)  # noqa: E731
    worst = lambda k: min(r[k] for r in rs)  # noqa: E731
    diff = statistics.mean(r["fp8_last5"] - r["fp32_last5"] for r in rs)
    worst_diff = min(r["fp8_last5"] - r["fp32_last5"] for r in rs)

    def rounds(k: str) -> str:
        got = [r[k] for r in rs if r[k] is not None]
        missed = len(rs) - len(got)
        text = f"{statistics.mean(got):.0f}" if got else "-"
        return text + (f" ({missed} missed)" if missed else "")

    ratios = [r["bytes_ratio"] for r in rs if r["bytes_ratio"] is not None]
    ratio = f"{min(ratios):.2f}x" if ratios else "-"
    part = "IID" if partition == "iid" else partition.replace("dirichlet:", "Dirichlet(") + ")"
    return (f"| {name} | {part} | {pct(mean('fp8_last5'))} / {pct(mean('fp32_last5'))} | "
            f"{pct(worst('fp8_last5'))} / {pct(worst('fp32_last5'))} | {100 * diff:+.2f} ({100 * worst_diff:+.2f}) | "
            f"{rounds('fp8_rounds_to_90')} / {rounds('fp32_rounds_to_90')} | {ratio} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="../shared/models/generated/digits_cnn_float.tflite")
    ap.add_argument("--data", default="../shared/data/digits.csv.gz")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--partitions", nargs="+", default=["iid", "dirichlet:0.5"])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2, help="simulations run at once (each on one thread)")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release one)")
    ap.add_argument("--list", action="store_true", help="list the configurations and exit")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, (c, s, what) in CONFIGS.items():
            print(f"{name:<18} {what}: compile {' '.join(c) or '-'}; simulate {' '.join(s) or '-'}")
        return 0
    try:
        nnopt = args.nnopt or build_nnopt()
        model, data = (REPO / args.model).resolve(), (REPO / args.data).resolve()
        for p in (model, data):
            if not p.is_file():
                raise BenchError(f"{p} not found")
        jobs = [(c, s, p) for c in args.configs for p in args.partitions for s in args.seeds]
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(
                lambda j: run_one(nnopt, model, data, Path(tmp), j[0], j[1], j[2], args.rounds), jobs))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.model}: 20 clients, {args.rounds} rounds, seeds {' '.join(map(str, args.seeds))}; "
          "last-5-rounds test accuracy")
    print()
    print("| configuration | partition | mean FP8 / FP32 % | worst seed FP8 / FP32 % | FP8 - FP32 mean (worst) | "
          "rounds to 90 % FP8 / FP32 | min FP32/FP8 bytes to 90 % |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.configs:
        for partition in args.partitions:
            print(summarize(rows, name, partition))
    return 0


if __name__ == "__main__":
    sys.exit(main())
