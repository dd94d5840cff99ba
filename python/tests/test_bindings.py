"""The Python bindings against `nnopt fl simulate`, and their error paths.

Usage: python test_bindings.py PROGRAM.ntp DATA.csv.gz SIMULATE_FP8.json SIMULATE_FP32.json

The JSON files are `nnopt fl simulate --clients 3 --rounds 4 --seed 3 --precision P
--json` runs. The same federation driven from Python (a Federation, and clients saved to
bytes and restored every round, as Flower ClientApps do) must print the same JSON. Exits
non-zero with a message on the first failed check.
"""

import json
import sys

import numpy as np

import nnopt

CLIENTS, ROUNDS, SEED = 3, 4, 3


def federate(program, data, precision):
    fed = nnopt.Federation(
        program, data, clients=CLIENTS, rounds=ROUNDS, seed=SEED, precision=precision
    )
    rows = nnopt.client_rows(program, data, CLIENTS, seed=SEED)
    states = [
        nnopt.FlClient(program, i, seed=SEED, precision=precision).save()
        for i in range(CLIENTS)
    ]
    for r in range(1, ROUNDS + 1):
        broadcast = fed.broadcast(r)
        updates, training = [], []
        for i in range(CLIENTS):
            client = nnopt.FlClient.restore(program, states[i], precision=precision)
            update, done = client.round(broadcast, data, rows[i], 1)
            states[i] = client.save()
            updates.append(update)
            training.append(done)
        fed.end_round(
            r,
            updates,
            training,
            sum(map(len, updates)),
            len(broadcast) * CLIENTS,
            len(broadcast),
            len(updates[-1]),
        )
    return json.loads(fed.summary_json()), states


def expect_error(what, f, kind=nnopt.Error):
    try:
        f()
    except kind:
        return
    sys.exit(f"FAIL: {what} raised no {kind.__name__}")


def main():
    program_path, data_path, fp8_json, fp32_json = sys.argv[1:5]
    program = nnopt.TrainingProgram(program_path)
    data = nnopt.Dataset(data_path)
    for precision, path in [("fp8", fp8_json), ("fp32", fp32_json)]:
        with open(path) as f:
            want = json.load(f)
        got, states = federate(program, data, precision)
        if got != want:
            keys = [k for k in want if want.get(k) != got.get(k)]
            sys.exit(f"FAIL: {precision}: the Python federation differs in {keys}")
        print(f"{precision}: per-round accuracy {[r['accuracy'] for r in got['rounds']]} equals fl simulate")
        expect_error("a truncated client state", lambda: nnopt.FlClient.restore(program, states[0][:-1]))

    # The numpy-level runtime: train, evaluate, messages.
    x, y = data.features(), data.labels()
    train, test = data.train_rows, data.test_rows
    trainer = nnopt.Trainer(program, precision="fp32", seed=1)
    before = nnopt.evaluate(program, trainer.get_params(), x[test], y[test])
    stats = trainer.train(x[train], y[train], epochs=2)
    after = nnopt.evaluate(program, trainer.get_params(), x[test], y[test])
    assert stats["samples"] == 2 * (len(train) // program.batch) * program.batch, stats
    assert after[0] > max(before[0], 0.5), (before, after)
    print(f"Trainer: 2 epochs, test accuracy {before[0]:.3f} -> {after[0]:.3f}")
    params = trainer.get_params()
    for enc, lo, hi in [("fp32", 4, 4), ("fp8", 1, 1.2)]:
        m = nnopt.encode_message(program, "update", params, enc, seed=1)
        back = nnopt.decode_message(program, m)
        values = sum(p.size for p in params)
        assert lo * values < len(m) < hi * values + 1024, (enc, len(m), values)
        assert back["kind"] == "update" and back["encoding"] == enc
        err = max(float(np.max(np.abs(a - b))) for a, b in zip(params, back["values"]))
        scale = max(float(np.max(np.abs(a))) for a in params)
        assert err <= (0 if enc == "fp32" else 0.07 * scale), (enc, err, scale)
    trainer.set_params(params)
    expect_error("a damaged message", lambda: nnopt.decode_message(program, b"\x00" * 40))
    expect_error("arrays of the wrong shape", lambda: trainer.set_params(params[::-1]), ValueError)
    expect_error("features without rows", lambda: trainer.train(np.array(1.0, dtype=np.float32), y[:0]), ValueError)
    expect_error("labels of another length", lambda: trainer.train(x[:4], y[:3]), ValueError)
    expect_error("an unknown precision", lambda: nnopt.Trainer(program, precision="fp16"), ValueError)
    expect_error("a missing program", lambda: nnopt.TrainingProgram("/nonexistent.ntp"))
    print("ok")


if __name__ == "__main__":
    main()
