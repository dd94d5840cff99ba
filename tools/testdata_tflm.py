"""Section `tflm` of make_testdata.py: TFLite Micro references.

keyword_scrambled_8bit.tflite (int16 input, int8 SVDF layers with int8 state, int8 ->
int16 softmax) is the shared model LiteRT runs unreliably (litert/refused.json), so its
reference is TFLite Micro's own Python interpreter (the `tflite-micro` wheel, reference
kernels), the runtime the model was made for.  Each case resets the variable tensors
(TFLite Micro fills int8 state with its zero point), sets one int16 input and invokes
once; with kPreserveAllTensors every tensor keeps its value.

testdata/tflm/keyword_scrambled_8bit/
  meta.json            model path and sha256, cases, the tensors written (index -> name as
                       nnopt's importer names the value: `tensor_I`, and `tensor_I_next` for the
                       state an SVDF step leaves in its variable tensor I)
  case_K/input.npy     int16 [1, 96]
  case_K/NAME.npy      each of those tensors after the invocation
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

MODEL = "keyword_scrambled_8bit"
SEED = 4321
CASES = 6


def _write_json(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def make_tflm(out: Path, shared: Path) -> dict:
    from tflite_micro.python.tflite_micro import runtime

    root = out / "tflm" / MODEL
    if root.exists():
        for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
    root.mkdir(parents=True, exist_ok=True)
    model = shared / "models" / f"{MODEL}.tflite"
    interp = runtime.Interpreter.from_file(
        str(model), intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    import tflite  # the flatbuffer reader pinned in tools/requirements.txt

    m = tflite.Model.GetRootAsModel(model.read_bytes(), 0)
    sg = m.Subgraphs(0)
    wanted = {}
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        for j in range(op.OutputsLength()):
            i = op.Outputs(j)
            wanted[i] = f"tensor_{i}"
        for j in range(op.InputsLength()):
            i = op.Inputs(j)
            if i >= 0 and sg.Tensors(i).IsVariable():
                wanted[i] = f"tensor_{i}_next"
    rng = np.random.default_rng(SEED)
    cases = []
    for k in range(CASES):
        # Half the cases near silence, half over the full int16 range.
        hi = 3000 if k % 2 == 0 else 32767
        x = rng.integers(-hi, hi + 1, size=(1, 96), dtype=np.int16)
        interp.reset()
        interp.set_input(x, 0)
        interp.invoke()
        cdir = root / f"case_{k}"
        cdir.mkdir()
        np.save(cdir / "input.npy", x)
        for i, name in sorted(wanted.items()):
            np.save(cdir / f"{name}.npy", np.asarray(interp.GetTensor(i, 0)["tensor_data"]))
        cases.append(f"case_{k}")
    _write_json(
        root / "meta.json",
        {
            "model": f"models/{MODEL}.tflite",
            "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
            "runtime": "tflite-micro Python interpreter, kPreserveAllTensors, reset() before each case",
            "cases": cases,
            "tensors": {str(i): n for i, n in sorted(wanted.items())},
        },
    )
    return {"tflm_cases": len(cases)}
