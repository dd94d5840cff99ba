"""Section `tflite_ops` of make_testdata.py: one-operator TFLite models and references.

Each case is a .tflite file with a single BATCH_MATMUL, ARG_MAX/ARG_MIN, CUMSUM,
GATHER_ND, GELU, SQUARED_DIFFERENCE, RSQRT or EXP, built here with the `tflite` package's
FlatBuffer builders (there is no TensorFlow in the venv), covering the operator's options
in float32 and int8; one more case is a whole MediaPipe-style model.  Float
references come from LiteRT (the default resolver; nnopt compares within 1e-4), int8
references from TFLite Micro's Python interpreter (its reference kernels; nnopt must be
bit-exact).  A case TFLite Micro cannot run falls back to LiteRT's BUILTIN_REF kernels,
and meta.json says so.  Each reference runs in a child process, so a runtime that aborts
costs only its case.

testdata/tflite_ops/
  meta.json         cases: name, op, dtype, options, reference (litert, tflm or
                    litert_ref: why), inputs and outputs (file names)
  NAME.tflite
  NAME.input_J.npy  NAME.output_J.npy
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SEED = 2325

_NP = {"f32": np.float32, "f16": np.float16, "i8": np.int8, "i32": np.int32, "i64": np.int64}


def _tfl_type(tflite, dtype: str) -> int:
    T = tflite.TensorType
    return {
        "f32": T.FLOAT32,
        "f16": T.FLOAT16,
        "i8": T.INT8,
        "i32": T.INT32,
        "i64": T.INT64,
    }[dtype]


def build_model(tensors: list, ops: list, inputs: list, outputs: list) -> bytes:
    """A one-subgraph TFLite model.

    tensors: dicts name, shape, dtype ('f32', 'f16', 'i8', 'i32', 'i64'), optional quant
      (scale, zero_point), data (a constant's array; for a sparse one its stored values)
      and sparsity (traversal_order, block_map, dims: ("dense", size) or ("csr",
      segments, indices) per level).
    ops: dicts code (BuiltinOperator), inputs, outputs (tensor indices) and optional
      options (BuiltinOptions type, a function of the builder returning the table).
    """
    import flatbuffers
    import tflite

    b = flatbuffers.Builder(1024)

    def vec_i32(start, items):
        start(b, len(items))
        for v in reversed(items):
            b.PrependInt32(v)
        return b.EndVector()

    def vec_off(start, items):
        start(b, len(items))
        for v in reversed(items):
            b.PrependUOffsetTRelative(v)
        return b.EndVector()

    # Buffers: 0 is the empty buffer, then one per constant.
    buffers = [None]
    buf_index = []
    for t in tensors:
        if t.get("data") is not None:
            buf_index.append(len(buffers))
            buffers.append(np.ascontiguousarray(t["data"], dtype=_NP[t["dtype"]]).tobytes())
        else:
            buf_index.append(0)
    buf_offs = []
    for data in buffers:
        d = None
        if data is not None:
            b.StartVector(1, len(data), 16)
            for byte in reversed(data):
                b.PrependUint8(byte)
            d = b.EndVector()
        tflite.BufferStart(b)
        if d is not None:
            tflite.BufferAddData(b, d)
        buf_offs.append(tflite.BufferEnd(b))

    def sparsity(sp):
        dims = []
        for level in sp["dims"]:
            if level[0] == "dense":
                tflite.DimensionMetadataStart(b)
                tflite.DimensionMetadataAddFormat(b, tflite.DimensionType.DENSE)
                tflite.DimensionMetadataAddDenseSize(b, level[1])
            else:
                arrays = []
                for values in level[1:]:
                    v = vec_i32(tflite.Int32VectorStartValuesVector, list(values))
                    tflite.Int32VectorStart(b)
                    tflite.Int32VectorAddValues(b, v)
                    arrays.append(tflite.Int32VectorEnd(b))
                tflite.DimensionMetadataStart(b)
                tflite.DimensionMetadataAddFormat(b, tflite.DimensionType.SPARSE_CSR)
                tflite.DimensionMetadataAddArraySegmentsType(
                    b, tflite.SparseIndexVector.Int32Vector
                )
                tflite.DimensionMetadataAddArraySegments(b, arrays[0])
                tflite.DimensionMetadataAddArrayIndicesType(
                    b, tflite.SparseIndexVector.Int32Vector
                )
                tflite.DimensionMetadataAddArrayIndices(b, arrays[1])
            dims.append(tflite.DimensionMetadataEnd(b))
        order = vec_i32(tflite.SparsityParametersStartTraversalOrderVector, sp["traversal_order"])
        block_map = vec_i32(tflite.SparsityParametersStartBlockMapVector, sp["block_map"])
        dim_vec = vec_off(tflite.SparsityParametersStartDimMetadataVector, dims)
        tflite.SparsityParametersStart(b)
        tflite.SparsityParametersAddTraversalOrder(b, order)
        tflite.SparsityParametersAddBlockMap(b, block_map)
        tflite.SparsityParametersAddDimMetadata(b, dim_vec)
        return tflite.SparsityParametersEnd(b)

    t_offs = []
    for t, bi in zip(tensors, buf_index):
        sp = sparsity(t["sparsity"]) if t.get("sparsity") else None
        name = b.CreateString(t["name"])
        shape = vec_i32(tflite.TensorStartShapeVector, list(t["shape"]))
        q = None
        if t.get("quant") is not None:
            scale, zp = t["quant"]
            tflite.QuantizationParametersStartScaleVector(b, 1)
            b.PrependFloat32(scale)
            s = b.EndVector()
            tflite.QuantizationParametersStartZeroPointVector(b, 1)
            b.PrependInt64(zp)
            z = b.EndVector()
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, s)
            tflite.QuantizationParametersAddZeroPoint(b, z)
            q = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _tfl_type(tflite, t["dtype"]))
        tflite.TensorAddBuffer(b, bi)
        tflite.TensorAddName(b, name)
        if q is not None:
            tflite.TensorAddQuantization(b, q)
        if sp is not None:
            tflite.TensorAddSparsity(b, sp)
        t_offs.append(tflite.TensorEnd(b))

    codes = sorted({op["code"] for op in ops})
    code_offs = []
    for c in codes:
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(c, 127))
        tflite.OperatorCodeAddBuiltinCode(b, c)
        tflite.OperatorCodeAddVersion(b, 1)
        code_offs.append(tflite.OperatorCodeEnd(b))

    op_offs = []
    for op in ops:
        ins = vec_i32(tflite.OperatorStartInputsVector, op["inputs"])
        outs = vec_i32(tflite.OperatorStartOutputsVector, op["outputs"])
        opt = op.get("options")
        opt_off = opt[1](b) if opt else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, codes.index(op["code"]))
        tflite.OperatorAddInputs(b, ins)
        tflite.OperatorAddOutputs(b, outs)
        if opt:
            tflite.OperatorAddBuiltinOptionsType(b, opt[0])
            tflite.OperatorAddBuiltinOptions(b, opt_off)
        op_offs.append(tflite.OperatorEnd(b))

    tv = vec_off(tflite.SubGraphStartTensorsVector, t_offs)
    iv = vec_i32(tflite.SubGraphStartInputsVector, inputs)
    ov = vec_i32(tflite.SubGraphStartOutputsVector, outputs)
    opv = vec_off(tflite.SubGraphStartOperatorsVector, op_offs)
    sg_name = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tv)
    tflite.SubGraphAddInputs(b, iv)
    tflite.SubGraphAddOutputs(b, ov)
    tflite.SubGraphAddOperators(b, opv)
    tflite.SubGraphAddName(b, sg_name)
    sg = tflite.SubGraphEnd(b)

    sgv = vec_off(tflite.ModelStartSubgraphsVector, [sg])
    cv = vec_off(tflite.ModelStartOperatorCodesVector, code_offs)
    bv = vec_off(tflite.ModelStartBuffersVector, buf_offs)
    desc = b.CreateString("nnopt tflite_ops test model")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, cv)
    tflite.ModelAddSubgraphs(b, sgv)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bv)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# ---------------------------------------------------------------------------------------
# Cases


def _q(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)


def _qparams_for(values: np.ndarray, zp: int) -> tuple:
    """A scale that maps the values' range onto int8 around `zp`."""
    m = float(np.max(np.abs(values))) or 1.0
    return (np.float32(m / (127 - abs(zp))).item(), zp)


def _batch_matmul_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, x shape, y shape, adj_x, adj_y, y constant
        ("plain", (2, 3, 4), (2, 4, 5), False, False, False),
        ("adj_x", (2, 4, 3), (2, 4, 5), True, False, False),
        ("adj_y_bcast", (2, 3, 4), (1, 5, 4), False, True, False),
        ("adj_xy_rank4", (2, 1, 4, 3), (3, 2, 4), True, True, False),
        ("const_2d_rhs", (1, 3, 6), (6, 4), False, False, True),
    ]
    for name, xs, ys, adj_x, adj_y, y_const in specs:
        for dtype in ("f32", "i8"):
            x = rng.standard_normal(xs).astype(np.float32)
            y = rng.standard_normal(ys).astype(np.float32)
            xa = np.swapaxes(x, -1, -2) if adj_x else x
            ya = np.swapaxes(y, -1, -2) if adj_y else y
            out_shape = np.matmul(xa, ya).shape
            tx = {"name": "x", "shape": xs, "dtype": dtype}
            ty = {"name": "y", "shape": ys, "dtype": dtype}
            to = {"name": "out", "shape": out_shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"], ty["quant"] = (0.03, 3), (0.025, -2)
                x = _q(x, *tx["quant"])
                y = _q(y, *ty["quant"])
                real = np.matmul(
                    (xa / 0.03).round() * 0.03, (ya / 0.025).round() * 0.025
                )
                to["quant"] = _qparams_for(real, -4)
            feeds = [x] if y_const else [x, y]
            if y_const:
                ty["data"] = y

            def opts(b, adj_x=adj_x, adj_y=adj_y):
                tflite.BatchMatMulOptionsStart(b)
                tflite.BatchMatMulOptionsAddAdjX(b, adj_x)
                tflite.BatchMatMulOptionsAddAdjY(b, adj_y)
                return tflite.BatchMatMulOptionsEnd(b)

            model = build_model(
                [tx, ty, to],
                [
                    {
                        "code": tflite.BuiltinOperator.BATCH_MATMUL,
                        "inputs": [0, 1],
                        "outputs": [2],
                        "options": (tflite.BuiltinOptions.BatchMatMulOptions, opts),
                    }
                ],
                [0] if y_const else [0, 1],
                [2],
            )
            cases.append(
                (
                    f"batch_matmul_{name}_{dtype}",
                    "BATCH_MATMUL",
                    dtype,
                    {"adj_x": adj_x, "adj_y": adj_y, "rhs_constant": y_const},
                    model,
                    feeds,
                )
            )
    return cases


def _arg_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, op, shape, axis, output dtype
        ("max_axis1_i32", "ARG_MAX", (2, 5, 3), 1, "i32"),
        ("max_last_i64", "ARG_MAX", (3, 7), -1, "i64"),
        ("min_axis0_i32", "ARG_MIN", (4, 3, 2), 0, "i32"),
        ("min_axis2_i64", "ARG_MIN", (2, 3, 6), 2, "i64"),
    ]
    for name, opname, shape, axis, odt in specs:
        for dtype in ("f32", "i8"):
            if dtype == "f32":
                # Coarse values so that ties occur: TFLite takes the first extreme.
                x = (rng.integers(-3, 4, size=shape) * 0.5).astype(np.float32)
                tx = {"name": "x", "shape": shape, "dtype": "f32"}
            else:
                x = rng.integers(-128, 128, size=shape).astype(np.int8)
                x.flat[:: max(1, x.size // 5)] = 127
                tx = {"name": "x", "shape": shape, "dtype": "i8", "quant": (0.1, -7)}
            out_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
            code = getattr(tflite.BuiltinOperator, opname)
            opt_type = (
                tflite.BuiltinOptions.ArgMaxOptions
                if opname == "ARG_MAX"
                else tflite.BuiltinOptions.ArgMinOptions
            )

            def opts(b, opname=opname, odt=odt):
                start, add, end = (
                    (tflite.ArgMaxOptionsStart, tflite.ArgMaxOptionsAddOutputType, tflite.ArgMaxOptionsEnd)
                    if opname == "ARG_MAX"
                    else (tflite.ArgMinOptionsStart, tflite.ArgMinOptionsAddOutputType, tflite.ArgMinOptionsEnd)
                )
                start(b)
                add(b, _tfl_type(tflite, odt))
                return end(b)

            model = build_model(
                [
                    tx,
                    {"name": "axis", "shape": (1,), "dtype": "i32", "data": np.array([axis], np.int32)},
                    {"name": "out", "shape": out_shape, "dtype": odt},
                ],
                [{"code": code, "inputs": [0, 1], "outputs": [2], "options": (opt_type, opts)}],
                [0],
                [2],
            )
            cases.append(
                (
                    f"arg_{name}_{dtype}",
                    opname,
                    dtype,
                    {"axis": axis, "output_type": odt},
                    model,
                    [x],
                )
            )
    return cases


def _cumsum_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, shape, axis, exclusive, reverse
        ("axis1", (2, 6, 3), 1, False, False),
        ("exclusive", (3, 5), 1, True, False),
        ("reverse", (4, 3, 2), 0, False, True),
        ("exclusive_reverse_neg_axis", (2, 3, 7), -1, True, True),
    ]
    for name, shape, axis, exclusive, reverse in specs:
        for dtype in ("f32", "i8"):
            x = rng.standard_normal(shape).astype(np.float32)
            tx = {"name": "x", "shape": shape, "dtype": dtype}
            to = {"name": "out", "shape": shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"] = (0.02, 5)
                xr = (np.clip(np.round(x / 0.02) + 5, -128, 127) - 5) * 0.02
                to["quant"] = _qparams_for(np.cumsum(xr, axis=axis), -3)
                x = _q(x, *tx["quant"])

            def opts(b, exclusive=exclusive, reverse=reverse):
                tflite.CumsumOptionsStart(b)
                tflite.CumsumOptionsAddExclusive(b, exclusive)
                tflite.CumsumOptionsAddReverse(b, reverse)
                return tflite.CumsumOptionsEnd(b)

            model = build_model(
                [
                    tx,
                    {"name": "axis", "shape": (), "dtype": "i32", "data": np.array(axis, np.int32)},
                    to,
                ],
                [
                    {
                        "code": tflite.BuiltinOperator.CUMSUM,
                        "inputs": [0, 1],
                        "outputs": [2],
                        "options": (tflite.BuiltinOptions.CumsumOptions, opts),
                    }
                ],
                [0],
                [2],
            )
            cases.append(
                (
                    f"cumsum_{name}_{dtype}",
                    "CUMSUM",
                    dtype,
                    {"axis": axis, "exclusive": exclusive, "reverse": reverse},
                    model,
                    [x],
                )
            )
    return cases


def _gather_nd_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, params shape, indices shape (last axis = tuple depth), index dtype
        ("elements", (3, 4, 2), (5, 3), "i32"),
        ("rows", (3, 4, 2), (2, 2, 1), "i32"),
        ("slices_i64", (4, 3, 5), (3, 2), "i64"),
    ]
    for name, ps, ishape, idt in specs:
        for dtype in ("f32", "i8"):
            depth = ishape[-1]
            cols = [rng.integers(0, ps[k], size=ishape[:-1]) for k in range(depth)]
            idx = np.stack(cols, axis=-1).astype(_NP[idt])
            if dtype == "f32":
                p = rng.standard_normal(ps).astype(np.float32)
                tp = {"name": "params", "shape": ps, "dtype": "f32"}
                to = {"name": "out", "shape": ishape[:-1] + ps[depth:], "dtype": "f32"}
            else:
                p = rng.integers(-128, 128, size=ps).astype(np.int8)
                tp = {"name": "params", "shape": ps, "dtype": "i8", "quant": (0.05, 2)}
                to = {
                    "name": "out",
                    "shape": ishape[:-1] + ps[depth:],
                    "dtype": "i8",
                    "quant": (0.05, 2),
                }
            model = build_model(
                [tp, {"name": "indices", "shape": ishape, "dtype": idt}, to],
                [{"code": tflite.BuiltinOperator.GATHER_ND, "inputs": [0, 1], "outputs": [2]}],
                [0, 1],
                [2],
            )
            cases.append(
                (
                    f"gather_nd_{name}_{dtype}",
                    "GATHER_ND",
                    dtype,
                    {"index_dtype": idt, "depth": depth},
                    model,
                    [p, idx],
                )
            )
    return cases


def _all_codes(shape) -> np.ndarray:
    """Every int8 code, tiled over `shape` (whose size is a multiple of 256)."""
    n = int(np.prod(shape))
    return np.resize(np.arange(-128, 128, dtype=np.int8), n).reshape(shape)


def _gelu_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, approximate, int8 input (scale, zp), int8 output (scale, zp)
        ("exact", False, (0.03, 5), (0.02, -60)),
        ("approximate", True, (0.03, 5), (0.02, -60)),
        ("exact_wide", False, (0.1, -20), (0.05, -100)),
        ("approximate_wide", True, (0.1, -20), (0.05, -100)),
    ]
    for name, approximate, qin, qout in specs:
        # The float cases need no second quantization.
        for dtype in ("i8",) if name.endswith("_wide") else ("f32", "i8"):
            shape = (2, 8, 16)
            if dtype == "f32":
                x = (rng.standard_normal(shape) * 3).astype(np.float32)
            else:
                x = _all_codes(shape)
            tx = {"name": "x", "shape": shape, "dtype": dtype}
            to = {"name": "out", "shape": shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"], to["quant"] = qin, qout

            def opts(b, approximate=approximate):
                tflite.GeluOptionsStart(b)
                tflite.GeluOptionsAddApproximate(b, approximate)
                return tflite.GeluOptionsEnd(b)

            model = build_model(
                [tx, to],
                [
                    {
                        "code": tflite.BuiltinOperator.GELU,
                        "inputs": [0],
                        "outputs": [1],
                        "options": (tflite.BuiltinOptions.GeluOptions, opts),
                    }
                ],
                [0],
                [1],
            )
            cases.append(
                (f"gelu_{name}_{dtype}", "GELU", dtype, {"approximate": approximate}, model, [x])
            )
    return cases


def _squared_difference_cases(rng) -> list:
    import tflite

    def opts(b):
        tflite.SquaredDifferenceOptionsStart(b)
        return tflite.SquaredDifferenceOptionsEnd(b)

    cases = []
    specs = [
        # name, x shape, y shape, y constant, int8 scales (x, y, out)
        ("same_shape", (2, 3, 4), (2, 3, 4), False, (0.05, 0.05, 0.1)),
        ("bcast_row", (2, 3, 4), (4,), False, (0.04, 0.02, 0.06)),
        ("bcast_both", (2, 1, 4), (3, 1), False, (0.03, 0.05, 0.08)),
        ("const_rank4", (1, 4, 4, 3), (1, 1, 1, 3), True, (0.05, 0.01, 0.04)),
    ]
    for name, xs, ys, y_const, (sx, sy, so) in specs:
        for dtype in ("f32", "i8"):
            x = rng.standard_normal(xs).astype(np.float32)
            y = rng.standard_normal(ys).astype(np.float32)
            out_shape = np.broadcast_shapes(xs, ys)
            tx = {"name": "x", "shape": xs, "dtype": dtype}
            ty = {"name": "y", "shape": ys, "dtype": dtype}
            to = {"name": "out", "shape": out_shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"], ty["quant"], to["quant"] = (sx, 3), (sy, -7), (so, -128)
                x = _q(x, *tx["quant"])
                y = _q(y, *ty["quant"])
            if y_const:
                ty["data"] = y
            model = build_model(
                [tx, ty, to],
                [
                    {
                        "code": tflite.BuiltinOperator.SQUARED_DIFFERENCE,
                        "inputs": [0, 1],
                        "outputs": [2],
                        "options": (tflite.BuiltinOptions.SquaredDifferenceOptions, opts),
                    }
                ],
                [0] if y_const else [0, 1],
                [2],
            )
            cases.append(
                (
                    f"squared_difference_{name}_{dtype}",
                    "SQUARED_DIFFERENCE",
                    dtype,
                    {"y_shape": list(ys), "rhs_constant": y_const},
                    model,
                    [x] if y_const else [x, y],
                )
            )
    return cases


def _exp_cases(rng) -> list:
    import tflite

    def opts(b):
        tflite.ExpOptionsStart(b)
        return tflite.ExpOptionsEnd(b)

    cases = []
    specs = [
        # name, int8 input (scale, zp), int8 output (scale, zp)
        ("softmax_range", (0.05, 127), (1 / 256, -128)),
        ("wide", (0.03, -10), (0.2, -128)),
    ]
    for name, qin, qout in specs:
        for dtype in ("f32", "i8") if name == "wide" else ("i8",):
            shape = (2, 128)
            if dtype == "f32":
                x = rng.uniform(-6.0, 4.0, size=shape).astype(np.float32)
            else:
                x = _all_codes(shape)
            tx = {"name": "x", "shape": shape, "dtype": dtype}
            to = {"name": "out", "shape": shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"], to["quant"] = qin, qout
            model = build_model(
                [tx, to],
                [
                    {
                        "code": tflite.BuiltinOperator.EXP,
                        "inputs": [0],
                        "outputs": [1],
                        "options": (tflite.BuiltinOptions.ExpOptions, opts),
                    }
                ],
                [0],
                [1],
            )
            cases.append((f"exp_{name}_{dtype}", "EXP", dtype, {}, model, [x]))
    return cases


def _rsqrt_cases(rng) -> list:
    import tflite

    cases = []
    specs = [
        # name, int8 input (scale, zp), int8 output (scale, zp): the input's codes at or
        # above its zero point only (TFLite Micro rejects the others)
        ("zp_min", (0.02, -128), (0.05, -128)),
        ("zp_mid", (0.005, -40), (0.1, -100)),
    ]
    for name, qin, qout in specs:
        for dtype in ("f32", "i8") if name == "zp_min" else ("i8",):
            shape = (4, 64)
            if dtype == "f32":
                x = rng.uniform(0.01, 9.0, size=shape).astype(np.float32)
            else:
                x = _all_codes(shape)
                x = np.maximum(x, np.int8(qin[1]))
            tx = {"name": "x", "shape": shape, "dtype": dtype}
            to = {"name": "out", "shape": shape, "dtype": dtype}
            if dtype == "i8":
                tx["quant"], to["quant"] = qin, qout
            model = build_model(
                [tx, to],
                [{"code": tflite.BuiltinOperator.RSQRT, "inputs": [0], "outputs": [1]}],
                [0],
                [1],
            )
            cases.append((f"rsqrt_{name}_{dtype}", "RSQRT", dtype, {}, model, [x]))
    return cases


def _block_csr(w: np.ndarray, block: int) -> tuple:
    """The stored values and sparsity of `w`, dense over its leading dimensions and CSR
    over blocks of `block` elements of its last one (TFLite's converter's form; zero
    blocks are left out)."""
    lead, n = w.shape[:-1], w.shape[-1]
    blocks = w.reshape(-1, n // block, block)
    segments, indices, values = [0], [], []
    for row in blocks:
        for j, blk in enumerate(row):
            if np.any(blk != 0):
                indices.append(j)
                values.append(blk)
        segments.append(len(indices))
    dims = [("dense", d) for d in lead] + [("csr", segments, indices)]
    order = list(range(w.ndim))
    block_map = []
    if block > 1:
        dims.append(("dense", block))
        order.append(w.ndim)
        block_map = [w.ndim - 1]
    sp = {"traversal_order": order, "block_map": block_map, "dims": dims}
    return np.concatenate(values).reshape(-1), sp


def _mediapipe_cases(rng) -> list:
    """MediaPipe-style models: float32 activations, float16 weights through DEQUANTIZE,
    sparse weights through DENSIFY (a CSR convolution filter, a fully connected weight in
    1x4 blocks), GELU between the layers."""
    import tflite

    B = tflite.BuiltinOperator
    f16 = lambda a: a.astype(np.float16)  # noqa: E731

    def prune(w, frac, block=1):
        blocks = w.reshape(-1, block)
        keep = rng.random(blocks.shape[0]) >= frac
        return (blocks * keep[:, None]).reshape(w.shape)

    conv_w = prune(rng.standard_normal((8, 3, 3, 4)).astype(np.float32) * 0.3, 0.5)
    conv_b = rng.standard_normal(8).astype(np.float32) * 0.1
    fc_w = prune(rng.standard_normal((16, 128)).astype(np.float32) * 0.1, 0.6, block=4)
    fc_b = rng.standard_normal(16).astype(np.float32) * 0.1
    out_w = rng.standard_normal((5, 16)).astype(np.float32) * 0.3
    conv_vals, conv_sp = _block_csr(f16(conv_w), 1)
    fc_vals, fc_sp = _block_csr(f16(fc_w), 4)

    t = [
        {"name": "image", "shape": (1, 8, 8, 4), "dtype": "f32"},  # 0
        {"name": "conv_w_sparse", "shape": conv_w.shape, "dtype": "f16", "data": conv_vals,
         "sparsity": conv_sp},  # 1
        {"name": "conv_w_f16", "shape": conv_w.shape, "dtype": "f16"},  # 2
        {"name": "conv_w", "shape": conv_w.shape, "dtype": "f32"},  # 3
        {"name": "conv_b_f16", "shape": (8,), "dtype": "f16", "data": f16(conv_b)},  # 4
        {"name": "conv_b", "shape": (8,), "dtype": "f32"},  # 5
        {"name": "conv", "shape": (1, 4, 4, 8), "dtype": "f32"},  # 6
        {"name": "shape", "shape": (2,), "dtype": "i32", "data": np.array([1, 128], np.int32)},
        {"name": "flat", "shape": (1, 128), "dtype": "f32"},  # 8
        {"name": "fc_w_sparse", "shape": fc_w.shape, "dtype": "f16", "data": fc_vals,
         "sparsity": fc_sp},  # 9
        {"name": "fc_w_f16", "shape": fc_w.shape, "dtype": "f16"},  # 10
        {"name": "fc_w", "shape": fc_w.shape, "dtype": "f32"},  # 11
        {"name": "fc_b_f16", "shape": (16,), "dtype": "f16", "data": f16(fc_b)},  # 12
        {"name": "fc_b", "shape": (16,), "dtype": "f32"},  # 13
        {"name": "fc", "shape": (1, 16), "dtype": "f32"},  # 14
        {"name": "gelu", "shape": (1, 16), "dtype": "f32"},  # 15
        {"name": "out_w_f16", "shape": out_w.shape, "dtype": "f16", "data": f16(out_w)},  # 16
        {"name": "out_w", "shape": out_w.shape, "dtype": "f32"},  # 17
        {"name": "logits", "shape": (1, 5), "dtype": "f32"},  # 18
    ]

    def conv_opts(b):
        tflite.Conv2DOptionsStart(b)
        tflite.Conv2DOptionsAddPadding(b, tflite.Padding.SAME)
        tflite.Conv2DOptionsAddStrideW(b, 2)
        tflite.Conv2DOptionsAddStrideH(b, 2)
        tflite.Conv2DOptionsAddFusedActivationFunction(b, tflite.ActivationFunctionType.RELU6)
        return tflite.Conv2DOptionsEnd(b)

    def fc_opts(b):
        tflite.FullyConnectedOptionsStart(b)
        return tflite.FullyConnectedOptionsEnd(b)

    def reshape_opts(b):
        tflite.ReshapeOptionsStart(b)
        return tflite.ReshapeOptionsEnd(b)

    def gelu_opts(b):
        tflite.GeluOptionsStart(b)
        tflite.GeluOptionsAddApproximate(b, True)
        return tflite.GeluOptionsEnd(b)

    O = tflite.BuiltinOptions
    ops = [
        {"code": B.DENSIFY, "inputs": [1], "outputs": [2]},
        {"code": B.DEQUANTIZE, "inputs": [2], "outputs": [3]},
        {"code": B.DEQUANTIZE, "inputs": [4], "outputs": [5]},
        {"code": B.CONV_2D, "inputs": [0, 3, 5], "outputs": [6],
         "options": (O.Conv2DOptions, conv_opts)},
        {"code": B.RESHAPE, "inputs": [6, 7], "outputs": [8],
         "options": (O.ReshapeOptions, reshape_opts)},
        {"code": B.DENSIFY, "inputs": [9], "outputs": [10]},
        {"code": B.DEQUANTIZE, "inputs": [10], "outputs": [11]},
        {"code": B.DEQUANTIZE, "inputs": [12], "outputs": [13]},
        {"code": B.FULLY_CONNECTED, "inputs": [8, 11, 13], "outputs": [14],
         "options": (O.FullyConnectedOptions, fc_opts)},
        {"code": B.GELU, "inputs": [14], "outputs": [15], "options": (O.GeluOptions, gelu_opts)},
        {"code": B.DEQUANTIZE, "inputs": [16], "outputs": [17]},
        {"code": B.FULLY_CONNECTED, "inputs": [15, 17, -1], "outputs": [18],
         "options": (O.FullyConnectedOptions, fc_opts)},
    ]
    model = build_model(t, ops, [0], [18])
    x = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    options = {
        "float16_weights": 4,
        "sparse_weights": {"conv_w": "csr", "fc_w": "csr_blocks_1x4"},
        "zero_fraction": {
            "conv_w": round(float(np.mean(conv_w == 0)), 3),
            "fc_w": round(float(np.mean(fc_w == 0)), 3),
        },
    }
    return [("mediapipe_style_f16_sparse_f32", "MODEL (float16 + DENSIFY)", "f32", options,
             model, [x])]


# ---------------------------------------------------------------------------------------
# References (each in a child process)


def reference_worker(model_path: str, runtime: str, out_dir: str) -> None:
    """Child process: run one model on `runtime` with the inputs beside it."""
    model = Path(model_path)
    stem = model.stem
    out = Path(out_dir)
    feeds = []
    j = 0
    while (out / f"{stem}.input_{j}.npy").exists():
        feeds.append(np.load(out / f"{stem}.input_{j}.npy"))
        j += 1
    if runtime == "tflm":
        from tflite_micro.python.tflite_micro import runtime as tflm

        it = tflm.Interpreter.from_file(str(model))
        for k, x in enumerate(feeds):
            it.set_input(x, k)
        it.invoke()
        outs = [np.asarray(it.get_output(0))]
    else:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kw = {}
        if runtime == "litert_ref":
            kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
        it = Interpreter(model_path=str(model), **kw)
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), feeds):
            it.set_tensor(d["index"], x)
        it.invoke()
        outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    for k, o in enumerate(outs):
        np.save(out / f"{stem}.output_{k}.npy", o)
    sys.stdout.flush()


def _run_reference(script: Path, model: Path, runtime: str, out: Path) -> str | None:
    """Runs the reference child; the error text when it failed."""
    r = subprocess.run(
        [sys.executable, str(script), "--_tflite-ops-worker", str(model), runtime, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0 or not (out / f"{model.stem}.output_0.npy").exists():
        lines = (r.stderr or r.stdout or f"exit code {r.returncode}").strip().splitlines()
        return lines[-1] if lines else f"exit code {r.returncode}"
    return None


def make_tflite_ops(out: Path, script: Path) -> dict:
    root = out / "tflite_ops"
    if root.exists():
        for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    cases = (
        _batch_matmul_cases(rng)
        + _arg_cases(rng)
        + _cumsum_cases(rng)
        + _gather_nd_cases(rng)
        + _gelu_cases(rng)
        + _squared_difference_cases(rng)
        + _rsqrt_cases(rng)
        + _exp_cases(rng)
        + _mediapipe_cases(rng)
    )
    meta = []
    counts = {}
    for name, op, dtype, options, model, feeds in cases:
        path = root / f"{name}.tflite"
        path.write_bytes(model)
        inputs = []
        for j, x in enumerate(feeds):
            np.save(root / f"{name}.input_{j}.npy", x)
            inputs.append(f"{name}.input_{j}.npy")
        entry = {"name": name, "op": op, "dtype": dtype, "options": options, "inputs": inputs}
        if dtype == "f32":
            err = _run_reference(script, path, "litert", root)
            if err is not None:
                raise RuntimeError(f"LiteRT failed on {name}: {err}")
            entry["reference"] = "litert"
        else:
            err = _run_reference(script, path, "tflm", root)
            if err is None:
                entry["reference"] = "tflm"
            else:
                ref_err = _run_reference(script, path, "litert_ref", root)
                if ref_err is not None:
                    raise RuntimeError(f"no reference for {name}: TFLM: {err}; LiteRT: {ref_err}")
                entry["reference"] = "litert_ref"
                entry["tflm_error"] = err
        entry["outputs"] = [f"{name}.output_0.npy"]
        counts[entry["reference"]] = counts.get(entry["reference"], 0) + 1
        meta.append(entry)
    with open(root / "meta.json", "w") as f:
        json.dump({"seed": SEED, "cases": meta}, f, indent=1, sort_keys=True)
        f.write("\n")
    return {"tflite_ops": f"{len(meta)} cases ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))})"}
