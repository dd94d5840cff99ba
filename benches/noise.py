#!/usr/bin/env python3
"""Benchmark: noisy binary networks (issue 24 B) -- measured information against the bounds.

For each width and depth, writes a binary MLP on digits as IR text (64 real inputs in
[0, 1]; each hidden layer a gemm with binarized (+-1) weights, a fixed scale 1/sqrt(fan-in)
and a binarize activation; a real-valued output layer giving logits), trains it with
nnopt's own runtime from fresh weights (`nnopt compile --target train --precision fp32
--reinit --optimizer adamw`, then `nnopt fl simulate --clients 1 --server-optimizer
fedavg --save trained.nnir`: one client is central training, one round one epoch), and
runs `nnopt analyze-noise trained.nnir --flip-prob EPS,... --data digits.csv.gz --json`.

Prints one row per (width, depth, eps): accuracy, plug-in and Miller-Madow estimates of
I(label; predicted class), the percolation and Evans-Schulman bounds (times H(label)),
whether the plug-in estimate is under its bound ("bias" when only the bias-corrected one
is), and the minimum width N_min(L) that the percolation bound with Fano's inequality
requires for this depth; then the depth-width table. Exit status 1 when a point with
eps < 0.5 is above its bound (at eps = 0.5 the bound is 0 and only the estimator's bias
remains).

Usage (from the repo root):
  .venv/bin/python benches/noise.py                                  # 16..128 x 1..4, 200 repeats
  .venv/bin/python benches/noise.py --widths 16 64 --depths 1 2 --repeats 50 --json
  .venv/bin/python benches/noise.py --write-model 32,32 > examples/models/digits_bnn.nnir
"""

from __future__ import annotations

import argparse
import html
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import REPO, BenchError, build_nnopt, run_json

GEMM = '{"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}'


def bnn_nnir(widths: list[int], seed: int = 0, inputs: int = 64, classes: int = 10) -> str:
    """A binary MLP as nnopt IR text (weights uniform in +-sqrt(3/fan-in) from `seed`)."""
    rnd = random.Random(seed)

    def values(n: int, limit: float) -> str:
        return "[" + ", ".join(f"{rnd.uniform(-limit, limit):.4f}" for _ in range(n)) + "]"

    name = "digits_bnn_" + "x".join(map(str, widths))
    lines = [f'graph "{name}"(%x) {{', f"  %x: f32[1,{inputs}] = input"]
    prev, fan = "%x", inputs
    for i, w in enumerate(widths, 1):
        zeros = ", ".join(["0.0"] * w)
        lines += [
            f"  %w{i}: f32[{fan},{w}] = const {values(fan * w, (3 / fan) ** 0.5)}",
            f'  %w{i}_pm1: f32[{fan},{w}] = activation {{"act":"binarize"}}(%w{i})',
            f"  %b{i}: f32[{w}] = const [{zeros}]",
            f"  %fc{i}: f32[1,{w}] = gemm {GEMM}({prev}, %w{i}_pm1, %b{i})",
            f"  %s{i}: f32[] = const [{1 / fan ** 0.5:.6f}]",
            f'  %z{i}: f32[1,{w}] = binary {{"kind":"mul","activation":null}}(%fc{i}, %s{i})',
            f'  %h{i}: f32[1,{w}] = activation {{"act":"binarize"}}(%z{i})',
        ]
        prev, fan = f"%h{i}", w
    zeros = ", ".join(["0.0"] * classes)
    lines += [
        f"  %wo: f32[{fan},{classes}] = const {values(fan * classes, (3 / fan) ** 0.5)}",
        f"  %bo: f32[{classes}] = const [{zeros}]",
        f"  %logits: f32[1,{classes}] = gemm {GEMM}({prev}, %wo, %bo)",
        "  return %logits",
        "}",
    ]
    return "\n".join(lines) + "\n"


def train(nnopt: str, widths: list[int], data: Path, work: Path, args) -> tuple[Path, float]:
    """Trains the binary MLP of `widths`; returns the trained model and its accuracy."""
    tag = "x".join(map(str, widths))
    model = work / f"bnn_{tag}.nnir"
    model.write_text(bnn_nnir(widths, args.seed))
    program = work / f"bnn_{tag}.ntp"
    trained = work / f"bnn_{tag}_trained.nnir"
    cmd = [nnopt, "compile", str(model), "--target", "train", "--precision", "fp32", "--reinit",
           "--seed", str(args.seed), "--optimizer", "adamw", "-o", str(program)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"compile failed: {r.stderr.strip()}")
    sim = run_json([nnopt, "fl", "simulate", "--program", str(program), "--data", str(data),
                    "--clients", "1", "--rounds", str(args.epochs), "--server-optimizer", "fedavg",
                    "--seed", str(args.seed), "--save", str(trained), "--json"])
    return trained, sim["final_accuracy"]


COLOURS = ["#c0392b", "#2c5aa0", "#2e8b3e", "#8e44ad", "#d4a017", "#444444"]


def depth_width_svg(rows: list[dict], eps: float) -> str:
    """Measured I(label; prediction) (solid, dots) and its bound (dashed) against depth, one
    colour per width, at flip probability `eps`: the measured depth-width trade-off."""
    pts = [r for r in rows if abs(r["eps"] - eps) < 1e-12]
    widths = sorted({r["width"] for r in pts})
    depths = sorted({r["depth"] for r in pts})
    if not pts or len(depths) < 1:
        return ""
    w, h, left, right, top, bottom = 500, 320, 60, 130, 30, 45
    y_max = max(max(min(r["percolation_bits"], r["evans_schulman_bits"]), r["mi_plug_in"]) for r in pts) * 1.05 or 1.0
    d0, d1 = depths[0], max(depths[-1], depths[0] + 1)
    x = lambda d: left + (d - d0) / (d1 - d0) * (w - left - right)
    y = lambda v: top + (1 - v / y_max) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{w / 2 - 60}" y="18" font-size="14">eps = {eps}</text>',
           f'<line x1="{left}" y1="{y(0)}" x2="{w - right}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0)}" stroke="black"/>',
           f'<text x="{(left + w - right) / 2 - 40}" y="{h - 8}">noisy layers L</text>',
           f'<text x="12" y="{(top + h - bottom) / 2 + 30}" transform="rotate(-90 12 {(top + h - bottom) / 2 + 30})">bits</text>']
    for d in depths:
        out.append(f'<text x="{x(d) - 4}" y="{y(0) + 16}">{d}</text>')
    for k in range(5):
        v = y_max * k / 4
        out.append(f'<text x="{left - 45}" y="{y(v) + 4}">{v:.2f}</text>')
    for i, width in enumerate(widths):
        c = COLOURS[i % len(COLOURS)]
        mine = sorted((r for r in pts if r["width"] == width), key=lambda r: r["depth"])
        bound = " ".join(f"{x(r['depth']):.1f},{y(min(r['percolation_bits'], r['evans_schulman_bits'])):.1f}" for r in mine)
        meas = " ".join(f"{x(r['depth']):.1f},{y(r['mi_plug_in']):.1f}" for r in mine)
        out.append(f'<polyline points="{bound}" fill="none" stroke="{c}" stroke-dasharray="6 4"/>')
        out.append(f'<polyline points="{meas}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{x(r["depth"]):.1f}" cy="{y(r["mi_plug_in"]):.1f}" r="3" fill="{c}"/>' for r in mine]
        ly = top + 16 * i
        out.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 30}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{w - right + 35}" y="{ly + 4}">width {width}</text>')
    ly = top + 16 * len(widths) + 8
    out.append(f'<text x="{w - right + 10}" y="{ly}">solid: measured</text>')
    out.append(f'<text x="{w - right + 10}" y="{ly + 14}">dashed: bound</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--flip-probs", default="0,0.01,0.05,0.1,0.2,0.3,0.4,0.45,0.5")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=200, help="runs of the test split per eps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-error", type=float, default=0.1)
    ap.add_argument("--data", default=str(REPO / "examples/data/digits.csv.gz"))
    ap.add_argument("--report", default="noise_bench.html", help="HTML report of all models")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-model", metavar="W1,W2,...", help="print a binary MLP's IR and exit")
    args = ap.parse_args()
    if args.write_model:
        sys.stdout.write(bnn_nnir([int(w) for w in args.write_model.split(",")], args.seed))
        return 0
    nnopt = args.nnopt or build_nnopt()
    rows, tradeoff, reports = [], None, []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for depth in args.depths:
            for width in args.widths:
                widths = [width] * depth
                print(f"== {width} x {depth}", file=sys.stderr)
                trained, acc = train(nnopt, widths, Path(args.data), work, args)
                html_path = work / f"noise_{width}x{depth}.html"
                out = run_json([nnopt, "analyze-noise", str(trained), "--flip-prob", args.flip_probs,
                                "--data", args.data, "--repeats", str(args.repeats),
                                "--seed", str(args.seed), "--target-error", str(args.target_error),
                                "--report", str(html_path), "--json"])
                reports.append((f"{width} x {depth}", html_path.read_text()))
                tradeoff = out["tradeoff"]
                for p in out["points"]:
                    b, m = p["bounds"], p["measured"]
                    rows.append({
                        "width": width, "depth": depth, "trained_accuracy": acc,
                        "eps": b["flip_prob"], "accuracy": m["accuracy"],
                        "mi_plug_in": m["mi_plug_in_bits"], "mi_miller_madow": m["mi_miller_madow_bits"],
                        "percolation_bits": m["percolation_bound_bits"],
                        "evans_schulman_bits": m["evans_schulman_bound_bits"],
                        "under": "yes" if m["under_bound"] else ("bias" if m["under_bound_bias_corrected"] else "NO"),
                        "min_width": b["min_width"], "samples": m["samples"],
                        "seconds": out["wall_seconds"],
                    })
    if args.report:
        charts = "".join(depth_width_svg(rows, e) for e in (0.1, 0.2, 0.3, 0.4))
        body = ("<h2>Depth-width trade-off, measured</h2>\n<p>Plug-in I(label; predicted class) "
                "of each trained model against its number of noisy layers, one colour per width "
                "(solid), with its bound H(label) x min(1, percolation, Evans-Schulman) (dashed).</p>\n"
                + charts + "\n")
        body += "".join(f"<h2>{html.escape(name)}</h2>\n{page[page.index('<body>') + 6:page.index('</body>')]}\n"
                       for name, page in reports)
        Path(args.report).write_text(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nnopt: noisy binary "
            "networks</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
            "pre{font-size:12px}</style></head><body>\n<h1>Noisy binary networks on digits</h1>\n"
            + body + "</body></html>\n")
    bad = [r for r in rows if r["under"] != "yes" and r["eps"] < 0.5]
    if args.json:
        print(json.dumps({"rows": rows, "tradeoff": tradeoff}, indent=1))
    else:
        print(f"{'width':>5} {'L':>2} {'eps':>5} {'acc %':>6} {'MI plug':>8} {'MI M-M':>8} "
              f"{'perc.b':>7} {'ES b':>7} {'under':>5} {'N_min(L)':>8}")
        for r in rows:
            n = r["min_width"] if r["min_width"] is not None else "none"
            print(f"{r['width']:>5} {r['depth']:>2} {r['eps']:>5} {100 * r['accuracy']:>6.2f} "
                  f"{r['mi_plug_in']:>8.4f} {r['mi_miller_madow']:>8.4f} {r['percolation_bits']:>7.4f} "
                  f"{r['evans_schulman_bits']:>7.4f} {r['under']:>5} {n:>8}")
        print("\nN_min by depth (percolation + Fano, 10 classes, error "
              f"{args.target_error}):")
        for t in tradeoff or []:
            print(f"  eps {t['flip_prob']:>5}: " + " ".join(
                str(n) if n is not None else "none" for n in t["min_width"]))
        print(f"\n{len(rows)} points, {len(bad)} above their bound at eps < 0.5"
              + (f"; report {args.report}" if args.report else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
