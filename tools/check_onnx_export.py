#!/usr/bin/env python3
"""Cross-check nnopt's ONNX export with onnxruntime.

Usage: check_onnx_export.py EXPORTED.onnx --inputs a.npy [b.npy ...] --expected y0.npy [y1.npy ...]
       [--rtol 1e-4]

Runs EXPORTED.onnx in onnxruntime (after onnx.checker) on the inputs and compares every
output with the expected arrays (max abs error relative to the expected output's max abs
value). Prints one JSON line with the errors; exits 1 on a mismatch or a checker error.
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--inputs", nargs="+", required=True)
    ap.add_argument("--expected", nargs="+", required=True)
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()

    model = onnx.load(args.model)
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(p) for i, p in zip(sess.get_inputs(), args.inputs)}
    outs = sess.run(None, feeds)
    if len(outs) != len(args.expected):
        print(json.dumps({"error": f"{len(outs)} outputs, expected {len(args.expected)}"}))
        return 1
    errors = []
    ok = True
    for got, path in zip(outs, args.expected):
        want = np.load(path)
        if got.shape != want.shape:
            print(json.dumps({"error": f"shape {got.shape} != {want.shape} for {path}"}))
            return 1
        g = got.astype(np.float64)
        w = want.astype(np.float64)
        scale = max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-6)
        err = float(np.max(np.abs(g - w))) / scale if w.size else 0.0
        errors.append(err)
        ok &= err <= args.rtol
    print(json.dumps({"model": args.model, "max_rel_errors": errors, "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
