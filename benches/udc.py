#!/usr/bin/env python3
"""Benchmark: `nnopt compress` (UDC search of per-layer bits and sparsity) against its
baselines on two tasks, at a budget 3.5x below dense int8.

Tasks:
  digits   examples/models/digits_cnn_float.tflite (pretrained) on ../shared/data/digits.csv.gz
           (1,797 8x8 digits; every fifth row is the test split, 360 rows)
  fashion  tools/fashion_dscnn.py's DS-CNN, trained here from fresh weights (--fashion-warmup
           epochs, once, cached in --work) on Fashion-MNIST (Debian's dataset-fashion-mnist:
           60,000 training and 10,000 test images)

For each task the dense int8 size D is measured first, the budget is floor(D / 3.5) (or
`--ratio`), and
for each seed one `nnopt compress ... --json -o OUT.tflite` run gives UDC and the three
baselines (magnitude pruning + int8, + int4, greedy per-layer bits) at that budget. Vela
(`ethos-u-vela`, ethos-u55-256) then compiles the written TFLite file, and its encoded
weight bytes are shown beside nnopt's.

Goals (per task, means over the seeds): encoded bytes >= 3.5x smaller than dense int8 at
<= 1 point test accuracy loss; >= 2 points better than the better magnitude-pruning
baseline at the same budget. `--check` makes a missed goal an error.

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/udc.py [--tasks digits,fashion] [--seeds 0,1,2] [--check] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import BenchError, build_nnopt, run_json as run
from vela_compare import find_vela, run_vela

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FASHION = Path("/usr/share/datasets/fashion-mnist")
RATIO_GOAL = 3.5
LOSS_GOAL = 1.0
MARGIN_GOAL = 2.0


def task_args(task: str, work: Path, nnopt: str, warmup: int) -> tuple[Path, list[str], list[str]]:
    """The float model, the data flags and the training flags of a task."""
    if task == "digits":
        data = SHARED / "data" / "digits.csv.gz"
        if not data.is_file():
            raise BenchError(f"{data} is missing")
        model = REPO / "examples" / "models" / "digits_cnn_float.tflite"
        training = ["--learning-rate", "0.005", "--epochs", "20", "--finetune-epochs", "20"]
        return model, ["--data", str(data)], training
    if not FASHION.is_dir():
        raise BenchError(f"{FASHION} is missing: apt-get install dataset-fashion-mnist")
    data = ["--data-dir", str(FASHION)]
    trained = work / f"fashion_dscnn_w{warmup}.onnx"
    if not trained.is_file():
        fresh = work / "fashion_dscnn.onnx"
        subprocess.run([sys.executable, str(REPO / "tools" / "fashion_dscnn.py"), str(fresh)], check=True)
        print(f"== training the DS-CNN for {warmup} epochs (cached in {trained})", file=sys.stderr)
        run([nnopt, "compress", str(fresh), "--budget", "10MiB", *data, "--warmup-epochs", str(warmup),
             "--learning-rate", "0.05",
             "--epochs", "0", "--finetune-epochs", "0", "--no-baselines", "--json",
             "-o", str(work / "warm.npub"), "--save-float", str(trained)])
    return trained, data, ["--learning-rate", "0.02", "--epochs", "3", "--finetune-epochs", "3"]


def bench_task(task: str, seeds: list[int], work: Path, nnopt: str, vela: str, warmup: int,
               ratio: float) -> dict:
    model, data, training = task_args(task, work, nnopt, warmup)
    base = [nnopt, "compress", str(model), *data, "--warmup-epochs", "0"]
    probe = run([*base, "--budget", "10MiB", "--epochs", "0", "--finetune-epochs", "0", "--no-baselines",
                 "--json", "-o", str(work / f"{task}_probe.npub")])
    dense = probe["before"]["bytes"]
    budget = math.floor(dense / ratio)
    runs = []
    for seed in seeds:
        out = work / f"{task}_udc_{seed}.tflite"
        print(f"== {task}: seed {seed}, budget {budget} bytes", file=sys.stderr)
        r = run([*base, *training, "--budget", str(budget), "--seed", str(seed), "--json", "-o", str(out)])
        r["vela"] = run_vela(vela, out, "ethos-u55-256", 1)
        runs.append(r)
    return {"task": task, "dense_bytes": dense, "budget": budget, "runs": runs}


def summarize(t: dict) -> dict:
    """Means over seeds of each model's bytes and accuracy."""
    runs = t["runs"]
    names = [runs[0]["before"]["name"], runs[0]["after"]["name"]] + [b["name"] for b in runs[0]["baselines"]]

    def models(r):
        return [r["before"], r["after"], *r["baselines"]]

    rows = []
    for i, name in enumerate(names):
        accs = [100 * models(r)[i]["accuracy"] for r in runs]
        rows.append({
            "name": name,
            "bytes": statistics.mean(models(r)[i]["bytes"] for r in runs),
            "accuracy": statistics.mean(accs),
            "accuracy_min": min(accs),
            "accuracy_max": max(accs),
        })
    dense, udc = rows[0], rows[1]
    magnitude = max(rows[2:4], key=lambda r: r["accuracy"])
    return {
        "rows": rows,
        "ratio": dense["bytes"] / udc["bytes"],
        "loss_points": dense["accuracy"] - udc["accuracy"],
        "margin_points": udc["accuracy"] - magnitude["accuracy"],
        "search_seconds": statistics.mean(r["search_seconds"] for r in runs),
        "total_seconds": statistics.mean(r["total_seconds"] for r in runs),
        "vela_encoded": statistics.mean(r["vela"]["encoded"] for r in runs),
        "vela_read_only": statistics.mean(r["vela"]["read_only"] for r in runs),
        "float_accuracy": 100 * runs[0]["float_accuracy"],
        "test_rows": runs[0]["test_rows"],
    }


def table(results: list[dict], seeds: list[int]) -> str:
    lines = [
        f"Means over seeds {', '.join(map(str, seeds))} (min-max accuracy in brackets).",
        "",
        "| task | model | encoded bytes | vs dense int8 | test accuracy | vs dense (points) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for t in results:
        s = t["summary"]
        dense = s["rows"][0]
        for r in s["rows"]:
            lines.append(
                f"| {t['task']} | {r['name']} | {r['bytes']:,.0f} | {dense['bytes'] / r['bytes']:.2f}x "
                f"| {r['accuracy']:.2f} % ({r['accuracy_min']:.2f}-{r['accuracy_max']:.2f}) "
                f"| {r['accuracy'] - dense['accuracy']:+.2f} |"
            )
    lines += ["", "| task | budget | float | UDC ratio (goal >= 3.5) | loss (goal <= 1) | over magnitude pruning "
              "(goal >= 2) | Vela encoded / weights+scales of UDC's TFLite | search s | total s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in results:
        s = t["summary"]
        lines.append(
            f"| {t['task']} | {t['budget']:,} | {s['float_accuracy']:.2f} % | {s['ratio']:.2f}x | "
            f"{s['loss_points']:.2f} | {s['margin_points']:+.2f} | {s['vela_encoded']:,.0f} / "
            f"{s['vela_read_only']:,.0f} | {s['search_seconds']:.0f} | {s['total_seconds']:.0f} |"
        )
    return "\n".join(lines)


def misses(results: list[dict]) -> list[str]:
    out = []
    for t in results:
        s = t["summary"]
        if s["ratio"] < RATIO_GOAL:
            out.append(f"{t['task']}: ratio {s['ratio']:.2f} < {RATIO_GOAL}")
        if s["loss_points"] > LOSS_GOAL:
            out.append(f"{t['task']}: accuracy loss {s['loss_points']:.2f} > {LOSS_GOAL} points")
        if s["margin_points"] < MARGIN_GOAL:
            out.append(f"{t['task']}: margin over magnitude pruning {s['margin_points']:.2f} < {MARGIN_GOAL}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default="digits,fashion")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fashion-warmup", type=int, default=20, help="epochs of training the DS-CNN")
    ap.add_argument("--ratio", type=float, default=RATIO_GOAL, help="budget = dense int8 bytes / RATIO")
    ap.add_argument("--work", type=Path, default=None, help="keep the trained model and outputs here")
    ap.add_argument("--vela", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    try:
        nnopt = build_nnopt()
        vela = find_vela(a.vela)
        seeds = [int(s) for s in a.seeds.split(",")]
        with tempfile.TemporaryDirectory(prefix="udc-bench-") as tmp:
            work = a.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            results = []
            for task in a.tasks.split(","):
                t = bench_task(task.strip(), seeds, work, nnopt, vela, a.fashion_warmup, a.ratio)
                t["summary"] = summarize(t)
                results.append(t)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=1) if a.json else table(results, seeds))
    missed = misses(results)
    for m in missed:
        print(f"goal missed: {m}", file=sys.stderr)
    return 1 if a.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
