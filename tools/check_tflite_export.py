#!/usr/bin/env python3
"""Cross-check a .tflite model written by `nnopt export` with LiteRT.

Usage: check_tflite_export.py MODEL.tflite --inputs a.npy [b.npy ...]
       --expected y0.npy [y1.npy ...] [--resolver ref|builtin|default] [--atol 0] [--rtol 0]

Runs MODEL.tflite in ai-edge-litert (reference kernels by default: OpResolverType.BUILTIN_REF)
and compares every output with the expected arrays: max abs difference <= atol (0 =
bit-exact) or, with --rtol, max abs difference <= rtol * max |expected| (float models).
Prints one JSON line; exits 1 on a mismatch or when LiteRT refuses the model.
"""
import argparse
import json
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

RESOLVERS = {
    "ref": OpResolverType.BUILTIN_REF,
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "default": OpResolverType.AUTO,
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--inputs", nargs="+", required=True)
    ap.add_argument("--expected", nargs="+", required=True)
    ap.add_argument("--resolver", choices=sorted(RESOLVERS), default="ref")
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args()

    try:
        it = Interpreter(
            model_path=args.model, experimental_op_resolver_type=RESOLVERS[args.resolver]
        )
        it.allocate_tensors()
    except Exception as e:  # LiteRT refuses the model: report why.
        print(json.dumps({"model": args.model, "error": f"LiteRT refused the model: {e}"}))
        return 1
    ins = it.get_input_details()
    if len(ins) != len(args.inputs):
        print(json.dumps({"error": f"{len(ins)} inputs, {len(args.inputs)} given"}))
        return 1
    for d, p in zip(ins, args.inputs):
        x = np.load(p)
        if x.dtype != d["dtype"] or tuple(x.shape) != tuple(d["shape"]):
            print(json.dumps({"error": f"input {p}: {x.dtype}{x.shape}, model wants "
                                       f"{np.dtype(d['dtype'])}{tuple(d['shape'])}"}))
            return 1
        it.set_tensor(d["index"], x)
    it.invoke()
    outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    if len(outs) != len(args.expected):
        print(json.dumps({"error": f"{len(outs)} outputs, expected {len(args.expected)}"}))
        return 1
    diffs = []
    ok = True
    for got, path in zip(outs, args.expected):
        want = np.load(path)
        if got.shape != want.shape or got.dtype != want.dtype:
            print(json.dumps({"error": f"{path}: LiteRT gives {got.dtype}{got.shape}, "
                                       f"expected {want.dtype}{want.shape}"}))
            return 1
        d = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
        diffs.append(d)
        scale = float(np.max(np.abs(want.astype(np.float64)))) if want.size else 0.0
        ok &= d <= max(args.atol, args.rtol * scale)
    print(json.dumps({"model": args.model, "resolver": args.resolver, "max_abs_diff": diffs, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
