"""Training throughput: nnopt's client runtime against PyTorch CPU on the same model.

Runs, in one invocation, `cargo run --release --example train_throughput` (nnopt: the
digits CNN compiled into a training program, batch 16, SGD lr 0.05 momentum 0.9 weight
decay 1e-4, Glorot re-initialization; FP32 and FP8 steps) and the same architecture,
batch, loss and optimizer in PyTorch, and prints samples per second with ratios to
PyTorch, one thread (RAYON_NUM_THREADS=1, torch.set_num_threads(1)) and all threads.

PyTorch is needed only here (not in CI): install it in a separate environment, e.g.
`python3.11 -m venv /work/bench-venv && /work/bench-venv/bin/pip install torch numpy`,
and run this script with that interpreter from the repository root:

    /work/bench-venv/bin/python benches/train_speed.py [--epochs 3] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "digits.csv.gz"
MODEL = REPO.parent / "shared" / "models" / "generated" / "digits_cnn_float.tflite"
BATCH = 16


class BenchError(Exception):
    """A failed step (missing tool or data, a failing command)."""


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The training rows of the digits CSV (every fifth row is the test split, as in
    `nnopt fl simulate`): images [N, 1, 8, 8] and labels [N]."""
    if not DATA.is_file():
        raise BenchError(f"{DATA} is missing")
    with gzip.open(DATA, "rt") as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    if not rows[0][0].replace(".", "", 1).lstrip("-").isdigit():
        rows = rows[1:]
    values = np.array(rows, dtype=np.float32)
    train = values[[i for i in range(len(values)) if i % 5 != 0]]
    return train[:, :64].reshape(-1, 1, 8, 8), train[:, 64].astype(np.int64)


def torch_rate(epochs: int, threads: int | None) -> float:
    """Samples per second of PyTorch training the digits CNN's architecture."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        raise BenchError(f"PyTorch is not installed in {sys.executable}: {e}") from e
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)

    class DigitsCnn(torch.nn.Module):
        """conv 3x3 16 relu, conv 3x3/2 32 relu (TF 'same' padding), depthwise 3x3
        relu6, conv 1x1 32 relu, global average pool, dense 10."""

        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv2d(1, 16, 3, padding=1)
            self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2)
            self.dw = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
            self.pw = torch.nn.Conv2d(32, 32, 1)
            self.fc = torch.nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.c1(x))
            x = F.relu(self.c2(F.pad(x, (0, 1, 0, 1))))
            x = F.relu6(self.dw(x))
            x = F.relu(self.pw(x))
            return self.fc(x.mean(dim=(2, 3)))

    x, y = load_digits()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = DigitsCnn()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(0)

    def epoch() -> int:
        order = torch.from_numpy(rng.permutation(len(x)))
        n = 0
        for i in range(0, len(order) - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            n += BATCH
        return n

    epoch()  # warm-up, as the nnopt example does
    t = time.perf_counter()
    samples = sum(epoch() for _ in range(epochs))
    return samples / (time.perf_counter() - t)


def nnopt_rates(epochs: int, threads: int | None) -> dict[str, float]:
    """Samples per second of nnopt's FP32 and FP8 training steps (the example's output)."""
    env = dict(os.environ)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "train_throughput", "--",
           str(MODEL), str(DATA), str(epochs)]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed:\n{p.stderr[-2000:]}")
    rates = dict(re.findall(r"^(fp32|fp8)\s+([0-9.]+)", p.stdout, re.M))
    if set(rates) != {"fp32", "fp8"}:
        raise BenchError(f"unexpected train_throughput output:\n{p.stdout}")
    return {k: float(v) for k, v in rates.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    load = os.getloadavg()
    result = []
    for label, threads in [("1 thread", 1), ("all threads", None)]:
        nn = nnopt_rates(args.epochs, threads)
        pt = torch_rate(args.epochs, threads)
        result.append({"threads": label, "pytorch": pt, "nnopt_fp32": nn["fp32"],
                       "nnopt_fp8": nn["fp8"], "fp32_vs_pytorch": nn["fp32"] / pt,
                       "fp8_vs_pytorch": nn["fp8"] / pt, "fp8_vs_fp32": nn["fp8"] / nn["fp32"]})
    if args.json:
        print(json.dumps({"load_before": load, "load_after": os.getloadavg(),
                          "results": result}, indent=2))
        return 0
    print(f"digits CNN, batch {BATCH}, {args.epochs} epochs of 1437 rows; samples/s; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| threads | PyTorch | nnopt FP32 | FP32 / PyTorch | nnopt FP8 | FP8 / PyTorch "
          "| FP8 / FP32 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in result:
        print(f"| {r['threads']} | {r['pytorch']:.0f} | {r['nnopt_fp32']:.0f} | "
              f"{r['fp32_vs_pytorch']:.2f} | {r['nnopt_fp8']:.0f} | "
              f"{r['fp8_vs_pytorch']:.2f} | {r['fp8_vs_fp32']:.2f} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
