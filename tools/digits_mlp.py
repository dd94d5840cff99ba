"""A small MLP trained on the digits data (for FP8 accuracy tests): 64 -> 64 (ReLU) -> 10.

Split of the 1797 rows (file order): rows with index % 5 in {1, 2, 3} train (1078 rows);
rows with index % 5 in {0, 4} are held out (719 rows; the tests calibrate on held-out
rows with index % 5 == 0 and evaluate on those with index % 5 == 4, or on all held-out
rows for FP32 figures). Inputs are pixel / 16 in [0, 1], shape [1, 64].

Training: full-batch gradient descent with momentum 0.9, learning rate 0.5, weight decay
1e-3 on the weights, 400 steps, softmax cross-entropy, Glorot-uniform init from a fixed seed; numpy float64, written as
float32 ONNX (Gemm, Relu, Gemm; opset 17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED_MLP = 64
HIDDEN = 64
WEIGHT_DECAY = 1e-3


def split_rows(n: int):
    idx = np.arange(n)
    train = idx[np.isin(idx % 5, [1, 2, 3])]
    held = idx[np.isin(idx % 5, [0, 4])]
    return train, held


def _glorot(rng, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, (fan_in, fan_out))


def train(x: np.ndarray, y: np.ndarray):
    """x: [N, 64] float in [0, 1]; y: [N] labels. Returns (w1, b1, w2, b2) float32."""
    rng = np.random.default_rng(SEED_MLP)
    w1, b1 = _glorot(rng, 64, HIDDEN), np.zeros(HIDDEN)
    w2, b2 = _glorot(rng, HIDDEN, 10), np.zeros(10)
    params = [w1, b1, w2, b2]
    vel = [np.zeros_like(p) for p in params]
    onehot = np.eye(10)[y]
    n = len(y)
    for _ in range(400):
        h_pre = x @ w1 + b1
        h = np.maximum(h_pre, 0.0)
        logits = h @ w2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g_logits = (p - onehot) / n
        g_w2 = h.T @ g_logits
        g_b2 = g_logits.sum(axis=0)
        g_h = g_logits @ w2.T * (h_pre > 0)
        g_w1 = x.T @ g_h
        g_b1 = g_h.sum(axis=0)
        g_w1 += WEIGHT_DECAY * w1
        g_w2 += WEIGHT_DECAY * w2
        for k, g in enumerate([g_w1, g_b1, g_w2, g_b2]):
            vel[k] = 0.9 * vel[k] - 0.5 * g
            params[k] += vel[k]
    return [p.astype(np.float32) for p in params]


def predict(params, x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = params
    h = np.maximum(x @ w1 + b1, 0.0)
    return np.argmax(h @ w2 + b2, axis=1)


def write_onnx(params, path: Path) -> None:
    w1, b1, w2, b2 = params
    inits = [numpy_helper.from_array(a, name) for a, name in zip(params, ["w1", "b1", "w2", "b2"])]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h_pre"], name="fc1"),
        helper.make_node("Relu", ["h_pre"], ["h"], name="relu1"),
        helper.make_node("Gemm", ["h", "w2", "b2"], ["logits"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="nnopt tools/digits_mlp.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString())


def make_digits_mlp(x_nhwc: np.ndarray, y: np.ndarray, path: Path) -> dict:
    """Trains the MLP on the training rows, writes it, returns held-out accuracies."""
    x = x_nhwc.reshape(len(y), 64).astype(np.float64)
    tr, held = split_rows(len(y))
    params = train(x[tr], y[tr])
    write_onnx(params, path)
    pred = predict([p.astype(np.float64) for p in params], x.astype(np.float32))
    return {
        "mlp_train_rows": int(len(tr)),
        "mlp_heldout_rows": int(len(held)),
        "mlp_train_accuracy": round(float(np.mean(pred[tr] == y[tr])), 6),
        "mlp_heldout_accuracy": round(float(np.mean(pred[held] == y[held])), 6),
    }
