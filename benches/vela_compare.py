#!/usr/bin/env python3
"""Benchmark: nnopt's NPU compiler against Arm's Vela on the same int8 TFLite models.

For each model it runs, N times each and in the same session,
  vela MODEL --accelerator-config ethos-u55-256 --output-dir FRESH_DIR
  nnopt compile MODEL --target npu -o FRESH_DIR/MODEL.npub --json
and reports Vela's encoded weight bytes (`total_npu_encoded_weights` in its summary CSV),
nnopt's `weight_encoded_bytes` (weights + biases + zero points + requantization
parameters, losslessly coded), the median wall time of each (whole process, from spawn
to exit) and the ratios nnopt / Vela.

Vela's `total_npu_encoded_weights` counts the weight streams only, not its per-channel
bias and scale words (10 bytes per output channel), which nnopt's figure includes. So the
table also gives Vela's whole read-only constant area (the `ethos-u` custom op's second
input in Vela's output .tflite: encoded weights + biases + scales) and the like-for-like
ratio against it. The goals are a byte ratio <= 0.85 and a time ratio
<= 0.1; `--check` makes a missed goal an error (exit status 1).

Vela is required: a missing `vela` is an error, not a skip.

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/vela_compare.py [--runs 5] [--json] [--check]
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from ethosu.vela.tflite.Model import Model as TfliteModel
except ImportError:  # reported by main(): Vela is required
    TfliteModel = None

from bench_common import BenchError, build_nnopt

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO.parent / "shared" / "models"
DEFAULT_MODELS = [
    "person_detect",
    "micro_speech_quantized",
    "generated/mobilenet_v2_035_96_int8",
    "generated/digits_cnn_int8",
]
BYTE_GOAL = 0.85
TIME_GOAL = 0.1



def find_vela(given: str | None) -> str:
    """The Vela executable: --vela, else `vela` next to this Python, else on PATH."""
    if given:
        if not Path(given).is_file():
            raise BenchError(f"--vela {given}: no such file")
        return given
    beside = Path(sys.executable).parent / "vela"
    if beside.is_file():
        return str(beside)
    found = shutil.which("vela")
    if not found:
        raise BenchError(
            "vela not found: install it with `pip install -r tools/requirements.txt` "
            "(ethos-u-vela) or pass --vela PATH"
        )
    return found


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Runs `cmd`, returns its wall time in ms and the finished process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    ms = (time.perf_counter() - start) * 1e3
    if proc.returncode != 0:
        raise BenchError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return ms, proc


def vela_read_only_bytes(out_dir: str) -> int:
    """Bytes of the constant data (weights, biases, scales) of Vela's output .tflite: the
    second input of each `ethos-u` custom op."""
    outputs = glob.glob(os.path.join(out_dir, "*_vela.tflite"))
    if len(outputs) != 1:
        raise BenchError(f"vela wrote {len(outputs)} output .tflite files in {out_dir}")
    buf = Path(outputs[0]).read_bytes()
    m = TfliteModel.GetRootAsModel(buf, 0)
    buffers, ops = set(), 0
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for o in range(g.OperatorsLength()):
            op = g.Operators(o)
            code = m.OperatorCodes(op.OpcodeIndex()).CustomCode()
            if code != b"ethos-u":
                continue
            ops += 1
            if op.InputsLength() < 2:
                raise BenchError(f"{outputs[0]}: ethos-u op without a read-only input")
            buffers.add(g.Tensors(op.Inputs(1)).Buffer())
    if ops == 0:
        raise BenchError(f"{outputs[0]}: no ethos-u op (Vela ran nothing on the NPU)")
    return sum(m.Buffers(b).DataLength() for b in buffers)


def run_vela(vela: str, model: Path, config: str, runs: int) -> dict:
    """Vela's encoded and original weight bytes and its median wall time."""
    times, sizes = [], set()
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="vela-") as out:
            ms, _ = timed(
                [vela, str(model), "--accelerator-config", config, "--output-dir", out]
            )
            times.append(ms)
            summaries = glob.glob(os.path.join(out, "*_summary_*.csv"))
            if len(summaries) != 1:
                raise BenchError(f"vela wrote {len(summaries)} summary CSVs for {model}")
            with open(summaries[0], newline="") as f:
                row = next(csv.DictReader(f))
            sizes.add(
                (
                    int(float(row["total_npu_encoded_weights"])),
                    int(float(row["total_original_weights"])),
                    vela_read_only_bytes(out),
                )
            )
    if len(sizes) != 1:
        raise BenchError(f"vela's weight sizes for {model} vary between runs: {sizes}")
    encoded, original, read_only = sizes.pop()
    return {
        "encoded": encoded,
        "original": original,
        "read_only": read_only,
        "ms": statistics.median(times),
    }


def run_nnopt(nnopt: str, model: Path, target: str, runs: int) -> dict:
    """nnopt's encoded and raw weight bytes, its median wall time and internal time."""
    times, internal, sizes = [], [], set()
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="nnopt-") as out:
            npub = os.path.join(out, model.stem + ".npub")
            ms, proc = timed(
                [nnopt, "compile", str(model), "--target", target, "-o", npub, "--json"]
            )
            times.append(ms)
            s = json.loads(proc.stdout)
            internal.append(s["compile_ms"])
            sizes.add((s["weight_encoded_bytes"], s["weight_raw_bytes"], s["binary_bytes"]))
    if len(sizes) != 1:
        raise BenchError(f"nnopt's weight sizes for {model} vary between runs: {sizes}")
    encoded, raw, binary = sizes.pop()
    return {
        "encoded": encoded,
        "raw": raw,
        "binary": binary,
        "ms": statistics.median(times),
        "compile_ms": statistics.median(internal),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| model | Vela encoded B | nnopt encoded B | ratio | Vela ms | nnopt ms | time ratio "
        "| Vela weights+scales B | ratio to it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        bmark = "" if r["byte_ratio"] <= BYTE_GOAL else " ✗"
        tmark = "" if r["time_ratio"] <= TIME_GOAL else " ✗"
        lines.append(
            f"| {r['model']} | {r['vela']['encoded']:,} | {r['nnopt']['encoded']:,} "
            f"| {r['byte_ratio']:.3f}{bmark} | {r['vela']['ms']:.0f} | {r['nnopt']['ms']:.1f} "
            f"| {r['time_ratio']:.3f}{tmark} | {r['vela']['read_only']:,} "
            f"| {r['like_for_like_ratio']:.3f} |"
        )
    lines.append("")
    lines.append(
        f"Goals: ratio <= {BYTE_GOAL} and time ratio <= {TIME_GOAL} (✗ marks a miss). "
        "Times are medians of whole-process wall times. Vela's encoded bytes exclude its "
        "biases and scales (nnopt's include them); the last two columns compare with "
        "Vela's whole constant area."
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help=f"model names under {MODELS_DIR} "
                    "(without .tflite) or .tflite paths; default: the four baseline models")
    ap.add_argument("--runs", type=int, default=5, help="runs per compiler (median; default 5)")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release binary)")
    ap.add_argument("--vela", help="vela executable (default: beside this Python, else PATH)")
    ap.add_argument("--accelerator-config", default="ethos-u55-256", help="Vela's target")
    ap.add_argument("--target", default="npu", help="nnopt's --target (default npu = npu-256)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--check", action="store_true", help="exit 1 if a model misses a goal")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    try:
        if TfliteModel is None:
            raise BenchError(
                "the ethosu.vela package is not importable by this Python: install "
                "tools/requirements.txt (ethos-u-vela) into its environment"
            )
        vela = find_vela(args.vela)
        nnopt = args.nnopt or build_nnopt()
        rows = []
        for name in args.models or DEFAULT_MODELS:
            model = Path(name) if name.endswith(".tflite") else MODELS_DIR / f"{name}.tflite"
            if not model.is_file():
                raise BenchError(f"model {model} not found")
            print(f"== {name}", file=sys.stderr)
            v = run_vela(vela, model, args.accelerator_config, args.runs)
            n = run_nnopt(nnopt, model, args.target, args.runs)
            rows.append(
                {
                    "model": name,
                    "vela": v,
                    "nnopt": n,
                    "byte_ratio": n["encoded"] / v["encoded"],
                    "time_ratio": n["ms"] / v["ms"],
                    "like_for_like_ratio": n["encoded"] / v["read_only"],
                }
            )
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps({"byte_goal": BYTE_GOAL, "time_goal": TIME_GOAL, "models": rows},
                         indent=2))
    else:
        print(table(rows))
    missed = [r["model"] for r in rows
              if r["byte_ratio"] > BYTE_GOAL or r["time_ratio"] > TIME_GOAL]
    if args.check and missed:
        print(f"goals missed by: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
