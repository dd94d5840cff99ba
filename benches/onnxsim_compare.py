#!/usr/bin/env python3
"""Benchmark: nnopt's optimization pipeline against onnxsim (PyPI `onnxsim`) on the same
float ONNX models.

For each model it measures
  - the node count (ONNX nodes other than Constant) of the original model and of
    `onnxsim.simplify(model)`;
  - the node count of nnopt's default pipeline extracted for the NPU
    (`nnopt opt M.onnx --target npu -o M.nnir`, then `nnopt inspect --json`: ops other
    than inputs and constants);
  - the estimated NPU and CPU-fallback cycles of each result on nnopt's NPU
    (`nnopt compile --target npu --json`): onnxsim's model compiled with the minimal
    pipeline of LOWERING_PIPELINE (see benches/README.md for why it fuses activations),
    the original compiled with nnopt's default pipeline;
  - the same for nnopt's pipeline run on onnxsim's output ("onnxsim->nnopt").

The models are generated here (benches/onnxsim_models.py: CNNs and MLPs with BatchNorm,
Pads, Transposes, Reshape chains, constant scalings, Concat/Split, PyTorch-export
patterns, no-op nodes and repeated subexpressions) and converted from
the float vision models in ../shared/models with nnopt's own ONNX writer after
shape inference only (`nnopt opt M.tflite --pipeline <shape-inference> --emit onnx`);
a model whose conversion fails is skipped with the reason printed. Every model is
checked first: onnxruntime and `nnopt run` must agree on it, and the outputs of
onnxsim's and nnopt's optimized models (`--emit onnx`) must agree with the original
under onnxruntime, within --tol (relative to the output's largest magnitude).

onnxsim, onnx and onnxruntime are required: a missing package is an error, not a skip.

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/onnxsim_compare.py [--nnopt PATH] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import onnx
    import onnxruntime as ort
    import onnxsim
except ImportError as e:  # reported by main(): the packages are required
    onnx = ort = onnxsim = None
    IMPORT_ERROR = str(e)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnxsim_models import GENERATED  # noqa: E402  (needs the path above)

from bench_common import BenchError, build_nnopt

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO.parent / "shared" / "models"
CONVERTED = [
    "generated/digits_cnn_float",
    "selfie_segmentation",
    "face_detection_short_range",
    "hand_landmark_lite",
    "iris_landmark",
]
# What an ONNX model needs before nnopt's NPU lowering, and nothing more: ONNX has no
# fused activations, and the NPU (like every int8 kernel library) applies Relu/Clip as
# the clamp of its producer's requantization, so a standalone Relu would be a CPU
# fallback. onnxsim's output is compiled with this pipeline.
LOWERING_PIPELINE = """\
name: lowering-only
passes:
  - shape-inference
  - activation-fusion
  - dead-node-elimination
"""
# Converting a TFLite model to ONNX with nnopt's writer, unoptimized.
CONVERT_PIPELINE = """\
name: convert-only
passes:
  - shape-inference
"""
CALIBRATION_SAMPLES = 8  # cycles do not depend on calibration; keeps the runs short



class Skip(Exception):
    """A converted model that cannot take part (the reason is printed)."""


class Nnopt:
    """The nnopt binary and the pipeline files of this run."""

    def __init__(self, exe: str, work: Path):
        self.exe = exe
        self.lowering = work / "lowering.yaml"
        self.lowering.write_text(LOWERING_PIPELINE)
        self.convert = work / "convert.yaml"
        self.convert.write_text(CONVERT_PIPELINE)

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [self.exe, *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(
                f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
            )
        return proc

    def ops(self, model: Path, out: Path, *pipeline: str) -> int:
        """Ops (non-input, non-constant nodes) after `nnopt opt` with the given options."""
        self("opt", model, *pipeline, "-o", out)
        summary = json.loads(self("inspect", out, "--json").stdout)
        return sum(summary["ops"].values())

    def cycles(self, model: Path, out: Path, *pipeline: str) -> dict:
        """NPU and CPU-fallback cycles of `nnopt compile --target npu`."""
        s = json.loads(
            self(
                "compile", model, "--target", "npu", "--json", "-o", out,
                "--calibration-samples", str(CALIBRATION_SAMPLES), *pipeline,
            ).stdout
        )
        return {
            "npu": s["npu_cycles"],
            "cpu": s["cpu_cycles"],
            "total": s["npu_cycles"] + s["cpu_cycles"],
            "fallbacks": len(s["fallbacks"]),
        }


def onnx_nodes(model: "onnx.ModelProto") -> int:
    """Nodes other than Constant."""
    return sum(1 for n in model.graph.node if n.op_type != "Constant")


def ort_run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's outputs under onnxruntime, without its own graph rewrites (which fold
    BatchNorm, Transposes etc. themselves and would hide a difference)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def random_inputs(model: "onnx.ModelProto") -> dict[str, np.ndarray]:
    """Seeded uniform [0, 1) inputs of the graph's static shapes (float32 only)."""
    rng = np.random.default_rng(0)
    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        t = i.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT:
            raise BenchError(f"input {i.name} is not float32")
        shape = [d.dim_value for d in t.shape.dim]
        if any(d <= 0 for d in shape):
            raise BenchError(f"input {i.name} has a dynamic shape {shape}")
        feeds[i.name] = rng.random(shape, dtype=np.float32)
    return feeds


def max_rel_error(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Largest |got - ref| over the outputs, each relative to max(1, max |ref|)."""
    if len(ref) != len(got):
        return float("inf")
    worst = 0.0
    for r, g in zip(ref, got):
        g = np.asarray(g).reshape(np.shape(r)) if np.size(g) == np.size(r) else None
        if g is None:
            return float("inf")
        scale = max(1.0, float(np.abs(r).max(initial=0.0)))
        worst = max(worst, float(np.abs(g.astype(np.float64) - r).max(initial=0.0)) / scale)
    return worst


def nnopt_run(nnopt: Nnopt, model: Path, feeds: dict, work: Path, n_out: int) -> list:
    ins = []
    for k, x in enumerate(feeds.values()):
        p = work / f"in{k}.npy"
        np.save(p, x)
        ins += ["--input", p]
    out = work / "nnopt_out.npy"
    nnopt("run", model, *ins, "--output", out)
    paths = [out] if n_out == 1 else [work / f"nnopt_out_{k}.npy" for k in range(n_out)]
    return [np.load(p) for p in paths]


def prepare(name: str, nnopt: Nnopt, work: Path) -> Path:
    """The model as ONNX in `work`: generated, an .onnx path, or converted from TFLite."""
    dst = work / "model.onnx"
    if name in GENERATED:
        onnx.save(GENERATED[name](), dst)
        return dst
    if name.endswith(".onnx"):
        src = Path(name)
        if not src.is_file():
            raise BenchError(f"model {src} not found")
        dst.write_bytes(src.read_bytes())
        return dst
    src = Path(name) if name.endswith(".tflite") else MODELS_DIR / f"{name}.tflite"
    if not src.is_file():
        raise BenchError(f"model {src} not found")
    try:
        nnopt("opt", src, "--pipeline", nnopt.convert, "--emit", "onnx", "-o", dst)
    except BenchError as e:
        raise Skip(f"nnopt cannot write it as ONNX: {str(e).splitlines()[-1]}") from e
    return dst


def measure(name: str, nnopt: Nnopt, work: Path, tol: float) -> dict:
    converted = name not in GENERATED
    path = prepare(name, nnopt, work)
    model = onnx.load(path)
    feeds = random_inputs(model)
    try:
        ref = ort_run(path, feeds)
    except Exception as e:  # onnxruntime's own exception types
        msg = f"onnxruntime refuses the ONNX model: {str(e).splitlines()[0]}"
        if converted:
            raise Skip(msg) from e
        raise BenchError(msg) from e
    err = max_rel_error(ref, nnopt_run(nnopt, path, feeds, work, len(ref)))
    if not err <= tol:
        msg = f"onnxruntime and `nnopt run` disagree on the ONNX model (error {err:.2e})"
        if converted:
            raise Skip(msg)
        raise BenchError(msg)

    # onnxsim
    simplified, ok = onnxsim.simplify(model)
    if not ok:
        raise BenchError("onnxsim's own check of its simplified model failed")
    sim = work / "onnxsim.onnx"
    onnx.save(simplified, sim)
    err_sim = max_rel_error(ref, ort_run(sim, feeds))
    if not err_sim <= tol:
        raise BenchError(f"onnxsim's model changes the outputs (error {err_sim:.2e})")

    # nnopt's default pipeline, extracted for the NPU; its ONNX checked by onnxruntime
    npu = ("--target", "npu")
    opt_onnx = work / "nnopt.onnx"
    nnopt("opt", path, *npu, "--emit", "onnx", "-o", opt_onnx)
    err_nn = max_rel_error(ref, ort_run(opt_onnx, feeds))
    if not err_nn <= tol:
        raise BenchError(f"nnopt's optimized model changes the outputs (error {err_nn:.2e})")

    lowering = ("--pipeline", nnopt.lowering)
    npub = work / "out.npub"
    row = {
        "model": name,
        "source": "converted" if converted else "generated",
        "nodes": {
            "original": onnx_nodes(model),
            "onnxsim": onnx_nodes(simplified),
            "onnxsim_lowered": nnopt.ops(sim, work / "sim.nnir", *lowering),
            "nnopt": nnopt.ops(path, work / "nnopt.nnir", *npu),
            "onnxsim_nnopt": nnopt.ops(sim, work / "sim_nnopt.nnir", *npu),
        },
        "cycles": {
            "onnxsim": nnopt.cycles(sim, npub, *lowering),
            "nnopt": nnopt.cycles(path, npub),
            "onnxsim_nnopt": nnopt.cycles(sim, npub),
        },
        "max_error": {"onnxsim": err_sim, "nnopt": err_nn},
    }
    n, c = row["nodes"], row["cycles"]
    row["node_ratio"] = n["nnopt"] / n["onnxsim_lowered"]
    row["cycle_ratio"] = c["nnopt"]["total"] / c["onnxsim"]["total"]
    return row


def worse(row: dict) -> list[str]:
    """How nnopt does worse than onnxsim on this model (empty when it does not)."""
    n, c = row["nodes"], row["cycles"]
    out = []
    if n["nnopt"] > n["onnxsim_lowered"]:
        out.append(f"{n['nnopt']} nodes > onnxsim's {n['onnxsim_lowered']}")
    if c["nnopt"]["total"] > c["onnxsim"]["total"]:
        out.append(f"{c['nnopt']['total']} cycles > onnxsim's {c['onnxsim']['total']}")
    return out


def table(rows: list[dict], skipped: dict[str, str]) -> str:
    lines = [
        "| model | nodes: original | onnxsim | onnxsim, act. fused | nnopt | ratio "
        "| cycles (NPU+CPU): onnxsim | nnopt | ratio | onnxsim→nnopt nodes | cycles |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cyc(c: dict) -> str:
        return f"{c['total']:,}" + (f" ({c['cpu']:,} CPU)" if c["cpu"] else "")

    for r in rows:
        n, c = r["nodes"], r["cycles"]
        nmark = " ✗" if n["nnopt"] > n["onnxsim_lowered"] else ""
        cmark = " ✗" if c["nnopt"]["total"] > c["onnxsim"]["total"] else ""
        lines.append(
            f"| {r['model']} | {n['original']} | {n['onnxsim']} | {n['onnxsim_lowered']} "
            f"| {n['nnopt']} | {r['node_ratio']:.2f}{nmark} | {cyc(c['onnxsim'])} "
            f"| {cyc(c['nnopt'])} | {r['cycle_ratio']:.3f}{cmark} | {n['onnxsim_nnopt']} "
            f"| {cyc(c['onnxsim_nnopt'])} |"
        )
    lines.append("")
    lines.append(
        "Nodes: ONNX nodes other than Constant (original, onnxsim), and IR ops other than "
        "inputs and constants after nnopt's lowering-only pipeline (\"act. fused\": "
        "onnxsim's model with Relu/Clip fused into their producers) or its default "
        "pipeline with `--target npu` (nnopt). Cycles: `nnopt compile --target npu` "
        "(npu-256) estimate, NPU plus CPU-fallback cycles. Ratios are nnopt / onnxsim "
        "(nodes against the act.-fused count); ✗ marks a model where nnopt is worse."
    )
    for name, reason in skipped.items():
        lines.append(f"Skipped {name}: {reason}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "models", nargs="*",
        help=f"generated model names ({', '.join(GENERATED)}), names under {MODELS_DIR} "
        "(without .tflite), or .onnx/.tflite paths; default: all generated models and "
        f"{', '.join(CONVERTED)}",
    )
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release binary)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="largest output error, relative to max(1, max |output|) "
                    "(default 1e-4)")
    ap.add_argument("--keep", metavar="DIR", help="keep every model and output under DIR")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if nnopt is worse than onnxsim on a model (nodes or cycles)")
    args = ap.parse_args()

    skipped: dict[str, str] = {}
    rows = []
    try:
        if onnxsim is None:
            raise BenchError(
                f"{IMPORT_ERROR}: install tools/requirements.txt (onnx, onnxruntime, "
                "onnxsim) into this Python's environment"
            )
        exe = args.nnopt or build_nnopt()
        if not Path(exe).is_file():
            raise BenchError(f"--nnopt {exe}: no such file")
        with tempfile.TemporaryDirectory(prefix="onnxsim-compare-") as tmp:
            root = Path(args.keep) if args.keep else Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            nnopt = Nnopt(exe, root)
            for name in args.models or [*GENERATED, *CONVERTED]:
                print(f"== {name}", file=sys.stderr)
                work = root / name.replace("/", "_").removesuffix(".onnx").removesuffix(
                    ".tflite")
                work.mkdir(parents=True, exist_ok=True)
                try:
                    rows.append(measure(name, nnopt, work, args.tol))
                except Skip as e:
                    print(f"   skipped: {e}", file=sys.stderr)
                    skipped[name] = str(e)
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps({"models": rows, "skipped": skipped}, indent=2))
    else:
        print(table(rows, skipped))
    losses = {r["model"]: worse(r) for r in rows if worse(r)}
    for model, why in losses.items():
        print(f"nnopt worse than onnxsim on {model}: {'; '.join(why)}", file=sys.stderr)
    if args.check and losses:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
