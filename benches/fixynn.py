#!/usr/bin/env python3
"""Benchmark: `nnopt fixynn` (FixyNN: a hard-wired int8 front-end shared by tasks, transfer-
learned back-ends on a programmable accelerator) on Fashion-MNIST-trained networks.

Models (trained here from fresh weights on all of Fashion-MNIST, once, cached in --work):
  dscnn      tools/fashion_dscnn.py's DS-CNN (stride-2 first layer; 72 % of its MACs in the
             last three layers), 20 epochs
  mobilenet  tools/fashion_dscnn.py --arch mobilenet (first stage at full resolution; 77 % of
             its MACs in the first five layers), 15 epochs

Tasks sharing each front-end (--task-set):
  mixed (default)
    digits                 ../shared/data/digits.csv.gz (1,797 8x8 digits, resized to 28x28:
                           another domain than the front-end's)
    fashion-mnist:0,2,4,6  the four upper-body garments (T-shirt, pullover, coat, shirt)
    fashion-mnist:5,7,8,9  footwear and bags (sandal, sneaker, bag, ankle boot)
  fashion
    the two Fashion-MNIST subsets above and fashion-mnist:1,3 (trouser or dress): tasks of
    the front-end's own domain

Each model runs `nnopt fixynn MODEL --tasks ... --task-dir ... --json -o OUT`: every split
point is searched (back-ends trained on the frozen int8 front-end's features against full
fine-tuning, --epochs, at most --max-train-rows rows per task), the chosen front-end's RTL
is simulated with Verilator on every test image of every task against the interpreter,
and synthesized by Yosys (unless --no-synth).

Goals: RTL bit-exact on 100 % of test images; Yosys synthesizes the design; every task
loses < 1 point against full fine-tuning at the chosen split; energy efficiency >= 2x
the all-programmable accelerator at equal area. `--check` makes a missed goal an error.

Usage (from the repo root):
  .venv/bin/python benches/fixynn.py [--models dscnn,mobilenet] [--task-set mixed|fashion]
      [--no-synth] [--work DIR] [--check] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import BenchError, build_nnopt, run_json as run

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FASHION = Path("/usr/share/datasets/fashion-mnist")
LOSS_GOAL = 1.0
ENERGY_GOAL = 2.0
MODELS = {"dscnn": ("dscnn", 20), "mobilenet": ("mobilenet", 15)}


def trained_model(name: str, work: Path, nnopt: str) -> Path:
    arch, epochs = MODELS[name]
    trained = work / f"fashion_{arch}_w{epochs}.onnx"
    if trained.is_file():
        return trained
    fresh = work / f"fashion_{arch}.onnx"
    subprocess.run([sys.executable, str(REPO / "tools" / "fashion_dscnn.py"), str(fresh), "--arch", arch],
                   check=True)
    print(f"== training {arch} for {epochs} epochs (cached in {trained})", file=sys.stderr)
    run([nnopt, "compress", str(fresh), "--budget", "10MiB", "--data-dir", str(FASHION),
         "--warmup-epochs", str(epochs), "--learning-rate", "0.05", "--epochs", "0", "--finetune-epochs", "0",
         "--no-baselines", "--json", "-o", str(work / f"{arch}_warm.npub"), "--save-float", str(trained)])
    return trained


def task_flags(task_set: str) -> list[str]:
    subsets = ["--task-dir", f"{FASHION}:0,2,4,6", "--task-dir", f"{FASHION}:5,7,8,9"]
    if task_set == "fashion":
        return [*subsets, "--task-dir", f"{FASHION}:1,3"]
    digits = SHARED / "data" / "digits.csv.gz"
    if not digits.is_file():
        raise BenchError(f"{digits} is missing")
    return ["--tasks", str(digits), *subsets]


def bench_model(name: str, work: Path, nnopt: str, a: argparse.Namespace) -> dict:
    model = trained_model(name, work, nnopt)
    out = work / f"{name}_{a.task_set}_fixynn"
    cmd = [nnopt, "fixynn", str(model), *task_flags(a.task_set),
           "--epochs", str(a.epochs), "--max-train-rows", str(a.max_train_rows),
           "--report", str(work / f"{name}_{a.task_set}_fixynn.html"), "--json", "-o", str(out)]
    if a.no_synth:
        cmd.append("--no-synth")
    m = run(cmd)
    m["model"] = name
    return m


def table(results: list[dict]) -> str:
    lines = ["| model | split | layers | mean loss (pt) | max loss (pt) | front-end mm² | energy vs all-prog. |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for m in results:
        for p in m["split_points"]:
            chosen = " (chosen)" if p["split"] == m["split_tensor"] else ""
            lines.append(
                f"| {m['model']} | {p['split']}{chosen} | {p['layers']} | {p['mean_loss_points']:+.2f} | "
                f"{p['max_loss_points']:+.2f} | {p['ppa']['fixed_area_mm2']:.4f} | "
                f"{p['ppa']['energy_efficiency_ratio']:.2f}x |")
    lines += ["", "| model | task | classes | test images | fixed + back-end | full fine-tune | loss (pt) |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for m in results:
        for t in m["tasks"]:
            lines.append(f"| {m['model']} | {t['name']} | {t['classes']} | {t['test_rows']} | "
                         f"{100 * t['accuracy']:.2f} % | {100 * t['full_fine_tune_accuracy']:.2f} % | "
                         f"{t['loss_points']:+.2f} |")
    lines += ["", "| model | energy ratio (DeepFreeze) | energy ratio (Yosys area) | energy ratio (npu-256 preset) | hybrid TOPS/W | "
              "all-prog. TOPS/W | front-end mm² model / Yosys | transistors | RTL bit-exact | "
              "RTL gen s | Verilator s (images) | Yosys s | search s | total s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in results:
        d, y, s, v = m["ppa"]["deepfreeze"], m["ppa"]["yosys"], m["ppa"]["synthesis"], m["verification"]
        lines.append(
            f"| {m['model']} | {d['energy_efficiency_ratio']:.2f}x | "
            f"{(y['energy_efficiency_ratio'] if y else float('nan')):.2f}x | "
            f"{m['ppa']['npu_preset']['energy_efficiency_ratio']:.2f}x | {d['hybrid_tops_per_w']:.2f} | "
            f"{d['all_programmable_tops_per_w']:.2f} | {m['ppa']['frontend']['area_mm2']:.4f} / "
            f"{(s['area_mm2'] if s else float('nan')):.4f} | {(s['transistors'] if s else 0):,} | "
            f"{v['bit_exact_images']:,} / {v['images']:,} | {m['generation_seconds']:.2f} | "
            f"{v['simulation_seconds']:.1f} ({v['images']:,}) | {(s['seconds'] if s else 0):.0f} | "
            f"{m['search_seconds']:.0f} | {m['wall_seconds']:.0f} |")
    return "\n".join(lines)


def misses(results: list[dict], synth: bool) -> list[str]:
    out = []
    for m in results:
        v = m["verification"]
        if not v["bit_exact"]:
            out.append(f"{m['model']}: RTL bit-exact on {v['bit_exact_images']} of {v['images']} images")
        if synth and not m["ppa"]["synthesis"]:
            out.append(f"{m['model']}: not synthesized")
        for t in m["tasks"]:
            if t["loss_points"] >= LOSS_GOAL:
                out.append(f"{m['model']}: {t['name']} loses {t['loss_points']:.2f} >= {LOSS_GOAL} points")
        ratio = m["ppa"]["energy_efficiency_ratio"]
        if ratio < ENERGY_GOAL:
            out.append(f"{m['model']}: energy efficiency {ratio:.2f}x < {ENERGY_GOAL}x")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="dscnn,mobilenet")
    ap.add_argument("--task-set", choices=["mixed", "fashion"], default="mixed")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each back-end and full fine-tuning")
    ap.add_argument("--max-train-rows", type=int, default=6000, help="training rows per task")
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--work", type=Path, default=None, help="keep the trained models and outputs here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    try:
        if not FASHION.is_dir():
            raise BenchError(f"{FASHION} is missing: apt-get install dataset-fashion-mnist")
        nnopt = build_nnopt()
        with tempfile.TemporaryDirectory(prefix="fixynn-bench-") as tmp:
            work = a.work or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            results = [bench_model(m.strip(), work, nnopt, a) for m in a.models.split(",")]
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=1) if a.json else table(results))
    missed = misses(results, not a.no_synth)
    for m in missed:
        print(f"goal missed: {m}", file=sys.stderr)
    return 1 if a.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
