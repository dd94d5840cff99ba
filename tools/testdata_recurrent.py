"""Section `recurrent` of make_testdata.py: recurrent layers against their references.

ONNX RNN / GRU / LSTM models with seeded random weights covering the options (directions,
functions with alpha/beta, clip, linear_before_reset, input_forget, peepholes, initial
states, ragged sequence lengths), run by onnxruntime (which refuses layout 1: the node
tests cover it); and TFLite
UNIDIRECTIONAL_SEQUENCE_LSTM models written with the `tflite` flatbuffer builders: f32
run by LiteRT, int8 (int16 cell state) by TFLite Micro's Python interpreter.

testdata/recurrent/
  onnx/NAME.onnx, NAME.input_J.npy, NAME.output_J.npy, index.json
  tflite/NAME/model.tflite, input.npy, output.npy (LiteRT for f32, TFLite Micro for int8),
  tflite/index.json
  tflite-refused/NAME.tflite, index.json (f32 models with what TFLite Micro's kernel does
  not support: name -> words nnopt's refusal names)
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np

SEED = 20261206


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(SEED + zlib.crc32(name.encode()))


def _write_json(path: Path, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


# -- ONNX --------------------------------------------------------------------------------

# name: (op, attributes, T, B, I, H, optional inputs, description)
# optional inputs: "B", "lens" (ragged, a constant), "h0", "c0", "P" (initial states are
# graph inputs).
ONNX_CASES = {
    "rnn_bidirectional_relu_lens": (
        "RNN", dict(direction="bidirectional", activations=["Relu", "LeakyRelu"], activation_alpha=[0.2]),
        5, 3, 4, 6, ["B", "lens", "h0"], "bidirectional, Relu / LeakyRelu(0.2), ragged lengths, initial_h",
    ),
    "rnn_reverse_clip": (
        "RNN", dict(direction="reverse", clip=0.7), 4, 2, 3, 5, ["B"], "reverse, clip 0.7",
    ),
    "gru_lbr_reverse_clip": (
        "GRU", dict(direction="reverse", linear_before_reset=1, clip=1.5), 6, 2, 3, 4, ["B", "h0"],
        "reverse, linear_before_reset, clip, initial_h",
    ),
    "gru_bidirectional_functions_lens": (
        "GRU",
        dict(
            direction="bidirectional",
            activations=["HardSigmoid", "Softsign", "Sigmoid", "ScaledTanh"],
            activation_alpha=[0.3, 0.9],
            activation_beta=[0.45, 1.2],
        ),
        5, 3, 2, 4, ["B", "lens"], "bidirectional, HardSigmoid(a, b) / Softsign / Sigmoid / ScaledTanh(a, b), ragged lengths",
    ),
    "gru_forward_lbr": (
        "GRU", dict(linear_before_reset=1), 4, 1, 5, 3, ["B"], "forward, linear_before_reset",
    ),
    "lstm_bidirectional_peepholes_lens": (
        "LSTM", dict(direction="bidirectional"), 5, 3, 3, 4, ["B", "lens", "h0", "c0", "P"],
        "bidirectional, peepholes, ragged lengths, initial_h and initial_c",
    ),
    "lstm_input_forget_clip": (
        "LSTM", dict(input_forget=1, clip=1.2), 4, 2, 3, 5, ["B", "P"], "input_forget, clip, peepholes",
    ),
    "lstm_reverse_functions": (
        "LSTM",
        dict(
            direction="reverse",
            activations=["HardSigmoid", "Elu", "Softplus"],
            activation_alpha=[0.25, 0.8],
            activation_beta=[0.55],
        ),
        4, 2, 3, 3, ["B"], "reverse, HardSigmoid(a, b) / Elu(a) / Softplus",
    ),
    "lstm_functions_affine_thresholded": (
        "LSTM",
        dict(activations=["Sigmoid", "Affine", "ThresholdedRelu"], activation_alpha=[0.6, 0.1], activation_beta=[0.3]),
        3, 2, 2, 3, ["B", "h0"], "Affine(a, b) / ThresholdedRelu(a), initial_h",
    ),
}


def _onnx_model(name: str, case):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    op, attrs, T, B, I, H, opts, _ = case
    rng = _rng(name)
    D = 2 if attrs.get("direction") == "bidirectional" else 1
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[op]
    layout = attrs.get("layout", 0)
    f32 = lambda *s: (rng.standard_normal(s) * 0.6).astype(np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f32(D, G * H, I), "W"), numpy_helper.from_array(f32(D, G * H, H), "R")]
    ins = ["X", "W", "R", "", "", "", "", ""]
    x_shape = [B, T, I] if layout else [T, B, I]
    state = [B, D, H] if layout else [D, B, H]
    graph_inputs = [("X", x_shape)]
    if "B" in opts:
        inits.append(numpy_helper.from_array(f32(D, 2 * G * H), "B"))
        ins[3] = "B"
    if "lens" in opts:
        lens = rng.integers(1, T + 1, size=B).astype(np.int32)
        lens[0] = T
        inits.append(numpy_helper.from_array(lens, "sequence_lens"))
        ins[4] = "sequence_lens"
    if "h0" in opts:
        graph_inputs.append(("initial_h", state))
        ins[5] = "initial_h"
    if "c0" in opts:
        graph_inputs.append(("initial_c", state))
        ins[6] = "initial_c"
    if "P" in opts:
        inits.append(numpy_helper.from_array(f32(D, 3 * H), "P"))
        ins[7] = "P"
    while ins and ins[-1] == "":
        ins.pop()
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, ins, outs, name=name, hidden_size=H, **attrs)
    y_shape = [B, T, D, H] if layout else [T, D, B, H]
    graph = helper.make_graph(
        [node],
        name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in graph_inputs],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in outs[1:]],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", 22)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nnopt-make_testdata", ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in graph_inputs}
    return model, feeds


def make_onnx_recurrent(out: Path) -> dict:
    import onnx
    import onnxruntime as ort

    odir = out / "recurrent" / "onnx"
    odir.mkdir(parents=True)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    index = []
    for name, case in ONNX_CASES.items():
        model, feeds = _onnx_model(name, case)
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
        onnx.save(model, odir / f"{name}.onnx")
        for j, n in enumerate(feeds):
            np.save(odir / f"{name}.input_{j}.npy", feeds[n])
        for j, o in enumerate(outs):
            np.save(odir / f"{name}.output_{j}.npy", o)
        index.append({"name": name, "op": case[0], "description": case[7], "outputs": len(outs)})
    _write_json(odir / "index.json", {"reference": f"onnxruntime {ort.__version__} CPU", "models": index})
    return {"recurrent_onnx_models": len(index)}


# -- TFLite ------------------------------------------------------------------------------

# name: (int8, time_major, T, B, I, H, cell_clip)
TFLITE_CASES = {
    "lstm_f32_time_major": (False, True, 5, 2, 3, 4, 0.0),
    "lstm_f32_batch_major_clip": (False, False, 4, 3, 5, 6, 0.8),
    "lstm_int8_time_major": (True, True, 6, 2, 4, 5, 0.0),
    "lstm_int8_batch_major": (True, False, 5, 3, 3, 8, 0.0),
    "lstm_int8_batch_major_clip": (True, False, 7, 1, 6, 4, 1.5),
    "lstm_int8_time_major_clip": (True, True, 4, 3, 2, 3, 0.5),
}

# TFLite's gate order of the 4 + 4 weights and 4 biases (input, forget, cell, output).
_GATES = ("input", "forget", "cell", "output")


# name: (input slots given an extra f32 tensor of shape [H] or [H, H], slots left out,
# fused activation, the words nnopt's refusal must contain)
REFUSED_CASES = {
    "peepholes": ({9: 1, 10: 1, 11: 1}, (), "TANH", "peephole"),
    "projection": ({16: 2}, (), "TANH", "projection"),
    "layer_norm": ({20: 1, 21: 1, 22: 1, 23: 1}, (), "TANH", "layer normalization"),
    "cifg": ({}, (1, 5, 12), "TANH", "CIFG"),
    "relu_cell": ({}, (), "RELU", "cell activation"),
}


def _lstm_tflite(name: str, case, variant=None) -> tuple[bytes, np.ndarray, dict]:
    """The model's bytes, an input and a description of its tensors; `variant` is one of
    REFUSED_CASES's values."""
    import flatbuffers
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.BuiltinOptions import BuiltinOptions
    from tflite.TensorType import TensorType

    int8, time_major, T, B, I, H, cell_clip = case
    rng = _rng(name)
    x_shape = [T, B, I] if time_major else [B, T, I]
    b = flatbuffers.Builder(4096)
    buffers = [b""]  # buffer 0: empty
    tensors = []  # (name, shape, type, buffer, quant or None, is_variable)

    def tensor(tname, shape, ttype, data=None, quant=None, variable=False):
        buf = 0
        if data is not None:
            buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(buffers) - 1
        tensors.append((tname, list(shape), ttype, buf, quant, variable))
        return len(tensors) - 1

    x_scale, x_zp = 1.0 / 96, int(rng.integers(-10, 11))
    h_scale, h_zp = 1.0 / 128, int(rng.integers(-5, 6))
    c_scale = 2.0**-11
    x_real = rng.uniform(-1.2, 1.2, size=x_shape).astype(np.float32)
    if int8:
        x = np.clip(np.round(x_real / x_scale) + x_zp, -128, 127).astype(np.int8)
        inp = tensor("input", x_shape, TensorType.INT8, quant=([x_scale], [x_zp]))
    else:
        x = x_real
        inp = tensor("input", x_shape, TensorType.FLOAT32)
    ins = [inp]
    weights = {}
    for kind, cols in (("input_to", I), ("recurrent_to", H)):
        for gate in _GATES:
            w = (rng.standard_normal((H, cols)) * 0.5).astype(np.float32)
            tname = f"{kind}_{gate}_weights"
            if int8:
                s = float(np.abs(w).max()) / 127
                q = np.clip(np.round(w / s), -127, 127).astype(np.int8)
                weights[tname] = s
                ins.append(tensor(tname, [H, cols], TensorType.INT8, q, ([s], [0])))
            else:
                ins.append(tensor(tname, [H, cols], TensorType.FLOAT32, w))
    ins += [-1, -1, -1]  # no peepholes
    for gate in _GATES:
        bias = (rng.standard_normal(H) * 0.3).astype(np.float32)
        if gate == "forget":
            bias += 1.0
        if int8:
            s = x_scale * weights[f"input_to_{gate}_weights"]
            q = np.round(bias / s).astype(np.int32)
            ins.append(tensor(f"{gate}_gate_bias", [H], TensorType.INT32, q, ([s], [0])))
        else:
            ins.append(tensor(f"{gate}_gate_bias", [H], TensorType.FLOAT32, bias))
    ins += [-1, -1]  # no projection
    if int8:
        ins.append(tensor("output_state", [B, H], TensorType.INT8, quant=([h_scale], [h_zp]), variable=True))
        ins.append(tensor("cell_state", [B, H], TensorType.INT16, quant=([c_scale], [0]), variable=True))
        out = tensor("output", [*x_shape[:2], H], TensorType.INT8, quant=([h_scale], [h_zp]))
    else:
        ins.append(tensor("output_state", [B, H], TensorType.FLOAT32, variable=True))
        ins.append(tensor("cell_state", [B, H], TensorType.FLOAT32, variable=True))
        out = tensor("output", [*x_shape[:2], H], TensorType.FLOAT32)
    ins += [-1, -1, -1, -1]  # no layer normalization
    act = "TANH"
    if variant:
        extra, dropped, act, _ = variant
        for slot, rank in extra.items():
            shape = [H] if rank == 1 else [H, H]
            ins[slot] = tensor(f"extra_{slot}", shape, TensorType.FLOAT32, np.full(shape, 0.1, np.float32))
        for slot in dropped:
            ins[slot] = -1

    def ivec(start, vals):
        start(b, len(vals))
        for v in reversed(vals):
            b.PrependInt32(v)
        return b.EndVector()

    # Buffers (data 16-byte aligned).
    buf_offs = []
    for data in buffers:
        vec = None
        if data:
            b.Prep(16, len(data))
            vec = b.CreateNumpyVector(np.frombuffer(data, dtype=np.uint8))
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        buf_offs.append(tflite.BufferEnd(b))
    t_offs = []
    for tname, shape, ttype, buf, quant, variable in tensors:
        nm = b.CreateString(tname)
        sh = ivec(tflite.TensorStartShapeVector, shape)
        q = None
        if quant:
            sc = b.CreateNumpyVector(np.array(quant[0], np.float32))
            zp = b.CreateNumpyVector(np.array(quant[1], np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sc)
            tflite.QuantizationParametersAddZeroPoint(b, zp)
            q = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, sh)
        tflite.TensorAddType(b, ttype)
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, nm)
        if q is not None:
            tflite.TensorAddQuantization(b, q)
        tflite.TensorAddIsVariable(b, variable)
        t_offs.append(tflite.TensorEnd(b))
    tflite.UnidirectionalSequenceLSTMOptionsStart(b)
    tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(
        b, getattr(tflite.ActivationFunctionType, act)
    )
    tflite.UnidirectionalSequenceLSTMOptionsAddCellClip(b, cell_clip)
    tflite.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, time_major)
    opts = tflite.UnidirectionalSequenceLSTMOptionsEnd(b)
    op_in = ivec(tflite.OperatorStartInputsVector, ins)
    op_out = ivec(tflite.OperatorStartOutputsVector, [out])
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_in)
    tflite.OperatorAddOutputs(b, op_out)
    tflite.OperatorAddBuiltinOptionsType(b, BuiltinOptions.UnidirectionalSequenceLSTMOptions)
    tflite.OperatorAddBuiltinOptions(b, opts)
    op = tflite.OperatorEnd(b)

    def ovec(start, offs):
        start(b, len(offs))
        for o in reversed(offs):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    sg_t = ovec(tflite.SubGraphStartTensorsVector, t_offs)
    sg_i = ivec(tflite.SubGraphStartInputsVector, [inp])
    sg_o = ivec(tflite.SubGraphStartOutputsVector, [out])
    sg_ops = ovec(tflite.SubGraphStartOperatorsVector, [op])
    sg_name = b.CreateString(name)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, sg_t)
    tflite.SubGraphAddInputs(b, sg_i)
    tflite.SubGraphAddOutputs(b, sg_o)
    tflite.SubGraphAddOperators(b, sg_ops)
    tflite.SubGraphAddName(b, sg_name)
    sg = tflite.SubGraphEnd(b)
    code = BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, code)
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    oc = tflite.OperatorCodeEnd(b)
    m_codes = ovec(tflite.ModelStartOperatorCodesVector, [oc])
    m_sgs = ovec(tflite.ModelStartSubgraphsVector, [sg])
    m_bufs = ovec(tflite.ModelStartBuffersVector, buf_offs)
    desc = b.CreateString("nnopt make_testdata recurrent")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, m_codes)
    tflite.ModelAddSubgraphs(b, m_sgs)
    tflite.ModelAddBuffers(b, m_bufs)
    tflite.ModelAddDescription(b, desc)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    info = {
        "int8": int8,
        "time_major": time_major,
        "steps": T,
        "batch": B,
        "input": I,
        "hidden": H,
        "cell_clip": cell_clip,
    }
    return bytes(b.Output()), x, info


def _run_litert(model: bytes, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def _run_tflm(model: bytes, x: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model)
    it.set_input(x, 0)
    it.invoke()
    return np.asarray(it.get_output(0)).copy()


def make_tflite_lstm(out: Path) -> dict:
    tdir = out / "recurrent" / "tflite"
    index = {}
    for name, case in TFLITE_CASES.items():
        model, x, info = _lstm_tflite(name, case)
        cdir = tdir / name
        cdir.mkdir(parents=True)
        (cdir / "model.tflite").write_bytes(model)
        y = _run_tflm(model, x) if info["int8"] else _run_litert(model, x)
        np.save(cdir / "input.npy", x)
        np.save(cdir / "output.npy", y)
        info["reference"] = "tflite-micro Python interpreter" if info["int8"] else "LiteRT"
        index[name] = info
    _write_json(tdir / "index.json", index)
    rdir = out / "recurrent" / "tflite-refused"
    rdir.mkdir(parents=True)
    for name, variant in REFUSED_CASES.items():
        model, _, _ = _lstm_tflite(name, TFLITE_CASES["lstm_f32_time_major"], variant)
        (rdir / f"{name}.tflite").write_bytes(model)
    _write_json(rdir / "index.json", {n: v[3] for n, v in REFUSED_CASES.items()})
    return {"recurrent_tflite_models": len(index), "recurrent_tflite_refused": len(REFUSED_CASES)}


def make_recurrent(out: Path) -> dict:
    root = out / "recurrent"
    if root.exists():
        shutil.rmtree(root)
    return {**make_onnx_recurrent(out), **make_tflite_lstm(out)}
