#!/usr/bin/env python3
"""Benchmark: FP8 conversion throughput, nnopt's slice functions vs ml_dtypes.

Makes N random f32 values (log-uniform magnitudes over E5M2's range plus random signs, the
same values for both sides), runs `examples/fp8_throughput.rs` (release build) on them and
times ml_dtypes' numpy conversions in the same run: `x.astype(float8_*)` (round to
nearest even, non-saturating: nnopt's `encode`) and `codes.view(float8_*).astype(float32)`
(nnopt's LUT `decode`). nnopt's saturating and stochastic encodes have no ml_dtypes
counterpart and are printed against ml_dtypes' encode. Best of R repeats each; values/s
and the ratio nnopt / ml_dtypes (higher is faster).

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/fp8_throughput.py [--values 4000000] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ml_dtypes
import numpy as np

from bench_common import REPO, BenchError

FORMATS = {"e4m3": ml_dtypes.float8_e4m3fn, "e5m2": ml_dtypes.float8_e5m2}


def best_of(repeats: int, f) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def run_nnopt(values: Path, repeats: int) -> dict:
    print("== cargo run --release --example fp8_throughput", file=sys.stderr)
    r = subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "fp8_throughput", "--", str(values), str(repeats)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise BenchError(f"fp8_throughput failed: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=int, default=4_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    mags = np.exp2(rng.uniform(-20.0, 17.0, args.values)).astype(np.float32)
    x = np.where(rng.random(args.values) < 0.5, -mags, mags).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "values.npy"
        np.save(path, x)
        ours = run_nnopt(path, args.repeats)
    rows = []
    with np.errstate(over="ignore", invalid="ignore"):
        for name, dt in FORMATS.items():
            codes = x.astype(dt)
            ref = {
                "encode": best_of(args.repeats, lambda: x.astype(dt)),
                "decode": best_of(args.repeats, lambda: codes.astype(np.float32)),
            }
            for op, ref_op in [
                ("encode", "encode"),
                ("encode_saturating", "encode"),
                ("encode_stochastic", "encode"),
                ("decode", "decode"),
            ]:
                t_ours = ours[f"{name}_{op}"]
                t_ref = ref[ref_op]
                rows.append(
                    {
                        "format": name,
                        "op": op,
                        "nnopt_values_per_s": args.values / t_ours,
                        "ml_dtypes_op": ref_op,
                        "ml_dtypes_values_per_s": args.values / t_ref,
                        "ratio": t_ref / t_ours,
                    }
                )
    if args.json:
        print(json.dumps({"values": args.values, "repeats": args.repeats, "ml_dtypes": ml_dtypes.__version__, "rows": rows}, indent=2))
        return 0
    print(f"{args.values:,} values, best of {args.repeats}; ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}")
    print("| format | nnopt op | nnopt (M values/s) | ml_dtypes op | ml_dtypes (M values/s) | nnopt / ml_dtypes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['format']} | {r['op']} | {r['nnopt_values_per_s'] / 1e6:.0f} | {r['ml_dtypes_op']} | "
            f"{r['ml_dtypes_values_per_s'] / 1e6:.0f} | {r['ratio']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
