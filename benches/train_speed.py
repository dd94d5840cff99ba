"""Training throughput: nnopt's client runtime against PyTorch CPU on the same models.

Runs, in one invocation, `cargo run --release --example train_throughput` (nnopt: the
model compiled into a training program, batch 16, SGD lr 0.05 momentum 0.9 weight decay
1e-4, Glorot re-initialization; FP32 and FP8 steps) and the same architecture, batch,
loss and optimizer in PyTorch, and prints samples per second with ratios to PyTorch, one
thread (RAYON_NUM_THREADS=1, torch.set_num_threads(1)) and all threads. Two models:

- `digits`: the digits CNN (../shared/models/generated/digits_cnn_float.tflite) on the
  1437 training rows of the digits data;
- `mobilenet96`: a MobileNet-like 96x96x3 classifier (MobileNetV1 at width 0.25: a 3x3/2
  stem conv to 8 channels, 13 depthwise-separable blocks of 3x3 depthwise + 1x1 pointwise
  convs with ReLU6, strides 2 where the channels double, global average pool, dense to
  10 classes; 0.21 M parameters, 7.5 M multiply-adds a sample), written as ONNX into
  target/bench-models/mobilenet_like_96.onnx (needs the `onnx` package), trained on 256
  synthetic samples (throughput only).

PyTorch is needed only here (not in CI): install it in a separate environment, e.g.
`python3.11 -m venv /work/bench-venv && /work/bench-venv/bin/pip install torch numpy onnx`,
and run this script with that interpreter from the repository root:

    /work/bench-venv/bin/python benches/train_speed.py [--epochs 3] [--models digits,mobilenet96] [--json]
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
MOBILENET96 = REPO / "target" / "bench-models" / "mobilenet_like_96.onnx"
MOBILENET96_SAMPLES = 256
# MobileNetV1 at width 0.25: (stride, output channels) of the depthwise-separable blocks.
MOBILENET96_BLOCKS = ([(1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128)]
                      + [(1, 128)] * 5 + [(2, 256), (1, 256)])
MOBILENET96_STEM = 8


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


def mobilenet96_onnx() -> Path:
    """Writes the MobileNet-like 96x96 model (seeded weights) unless it exists."""
    if MOBILENET96.is_file():
        return MOBILENET96
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from onnxsim_models import Builder
    except ImportError as e:
        raise BenchError(f"the onnx package is needed to write {MOBILENET96}: {e}") from e
    b = Builder("mobilenet_like_96", 96)
    h = b.clip6(b.conv("input", 3, MOBILENET96_STEM, 3, pad=1, stride=2))
    cin = MOBILENET96_STEM
    for stride, cout in MOBILENET96_BLOCKS:
        h = b.clip6(b.conv(h, cin, cin, 3, pad=1, group=cin, stride=stride))
        h = b.clip6(b.conv(h, cin, cout, 1))
        cin = cout
    h = b.op("Flatten", [b.op("GlobalAveragePool", [h])], axis=1)
    model = b.finish([("input", [1, 3, 96, 96])], b.gemm(h, cin, 10), [1, 10])
    MOBILENET96.parent.mkdir(parents=True, exist_ok=True)
    tmp = MOBILENET96.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(MOBILENET96)
    return MOBILENET96


def torch_model(name: str):
    """The PyTorch module of model `name` and its training data (x, y)."""
    import torch
    import torch.nn.functional as F

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

    class MobileNet96(torch.nn.Module):
        """The architecture of mobilenet96_onnx()."""

        def __init__(self):
            super().__init__()
            layers = [torch.nn.Conv2d(3, MOBILENET96_STEM, 3, stride=2, padding=1),
                      torch.nn.ReLU6()]
            cin = MOBILENET96_STEM
            for stride, cout in MOBILENET96_BLOCKS:
                layers += [torch.nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin),
                           torch.nn.ReLU6(), torch.nn.Conv2d(cin, cout, 1), torch.nn.ReLU6()]
                cin = cout
            self.features = torch.nn.Sequential(*layers)
            self.fc = torch.nn.Linear(cin, 10)

        def forward(self, x):
            return self.fc(self.features(x).mean(dim=(2, 3)))

    if name == "digits":
        x, y = load_digits()
        return DigitsCnn(), torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(96)
    x = rng.uniform(-1, 1, (MOBILENET96_SAMPLES, 3, 96, 96)).astype(np.float32)
    y = np.arange(MOBILENET96_SAMPLES) % 10
    return MobileNet96(), torch.from_numpy(x), torch.from_numpy(y)


def torch_rate(name: str, epochs: int, threads: int | None) -> float:
    """Samples per second of PyTorch training model `name`'s architecture."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        raise BenchError(f"PyTorch is not installed in {sys.executable}: {e}") from e
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, x, y = torch_model(name)
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


def nnopt_rates(name: str, epochs: int, threads: int | None) -> dict[str, float]:
    """Samples per second of nnopt's FP32 and FP8 training steps (the example's output)."""
    env = dict(os.environ)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    model, data = ((MODEL, DATA) if name == "digits"
                   else (mobilenet96_onnx(), f"synthetic:{MOBILENET96_SAMPLES}"))
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "train_throughput", "--",
           str(model), str(data), str(epochs)]
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
    ap.add_argument("--models", default="digits,mobilenet96",
                    help="comma-separated: digits, mobilenet96 (default: both)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or any(m not in ("digits", "mobilenet96") for m in names):
        ap.error(f"--models: choose from digits, mobilenet96, got {args.models!r}")
    load = os.getloadavg()
    result = []
    for name in names:
        for label, threads in [("1 thread", 1), ("all threads", None)]:
            nn = nnopt_rates(name, args.epochs, threads)
            pt = torch_rate(name, args.epochs, threads)
            result.append({"model": name, "threads": label, "pytorch": pt,
                           "nnopt_fp32": nn["fp32"], "nnopt_fp8": nn["fp8"],
                           "fp32_vs_pytorch": nn["fp32"] / pt, "fp8_vs_pytorch": nn["fp8"] / pt,
                           "fp8_vs_fp32": nn["fp8"] / nn["fp32"]})
    if args.json:
        print(json.dumps({"load_before": load, "load_after": os.getloadavg(),
                          "results": result}, indent=2))
        return 0
    print(f"batch {BATCH}, {args.epochs} epochs (digits: 1437 rows; mobilenet96: "
          f"{MOBILENET96_SAMPLES} synthetic rows); samples/s; "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("| model | threads | PyTorch | nnopt FP32 | FP32 / PyTorch | nnopt FP8 "
          "| FP8 / PyTorch | FP8 / FP32 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in result:
        print(f"| {r['model']} | {r['threads']} | {r['pytorch']:.0f} | {r['nnopt_fp32']:.0f} | "
              f"{r['fp32_vs_pytorch']:.2f} | {r['nnopt_fp8']:.0f} | "
              f"{r['fp8_vs_pytorch']:.2f} | {r['fp8_vs_fp32']:.2f} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
