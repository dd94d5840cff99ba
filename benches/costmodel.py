#!/usr/bin/env python3
"""Benchmark: the learned cost model against Vela, beside the baselines, in one table.

Trains the GraphSAGE predictor and the BRP-NAS-style GCN baseline (`nnopt costmodel
train --arch sage|gcn`) on a dataset's random 80/20 split and once per held-out search
space (leave one space out), then runs `nnopt
costmodel eval DATA --model ... --real ...` and prints its table: per Vela configuration,
figure (cycles, SRAM), split and space, the MAPE, the share of networks within +-10 % and
the median predicted / Vela ratio of the analytic NPU model, the linear and per-operator
baselines, the GCN and the GraphSAGE model; then the real networks (the shared models, and the ONNX
wheel's vision models when the test data has them), priced by the model trained on the
random split against Vela run on their int8 TFLite form.

Goals (issue 17): MAPE < 3 % on Vela cycles and SRAM (random split), < 8 % leave one
space out, >= 95 % of networks within +-10 %, real networks within +-10 % of Vela.

Usage (from the repo root; the dataset from `nnopt costmodel dataset --labels npu,vela`):
  .venv/bin/python benches/costmodel.py DATA
  .venv/bin/python benches/costmodel.py DATA --epochs 50 --no-loso --out /tmp/models
  .venv/bin/python benches/costmodel.py DATA --nnopt target/release/nnopt --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench_common import REPO, BenchError, build_nnopt

def spaces_of(data: str) -> list[str]:
    """The search spaces the dataset holds (from its manifest)."""
    manifest = Path(data) / "manifest.json"
    if not manifest.is_file():
        raise BenchError(f"{manifest} is missing: finish the dataset run first")
    return sorted(json.loads(manifest.read_text())["spaces"])

# Real networks: int8 models as they are, float ones quantized to int8 by nnopt.
SHARED = [
    "person_detect.tflite",
    "keyword_scrambled_8bit.tflite",
    "micro_speech_quantized.tflite",
    "hello_world_int8.tflite",
    "generated/mobilenet_v2_035_96_int8.tflite",
    "generated/digits_cnn_int8.tflite",
    "face_detection_short_range.tflite",
    "iris_landmark.tflite",
    "hand_landmark_lite.tflite",
    "selfie_segmentation.tflite",
]


def real_networks() -> list[Path]:
    shared = REPO.parent / "shared" / "models"
    out = [shared / m for m in SHARED if (shared / m).is_file()]
    light = REPO / "testdata" / "onnx-light"
    out += sorted(light.glob("*/model.onnx")) if light.is_dir() else []
    return out


def train(nnopt: str, data: str, out: Path, without: str | None, epochs: int, arch: str) -> Path:
    name = f"{arch}-" + (f"without-{without}" if without else "random")
    model = out / f"{name}.safetensors"
    cmd = [nnopt, "costmodel", "train", data, "-o", str(model), "--epochs", str(epochs), "--arch", arch, "--json"]
    if without:
        cmd += ["--without", without]
    start = time.time()
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed:\n{run.stderr}")
    info = json.loads(run.stdout)["training"]
    print(
        f"== trained {name}: {info['train_networks']} networks, {time.time() - start:.0f} s",
        file=sys.stderr,
    )
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="dataset directory")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release one)")
    ap.add_argument("--vela", default=str(REPO / ".venv" / "bin" / "vela"))
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--out", default="target/costmodel-bench", help="where the models go")
    ap.add_argument("--no-loso", action="store_true", help="skip leave-one-space-out")
    ap.add_argument("--no-real", action="store_true", help="skip the real networks")
    ap.add_argument("--json", action="store_true", help="print eval's JSON rows")
    args = ap.parse_args()
    try:
        nnopt = args.nnopt or build_nnopt()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        splits = [None] + ([] if args.no_loso else spaces_of(args.data))
        # The random-split GraphSAGE model comes first: eval prices the real networks with it.
        models = [train(nnopt, args.data, out, w, args.epochs, arch) for arch in ["sage", "gcn"] for w in splits]
        cmd = [nnopt, "costmodel", "eval", args.data, "--vela", args.vela]
        for m in models:
            cmd += ["--model", str(m)]
        if not args.no_real:
            for r in real_networks():
                cmd += ["--real", str(r)]
        if args.json:
            cmd.append("--json")
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            raise BenchError(f"nnopt costmodel eval failed:\n{run.stderr}")
        print(run.stdout, end="")
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
