#!/usr/bin/env python3
"""Cross-check a .tflite model with sparse weights (`nnopt export --sparse`) with LiteRT.

Usage: check_tflite_sparse.py SPARSE.tflite --dense DENSE.tflite --inputs a.npy [b.npy ...]
       --expected y0.npy [y1.npy ...] [--resolver ref|builtin|default] [--rtol 0]

Runs both models in ai-edge-litert (reference kernels by default) on the same inputs and
checks that the sparse one holds sparse tensors and DENSIFY operators, that its outputs are
bit-identical to the dense one's, and that they match the expected arrays (max abs
difference <= rtol * max |expected|; 0 = bit-exact). Prints one JSON line; exits 1 on a
mismatch or when LiteRT refuses a model.
"""
import argparse
import json
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

RESOLVERS = {
    "ref": OpResolverType.BUILTIN_REF,
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    "default": OpResolverType.AUTO,
}


def run(path, inputs, resolver):
    """The interpreter of `path` after one invocation on `inputs`, and its outputs."""
    it = Interpreter(model_path=path, experimental_op_resolver_type=RESOLVERS[resolver])
    it.allocate_tensors()
    details = it.get_input_details()
    if len(details) != len(inputs):
        raise ValueError(f"{len(details)} inputs, {len(inputs)} given")
    for d, x in zip(details, inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return it, [it.get_tensor(d["index"]) for d in it.get_output_details()]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dense", required=True)
    ap.add_argument("--inputs", nargs="+", required=True)
    ap.add_argument("--expected", nargs="+", required=True)
    ap.add_argument("--resolver", choices=sorted(RESOLVERS), default="ref")
    ap.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args()

    inputs = [np.load(p) for p in args.inputs]
    try:
        sparse_it, sparse = run(args.model, inputs, args.resolver)
        _, dense = run(args.dense, inputs, args.resolver)
    except Exception as e:  # LiteRT refuses a model: report why.
        print(json.dumps({"model": args.model, "error": f"LiteRT refused a model: {e}"}))
        return 1
    ops = [op["op_name"] for op in sparse_it._get_ops_details()]
    sparse_tensors = sum(
        1 for t in sparse_it.get_tensor_details() if t["sparsity_parameters"]
    )
    identical = len(sparse) == len(dense) and all(
        s.dtype == d.dtype and s.shape == d.shape and s.tobytes() == d.tobytes()
        for s, d in zip(sparse, dense)
    )
    diffs = []
    ok = identical and ops.count("DENSIFY") > 0 and sparse_tensors > 0
    for got, path in zip(sparse, args.expected):
        want = np.load(path)
        if got.shape != want.shape or got.dtype != want.dtype:
            ok = False
            diffs.append(None)
            continue
        d = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
        diffs.append(d)
        scale = float(np.max(np.abs(want.astype(np.float64)))) if want.size else 0.0
        ok &= d <= args.rtol * scale
    print(json.dumps({
        "model": args.model,
        "resolver": args.resolver,
        "sparse_bytes": os.path.getsize(args.model),
        "dense_bytes": os.path.getsize(args.dense),
        "densify_ops": ops.count("DENSIFY"),
        "sparse_tensors": sparse_tensors,
        "identical_to_dense": identical,
        "max_abs_diff": diffs,
        "ok": ok,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
