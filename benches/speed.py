#!/usr/bin/env python3
"""Benchmark: nnopt's inference speed against LiteRT, onnxruntime and tract, in one run.

Three sections, each timed per inference as CPU time (user + sys) and wall time:

- int8: int8 TFLite models, `nnopt run MODEL` against LiteRT with its three op resolvers:
  default (builtin kernels + the XNNPACK delegate), builtin
  (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`) and reference (`BUILTIN_REF`).
- float: float models, `nnopt run MODEL` against onnxruntime and tract (ONNX models; tract
  through its Rust API in `examples/tract_run.rs`, built with `cargo build --release
  --example tract_run`) or LiteRT default and builtin (TFLite models).
- npu: the virtual NPU against the interpreter on the int8 models:
  `nnopt compile MODEL --target npu -o M.npub`, then `nnopt run M.npub` against
  `nnopt run MODEL`.

Each comparison is made twice: single-threaded (`--threads 1` for nnopt when `nnopt run`
has that option, `num_threads=1` for LiteRT, `intra_op_num_threads=1` for onnxruntime,
tract) and with all threads (nnopt's default, LiteRT `num_threads=os.cpu_count()`,
onnxruntime's default; tract only runs single-threaded: tract-onnx's default build has
no multithreaded matrix kernels).

nnopt is a CLI, so model loading must not count: `nnopt run` runs k times when its input's
leading dimension is k times the model's batch, so one process runs k = 1 and one
k = 1 + R, and a per-inference time is (t(1 + R) - t(1)) / R, CPU time from
getrusage(RUSAGE_CHILDREN) and wall time from perf_counter. R starts at `--repeats` and
grows until the R inferences take `--min-time` seconds of CPU. LiteRT and onnxruntime run
in a child process per measurement (some models crash LiteRT): they are warmed up with one
inference, then R inferences are timed in-process with process_time and perf_counter, R
again chosen to fill `--min-time`. All runtimes get the same seeded random inputs.

A model a reference runtime cannot load or run is reported as n/a with the reason; a
failure of nnopt (other than the NPU compiler refusing a model) is an error. The goals
(`--check` makes a missed one exit status 1), all on single-thread CPU time:
nnopt <= 1.5x LiteRT builtin on mobilenet_v2_224_int8; float models nnopt <= 1.2x LiteRT
builtin (TFLite) and <= 1.5x onnxruntime (ONNX); the virtual NPU <= 1.2x the interpreter.

Usage (from the repo root; see benches/README.md):
  .venv/bin/python benches/speed.py [--nnopt PATH] [--quick] [--models A,B] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from importlib import metadata
from pathlib import Path

import numpy as np

from bench_common import REPO, BenchError, build_nnopt

MODELS_DIR = REPO.parent / "shared" / "models"
CACHE_DIR = REPO / "target" / "bench-models"
LITERT_TESTDATA = REPO / "testdata" / "litert"
SEED = 20250601

# The models measured by default. `generated` ones come from benches/speed_models.py.
GENERATED = {"mobilenet_v2_224_int8": "int8", "mobilenet_v2_224": "float", "resnet50": "float"}
INT8_MODELS = [
    "mobilenet_v2_224_int8",
    "person_detect",
    "generated/mobilenet_v2_035_96_int8",
    "generated/digits_cnn_int8",
    "micro_speech_quantized",
    "keyword_scrambled_8bit",
    "hello_world_int8",
]
FLOAT_MODELS = [
    "mobilenet_v2_224",
    "resnet50",
    "face_detection_short_range",
    "hand_landmark_lite",
    "iris_landmark",
    "selfie_segmentation",
]
OPTIONAL_FLOAT_GLOBS = ["palm_detection*.tflite", "*/palm_detection*.tflite"]
QUICK_SKIP = set(GENERATED)  # the 224x224 MobileNetV2 pair and ResNet-50

RESOLVERS = {  # LiteRT op resolvers by the name the tables use
    "default": "AUTO",
    "builtin": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    "reference": "BUILTIN_REF",
}
INT8_GOAL_MODEL = "mobilenet_v2_224_int8"
GOALS = {
    "int8_vs_litert_builtin": 1.5,
    "float_vs_litert_builtin": 1.2,
    "float_vs_onnxruntime": 1.5,
    "npu_vs_interpreter": 1.2,
}
MEDIAPIPE_TCONV = "Convolution2DTransposeBias"
NNOPT_DTYPES = {
    "i8": "int8", "u8": "uint8", "i16": "int16", "u16": "uint16", "i32": "int32",
    "u32": "uint32", "i64": "int64", "u64": "uint64", "f16": "float16", "f32": "float32",
    "f64": "float64", "bool": "bool",
}
MAX_INPUT_BYTES = 256 << 20  # cap of one stacked nnopt input file


# ----------------------------------------------------------------------------- models


class Model:
    """A model to measure: its display name, file, kind (int8 or float) and inputs."""

    def __init__(self, name: str, path: Path, kind: str):
        self.name = name
        self.path = path
        self.kind = kind
        self.inputs: list[tuple[np.dtype, list[int]]] = []

    @property
    def fmt(self) -> str:
        return "onnx" if self.path.suffix == ".onnx" else "tflite"


def nnopt_inputs(nnopt: str, path: Path, what: str) -> tuple[list, dict]:
    """The (dtype, shape) of each input of a model or .npub, from `nnopt inspect --json`,
    and the whole description."""
    p = subprocess.run([nnopt, "inspect", str(path), "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise BenchError(f"{what}: `nnopt inspect {path} --json` failed (exit {p.returncode}):\n"
                         f"{p.stderr[-2000:]}")
    desc = json.loads(p.stdout)
    inputs = []
    for i in desc["inputs"]:
        if i["dtype"] not in NNOPT_DTYPES:
            raise BenchError(f"{what}: input {i['name']} has dtype {i['dtype']}, unknown here")
        shape = [int(v) for v in i["shape"]]
        if not shape or min(shape) < 1:
            raise BenchError(f"{what}: input {i['name']} has shape {shape}; a static shape "
                             "with a leading batch dimension is needed to stack inferences")
        inputs.append((np.dtype(NNOPT_DTYPES[i["dtype"]]), shape))
    return inputs, desc


def classify(desc: dict) -> str:
    """int8 when the model has quantized inputs or outputs or a quantize op, else float."""
    io = desc["inputs"] + desc["outputs"]
    if any(t.get("quantization") for t in io) or "quantize" in desc.get("ops", {}):
        return "int8"
    return "float"


def resolve_models(names: list[str], nnopt: str, cache: Path, regenerate: bool) -> list[Model]:
    """Model objects for names (default lists, names under ../shared/models, or paths)."""
    models = []
    for name in names:
        if name in GENERATED:
            paths = __import__("speed_models").ensure_models(cache, nnopt, regenerate)
            models.append(Model(name, paths[name], GENERATED[name]))
            continue
        path = Path(name)
        if path.suffix not in (".onnx", ".tflite"):
            path = MODELS_DIR / f"{name}.tflite"
        if not path.is_file():
            raise BenchError(f"model {name}: {path} not found")
        models.append(Model(path.stem, path, ""))
    for m in models:
        m.inputs, desc = nnopt_inputs(nnopt, m.path, m.name)
        if not m.kind:
            m.kind = classify(desc)
    return models


def default_model_names() -> list[str]:
    names = INT8_MODELS + FLOAT_MODELS
    for pattern in OPTIONAL_FLOAT_GLOBS:
        for p in sorted(MODELS_DIR.glob(pattern)):
            rel = str(p.relative_to(MODELS_DIR).with_suffix(""))
            if rel not in names:
                names.append(rel)
    return names


def select(names: list[str], wanted: list[str] | None, quick: bool) -> list[str]:
    if wanted:
        out = []
        for w in wanted:
            match = [n for n in names if w in (n, Path(n).name)]
            out.extend(match or [w])  # not a default name: a shared model name or a path
        return out
    return [n for n in names if not (quick and n in QUICK_SKIP)]


def make_input(model: Model, j: int) -> np.ndarray:
    """One inference's worth of input j: seeded uniform values over the integer type's
    range, or in [-1, 1] for floats."""
    dtype, shape = model.inputs[j]
    rng = np.random.default_rng((SEED + zlib.crc32(f"{model.name}/{j}".encode())) % 2**32)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)


# ----------------------------------------------------------------------------- nnopt timing


def has_threads_flag(nnopt: str) -> bool:
    p = subprocess.run([nnopt, "run", "--help"], capture_output=True, text=True)
    return "--threads" in p.stdout


def run_child(cmd: list[str], what: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Runs `cmd`; returns its CPU seconds (user + sys, from RUSAGE_CHILDREN), wall
    seconds and the process. A failure is an error naming `what`."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise BenchError(f"{what}: `{' '.join(cmd)}` failed (exit {p.returncode}):\n"
                         f"{(p.stderr or p.stdout)[-2000:]}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return cpu, wall, p


class NnoptTimer:
    """Per-inference times of `nnopt run` from processes running 1 and 1 + R inferences."""

    def __init__(self, nnopt: str, tmp: Path, args):
        self.nnopt = nnopt
        self.tmp = tmp
        self.repeats = args.repeats
        self.min_time = args.min_time
        self.max_repeats = args.max_repeats
        self.cache: dict = {}

    def stacked(self, model: Model, k: int) -> list[str]:
        """.npy files holding k inferences' worth of each input (the one seeded sample
        repeated along the batch axis)."""
        files = []
        for j, (dtype, shape) in enumerate(model.inputs):
            x = make_input(model, j)
            path = self.tmp / f"{model.name}.in{j}.k{k}.npy"
            if not path.exists():
                np.save(path, np.tile(x, (k,) + (1,) * (x.ndim - 1)))
            files.append(str(path))
        return files

    def measure(self, model: Model, file: Path, extra: list[str], label: str) -> dict:
        """Times `nnopt run FILE EXTRA` (the inputs are `model`'s); cached per
        (file, flags)."""
        key = (str(file), tuple(extra))
        if key in self.cache:
            return self.cache[key]
        sample = sum(math.prod(s) * d.itemsize for d, s in model.inputs)
        cap = max(1, min(self.max_repeats, MAX_INPUT_BYTES // max(1, sample) - 1))
        reps = min(self.repeats, cap)
        what = f"{model.name}: {label}"
        while True:
            print(f"   {label}: k = 1 and 1 + {reps}", file=sys.stderr)
            c1, w1 = self._run(file, model, 1, extra, what)
            cr, wr = self._run(file, model, 1 + reps, extra, what)
            dc = cr - c1
            if dc >= self.min_time or reps >= cap:
                break
            per = dc / reps
            if dc < 0.05 * self.min_time or per <= 0:
                grow = reps * 20  # too short to extrapolate from
            else:
                grow = math.ceil(self.min_time / per * 1.2)
            reps = min(cap, max(grow, reps * 2))
        # remove this model's stacked inputs except k = 1 (they can be large)
        for f in self.tmp.glob(f"{model.name}.in*.k*.npy"):
            if not f.name.endswith(".k1.npy"):
                f.unlink()
        r = {
            "cpu_ms": (cr - c1) / reps * 1e3,
            "wall_ms": (wr - w1) / reps * 1e3,
            "repeats": reps,
            "k1_process_cpu_ms": c1 * 1e3,  # load + one inference
            "k1_process_wall_ms": w1 * 1e3,
        }
        if r["cpu_ms"] <= 0:
            r["note"] = "timing noise exceeded the run time (per-inference time <= 0)"
        self.cache[key] = r
        return r

    def _run(self, file: Path, model: Model, k: int, extra: list[str], what: str):
        cmd = [self.nnopt, "run", str(file)]
        for f in self.stacked(model, k):
            cmd += ["--input", f]
        cpu, wall, _ = run_child(cmd + extra, what)
        return cpu, wall


# ----------------------------------------------------------------------------- reference runtimes


def worker(spec: dict) -> None:
    """Child process: load one model in LiteRT or onnxruntime, time it, print a RESULT line
    and _exit (skipping teardown, which crashes on some models)."""
    def stage(what: str) -> None:  # the parent names the last stage when the child dies
        sys.stdout.write(f"STAGE {what}\n")
        sys.stdout.flush()

    res: dict = {}
    try:
        inputs = [np.load(p) for p in spec["inputs"]]
        threads = spec["threads"]
        if spec["runtime"] == "litert":
            from ai_edge_litert.interpreter import Interpreter, OpResolverType

            stage("loading the model")
            it = Interpreter(
                model_path=spec["model"],
                num_threads=threads,
                experimental_op_resolver_type=getattr(OpResolverType,
                                                      RESOLVERS[spec["resolver"]]),
            )
            stage("allocate_tensors")
            it.allocate_tensors()
            details = it.get_input_details()
            if len(details) != len(inputs):
                raise ValueError(f"LiteRT sees {len(details)} inputs, nnopt {len(inputs)}")
            for d, x in zip(details, inputs):
                if list(d["shape"]) != list(x.shape) or np.dtype(d["dtype"]) != x.dtype:
                    raise ValueError(f"LiteRT input {d['name']} is {np.dtype(d['dtype'])} "
                                     f"{list(d['shape'])}, nnopt's {x.dtype} {list(x.shape)}")

            def once():
                for d, x in zip(details, inputs):
                    it.set_tensor(d["index"], x)
                it.invoke()
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            if threads:
                so.intra_op_num_threads = threads
                so.inter_op_num_threads = threads
            stage("creating the session")
            sess = ort.InferenceSession(spec["model"], so, providers=["CPUExecutionProvider"])
            feeds = {i.name: x for i, x in zip(sess.get_inputs(), inputs)}

            def once():
                sess.run(None, feeds)

        stage("the first inference")
        once()  # warm-up
        stage("the timed inferences")
        c0, w0 = time.process_time(), time.perf_counter()
        once()
        est = max(time.process_time() - c0, time.perf_counter() - w0, 1e-7)
        reps = max(spec["repeats"], min(spec["max_repeats"], math.ceil(spec["min_time"] / est)))
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(reps):
            once()
        c1, w1 = time.process_time(), time.perf_counter()
        res = {"ok": True, "cpu_ms": (c1 - c0) / reps * 1e3, "wall_ms": (w1 - w0) / reps * 1e3,
               "repeats": reps}
    except Exception as e:  # noqa: BLE001 -- reported as n/a by the parent
        res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.write("RESULT " + json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)


def run_worker(spec: dict, timeout: float) -> dict:
    """Runs worker(spec) in a child; returns its result, or {ok: False, error} when the
    child died or timed out."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    # numpy's OpenBLAS threads spin for a while after import, which process_time would
    # charge to the runtime under test; neither LiteRT nor onnxruntime uses them.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    stages = ["starting"]
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
        if line.startswith("STAGE "):
            stages.append(line[len("STAGE "):])
    err = [l for l in p.stderr.splitlines() if l.strip() and "XNNPACK delegate" not in l]
    if p.returncode < 0:
        try:
            how = f"killed by {signal.Signals(-p.returncode).name}"
        except ValueError:
            how = f"killed by signal {-p.returncode}"
    else:
        how = f"exit {p.returncode}"
    tail = " | ".join(err[-3:])[-300:]
    return {"ok": False, "error": f"process died ({how}) during {stages[-1]}"
                                  + (f": {tail}" if tail else " without a message")}


def build_tract_run() -> Path:
    """Builds examples/tract_run.rs (release) and returns the binary's path."""
    print("== cargo build --release --example tract_run", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--example", "tract_run"], cwd=REPO,
                   check=True)
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=REPO, check=True, capture_output=True, text=True)
    exe = Path(json.loads(meta.stdout)["target_directory"]) / "release" / "examples" / "tract_run"
    if not exe.is_file():
        raise BenchError(f"built tract_run not found at {exe}")
    return exe


class References:
    """LiteRT, onnxruntime and tract measurements, with LiteRT's MediaPipe fallback."""

    def __init__(self, tmp: Path, cache: Path, args):
        self.tmp = tmp
        self.cache = cache
        self.args = args
        self.rewritten: dict[str, Path | str] = {}
        self.tract: Path | None = None

    def measure_tract(self, model: Model) -> dict:
        """Times tract (one thread) on an ONNX model with examples/tract_run (built on
        first use)."""
        if self.tract is None:
            self.tract = build_tract_run()
        cmd = [str(self.tract), str(model.path), *self.input_files(model),
               "--repeats", str(self.args.repeats),
               "--min-time", str(self.args.min_time),
               "--max-repeats", str(self.args.max_repeats)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {self.args.timeout:.0f} s"}
        for line in p.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])[-300:]
        return {"ok": False, "error": f"tract_run exit {p.returncode}: {tail}"}

    def input_files(self, model: Model) -> list[str]:
        files = []
        for j in range(len(model.inputs)):
            path = self.tmp / f"{model.name}.ref{j}.npy"
            if not path.exists():
                np.save(path, make_input(model, j))
            files.append(str(path))
        return files

    def measure(self, model: Model, runtime: str, resolver: str | None, threads: int | None):
        spec = {
            "runtime": runtime,
            "resolver": resolver,
            "model": str(model.path),
            "threads": threads,
            "inputs": self.input_files(model),
            "repeats": self.args.repeats,
            "min_time": self.args.min_time,
            "max_repeats": self.args.max_repeats,
        }
        r = run_worker(spec, self.args.timeout)
        if runtime == "litert" and not r["ok"] and MEDIAPIPE_TCONV in r["error"]:
            alt = self.rewrite(model)
            if isinstance(alt, Path):
                r = run_worker(dict(spec, model=str(alt)), self.args.timeout)
                if r["ok"]:
                    r["note"] = (f"LiteRT ran a copy with {MEDIAPIPE_TCONV} rewritten as "
                                 f"builtin TRANSPOSE_CONV ({alt})")
            else:
                r["error"] += f"; no rewritten copy: {alt}"
        return r

    def rewrite(self, model: Model) -> Path | str:
        """A copy of a MediaPipe model with its custom transposed convolution as a builtin
        op: testdata/litert/<model>/*.rewritten.tflite if there, else written into the cache
        by tools/make_testdata.py's rewrite_mediapipe_tconv. A string says why not."""
        if model.name in self.rewritten:
            return self.rewritten[model.name]
        found = sorted((LITERT_TESTDATA / model.path.stem).glob("*.rewritten.tflite"))
        out: Path | str
        if found:
            out = found[0]
        else:
            out = self.cache / f"{model.path.stem}.rewritten.tflite"
            if not out.is_file():
                try:
                    sys.path.insert(0, str(REPO / "tools"))
                    from make_testdata import rewrite_mediapipe_tconv

                    self.cache.mkdir(parents=True, exist_ok=True)
                    tmp = out.with_suffix(".tmp")
                    rewrite_mediapipe_tconv(str(model.path), tmp)
                    tmp.replace(out)
                except Exception as e:  # noqa: BLE001 -- reported as n/a
                    out = f"rewriting with tools/make_testdata.py failed: {type(e).__name__}: {e}"
        self.rewritten[model.name] = out
        return out


# ----------------------------------------------------------------------------- the benchmark


def ratio(a: dict | None, b: dict | None) -> dict | None:
    if not a or not b or not b.get("ok", True) or b["cpu_ms"] <= 0 or b["wall_ms"] <= 0:
        return None
    return {"cpu": a["cpu_ms"] / b["cpu_ms"], "wall": a["wall_ms"] / b["wall_ms"]}


def bench(models: list[Model], sections: list[str], nnopt: str, args, tmp: Path) -> dict:
    threads_flag = has_threads_flag(nnopt)
    all_threads = os.cpu_count() or 1
    # (name, nnopt flags, LiteRT num_threads, onnxruntime threads (None: its default))
    settings = [("1 thread", ["--threads", "1"] if threads_flag else [], 1, 1),
                ("all threads", [], all_threads, None)]
    timer = NnoptTimer(nnopt, tmp, args)
    refs = References(tmp, args.cache, args)
    out: dict = {s: [] for s in sections}

    for m in models:
        section = m.kind
        if section not in sections and not (m.kind == "int8" and "npu" in sections):
            continue
        print(f"== {m.name} ({m.kind}, {m.path})", file=sys.stderr)
        if section in sections:
            row = {"model": m.name, "file": str(m.path), "settings": {}}
            for sname, flags, lt, ot in settings:
                label = "nnopt run" + "".join(f" {f}" for f in flags)
                cell = {"nnopt": timer.measure(m, m.path, flags, label)}
                if m.fmt == "onnx":
                    print(f"   onnxruntime ({sname})", file=sys.stderr)
                    cell["onnxruntime"] = refs.measure(m, "ort", None, ot)
                    if lt == 1:
                        print(f"   tract ({sname})", file=sys.stderr)
                        cell["tract"] = refs.measure_tract(m)
                else:
                    wanted = ["default", "builtin"] + (["reference"] if m.kind == "int8" else [])
                    for res in wanted:
                        print(f"   LiteRT {res} ({sname})", file=sys.stderr)
                        cell[f"litert_{res}"] = refs.measure(m, "litert", res, lt)
                cell["ratios"] = {k: ratio(cell["nnopt"], v) for k, v in cell.items()
                                  if k != "nnopt"}
                row["settings"][sname] = cell
            out[section].append(row)
        if m.kind == "int8" and "npu" in sections:
            out["npu"].append(npu_row(m, nnopt, timer, settings, tmp))
    return {"threads_flag": threads_flag, "all_threads": all_threads, "sections": out}


def npu_row(m: Model, nnopt: str, timer: NnoptTimer, settings, tmp: Path) -> dict:
    row = {"model": m.name, "file": str(m.path), "settings": {}}
    npub = tmp / f"{m.name}.npub"
    cmd = [nnopt, "compile", str(m.path), "--target", "npu", "-o", str(npub)]
    print("   nnopt compile --target npu", file=sys.stderr)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0 or not npub.is_file():
        lines = [l for l in (p.stderr or p.stdout).splitlines() if l.strip()]
        row["na"] = f"the NPU compiler refuses it: {lines[-1] if lines else f'exit {p.returncode}'}"
        return row
    npub_inputs, _ = nnopt_inputs(nnopt, npub, f"{m.name}.npub")
    if [(d, s) for d, s in npub_inputs] != m.inputs:
        raise BenchError(f"{m.name}: the .npub's inputs {npub_inputs} differ from the "
                         f"model's {m.inputs}")
    for sname, flags, _, _ in settings:
        opts = "".join(f" {f}" for f in flags)
        interp = timer.measure(m, m.path, flags, f"nnopt run{opts}")
        npu = timer.measure(m, npub, flags, f"nnopt run .npub{opts}")
        row["settings"][sname] = {"interpreter": interp, "npu": npu,
                                  "ratios": {"interpreter": ratio(npu, interp)}}
    return row


def evaluate_goals(result: dict) -> list[dict]:
    """Each goal measured in this run: what, ratio, limit, met."""
    goals = []
    secs = result["sections"]

    def add(what, r, limit, key):
        goals.append({"goal": key, "what": what, "limit": limit,
                      "ratio": None if r is None else r["cpu"],
                      "met": None if r is None else r["cpu"] <= limit})

    for row in secs.get("int8", []):
        if row["model"] == INT8_GOAL_MODEL:
            r = row["settings"]["1 thread"]["ratios"].get("litert_builtin")
            add(f"{row['model']}: nnopt / LiteRT builtin", r,
                GOALS["int8_vs_litert_builtin"], "int8_vs_litert_builtin")
    for row in secs.get("float", []):
        ratios = row["settings"]["1 thread"]["ratios"]
        if "onnxruntime" in ratios:
            add(f"{row['model']}: nnopt / onnxruntime", ratios["onnxruntime"],
                GOALS["float_vs_onnxruntime"], "float_vs_onnxruntime")
        if "litert_builtin" in ratios:
            add(f"{row['model']}: nnopt / LiteRT builtin", ratios["litert_builtin"],
                GOALS["float_vs_litert_builtin"], "float_vs_litert_builtin")
    for row in secs.get("npu", []):
        if "na" not in row:
            add(f"{row['model']}: NPU / interpreter",
                row["settings"]["1 thread"]["ratios"]["interpreter"],
                GOALS["npu_vs_interpreter"], "npu_vs_interpreter")
    return goals


# ----------------------------------------------------------------------------- output


def fmt_ms(v: float) -> str:
    if v <= 0:
        return f"{v:.2g}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 1:
        return f"{v:.3g}" if v < 10 else f"{v:.1f}"
    return f"{v:.3g}"


class Notes:
    """Footnotes for n/a cells, numbered per table."""

    def __init__(self):
        self.items: list[str] = []

    def ref(self, text: str) -> str:
        if text not in self.items:
            self.items.append(text)
        return f"[{self.items.index(text) + 1}]"


def time_cell(r: dict | None, notes: Notes) -> str:
    if r is None:
        return "—"
    if not r.get("ok", True):
        return "n/a " + notes.ref(short(r["error"]))
    s = f"{fmt_ms(r['cpu_ms'])} / {fmt_ms(r['wall_ms'])}"
    if r.get("note"):
        s += " " + notes.ref(r["note"])
    return s


def ratio_cell(r: dict | None, limit: float | None = None) -> str:
    if r is None:
        return "—"
    mark = " ✗" if limit is not None and r["cpu"] > limit else ""
    return f"{r['cpu']:.2f} / {r['wall']:.2f}{mark}"


def short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def tables(result: dict, goals: list[dict]) -> str:
    lines: list[str] = []
    m = result["machine"]
    lines.append(
        f"Machine: {m['cpus']} logical CPUs ({m['usable_cpus']} usable), {m['platform']}; "
        f"load average (1/5/15 min) before {fmt_load(m['load_before'])}, "
        f"after {fmt_load(m['load_after'])}; {m['elapsed_s']:.0f} s"
    )
    lines.append(f"nnopt: {m['nnopt']} ({m['nnopt_version']}); LiteRT (ai-edge-litert) "
                 f"{m['litert']}; onnxruntime {m['onnxruntime']}")
    if result["threads_flag"]:
        lines.append("nnopt threads: `--threads 1` for 1 thread, its default for all threads.")
    else:
        lines.append("nnopt threads: `nnopt run` has no --threads option; nnopt ran with its "
                     "default in both column sets (the same measurement).")
    lines.append(f"All threads: LiteRT num_threads={result['all_threads']}, onnxruntime's "
                 "default intra-op pool; tract is measured single-threaded only. Times are ms per inference, CPU (user+sys) / wall; "
                 "ratios are nnopt / reference, CPU / wall (< 1: nnopt is faster).")
    lim = {g["what"]: g["limit"] for g in goals}
    secs = result["sections"]
    for sname in ("1 thread", "all threads"):
        if "int8" in secs and secs["int8"]:
            notes = Notes()
            lines += ["", f"### int8 TFLite models: nnopt vs LiteRT ({sname})", "",
                      "| model | nnopt | LiteRT default (XNNPACK) | ratio | LiteRT builtin | "
                      "ratio | LiteRT reference | ratio |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for row in secs["int8"]:
                c = row["settings"][sname]
                goal = lim.get(f"{row['model']}: nnopt / LiteRT builtin") if sname == "1 thread" else None
                cells = [row["model"], time_cell(c["nnopt"], notes)]
                for res in RESOLVERS:
                    cells += [time_cell(c.get(f"litert_{res}"), notes),
                              ratio_cell(c["ratios"].get(f"litert_{res}"),
                                         goal if res == "builtin" else None)]
                lines.append("| " + " | ".join(cells) + " |")
            lines += footnotes(notes)
        if "float" in secs and secs["float"]:
            notes = Notes()
            lines += ["", f"### float models: nnopt vs onnxruntime, tract and LiteRT ({sname})",
                      "", "| model | nnopt | onnxruntime | ratio | tract | ratio "
                      "| LiteRT default (XNNPACK) | ratio | LiteRT builtin | ratio |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for row in secs["float"]:
                c = row["settings"][sname]
                one = sname == "1 thread"
                cells = [row["model"], time_cell(c["nnopt"], notes)]
                for key, what in (("onnxruntime", "onnxruntime"), ("tract", None),
                                  ("litert_default", None), ("litert_builtin", "LiteRT builtin")):
                    goal = lim.get(f"{row['model']}: nnopt / {what}") if one and what else None
                    cells += [time_cell(c.get(key), notes),
                              ratio_cell(c["ratios"].get(key), goal)]
                lines.append("| " + " | ".join(cells) + " |")
            lines += footnotes(notes)
        if "npu" in secs and secs["npu"] and (result["threads_flag"] or sname == "1 thread"):
            notes = Notes()
            title = sname if result["threads_flag"] else "nnopt's default threads"
            lines += ["", f"### virtual NPU (.npub) vs the interpreter, int8 models ({title})",
                      "", "| model | interpreter | NPU | ratio NPU / interpreter |",
                      "|---|---:|---:|---:|"]
            for row in secs["npu"]:
                if "na" in row:
                    lines.append(f"| {row['model']} | n/a {notes.ref(short(row['na']))} | | |")
                    continue
                c = row["settings"][sname]
                goal = lim.get(f"{row['model']}: NPU / interpreter") if sname == "1 thread" else None
                lines.append(f"| {row['model']} | {time_cell(c['interpreter'], notes)} | "
                             f"{time_cell(c['npu'], notes)} | "
                             f"{ratio_cell(c['ratios']['interpreter'], goal)} |")
            lines += footnotes(notes)
    lines += ["", "### goals (single-thread CPU time; ✗ marks a miss)", ""]
    if not goals:
        lines.append("none measured in this run")
    for g in goals:
        if g["ratio"] is None:
            state = "not measured (reference n/a)"
        else:
            state = f"{g['ratio']:.2f} {'met' if g['met'] else 'MISSED ✗'}"
        lines.append(f"- {g['what']} <= {g['limit']}: {state}")
    return "\n".join(lines)


def footnotes(notes: Notes) -> list[str]:
    if not notes.items:
        return []
    return [""] + [f"[{i + 1}] {t}" for i, t in enumerate(notes.items)]


def fmt_load(load) -> str:
    return " ".join(f"{v:.2f}" for v in load)


# ----------------------------------------------------------------------------- main


def version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release binary)")
    ap.add_argument("--models", action="append",
                    help="comma-separated model names (as in the tables, or names under "
                         "../shared/models, or .tflite/.onnx paths); repeatable; default: all")
    ap.add_argument("--sections", default="int8,float,npu",
                    help="comma-separated sections to run: int8, float, npu (default: all)")
    ap.add_argument("--quick", action="store_true",
                    help="a fast run: --repeats 3, --min-time 0.3, no 224x224 MobileNetV2")
    ap.add_argument("--repeats", type=int, help="minimum inferences timed per measurement "
                    "(default 10; 3 with --quick)")
    ap.add_argument("--min-time", type=float, help="repeats grow until a measurement takes "
                    "this many CPU seconds (default 1.0; 0.3 with --quick)")
    ap.add_argument("--max-repeats", type=int, default=1_000_000,
                    help="upper bound of the repeats (default 1000000)")
    ap.add_argument("--cache", type=Path, default=CACHE_DIR,
                    help="where benches/speed_models.py's models (and LiteRT's rewritten "
                         "MediaPipe copies) are kept (default target/bench-models)")
    ap.add_argument("--regenerate", action="store_true",
                    help="regenerate the cached MobileNetV2-224 models (speed_models.py --force)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds before a LiteRT / onnxruntime child is given up (default 1800)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the tables")
    ap.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = ap.parse_args()
    if args.repeats is None:
        args.repeats = 3 if args.quick else 10
    if args.min_time is None:
        args.min_time = 0.3 if args.quick else 1.0
    if args.repeats < 1 or args.min_time < 0 or args.max_repeats < args.repeats:
        ap.error("need --repeats >= 1, --min-time >= 0 and --max-repeats >= --repeats")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in sections if s not in ("int8", "float", "npu")]
    if bad or not sections:
        ap.error(f"--sections: unknown {bad}; choose from int8, float, npu")
    wanted = [w.strip() for arg in args.models or [] for w in arg.split(",") if w.strip()]

    load_before = os.getloadavg()
    start = time.perf_counter()
    try:
        if args.nnopt and not Path(args.nnopt).is_file():
            raise BenchError(f"--nnopt {args.nnopt}: no such file")
        nnopt = args.nnopt or build_nnopt()
        for pkg, mod in (("ai-edge-litert", "ai_edge_litert.interpreter"),
                         ("onnxruntime", "onnxruntime")):
            try:
                __import__(mod)
            except ImportError as e:
                raise BenchError(f"{pkg} is not importable by this Python ({e}): install "
                                 "tools/requirements.txt into its environment") from e
        names = select(default_model_names(), wanted, args.quick)
        models = resolve_models(names, nnopt, args.cache, args.regenerate)
        with tempfile.TemporaryDirectory(prefix="nnopt-speed-") as tmp:
            result = bench(models, sections, nnopt, args, Path(tmp))
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ver = subprocess.run([nnopt, "--version"], capture_output=True, text=True).stdout.strip()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
        "elapsed_s": time.perf_counter() - start,
        "nnopt": nnopt,
        "nnopt_version": ver,
        "litert": version("ai-edge-litert"),
        "onnxruntime": version("onnxruntime"),
    }
    goals = evaluate_goals(result)
    result["goals"] = goals
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(tables(result, goals))
    missed = [g["what"] for g in goals if g["met"] is False]
    if args.check and missed:
        print(f"goals missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
