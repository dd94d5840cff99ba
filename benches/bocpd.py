#!/usr/bin/env python3
"""Active multi-fidelity changepoint detection (`nnopt monitor`): F1 against cost.

Generates fixed-seed streams with known changepoints (piecewise-Gaussian with two
fidelities of noise variance ratio 100, Beta-Binomial counts of 1 or 20 trials, and an
audio stream of espeak-ng speech and pauses whose per-frame log energy is averaged over
the frame's 16 sub-frames or read from its first sub-frame only), runs the release
`nnopt monitor --json` with each policy on each seed, and prints per stream and policy
the mean F1 within a tolerance window, the mean total cost, its ratio to always-high,
and whether the goal holds: F1 >= always-high's - 0.05 at <= 50 % of its cost, for
ig-per-cost and for its budgeted variant (--budget 45 % of always-high's cost, which
prices cost instead of dividing by it; see train/src/bocpd/policy.rs).

With --fl PROGRAM DATA it also runs `nnopt fl simulate` on 10 Dirichlet(0.3) clients for
30 rounds with drift at rounds 11 and 21, with --participation always and on-change,
and prints bytes (up + down), accuracy, clients per round and detected changes.

Usage: .venv/bin/python benches/bocpd.py [--seeds 5] [--nnopt PATH] [--json] [--check]
           [--streams gaussian,bernoulli,audio] [--fl client.ntp digits.csv.gz]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import BenchError, build_nnopt, run_json  # noqa: E402

# (row name, --policy, budget as a fraction of always-high's cost or None)
POLICIES = [
    ("ig-per-cost", "ig-per-cost", None),
    ("ig-budget-45%", "ig-per-cost", 0.45),
    ("always-high", "always-high", None),
    ("always-low", "always-low", None),
    ("random", "random", None),
]


def segments(rng, steps, low, high):
    """Segment boundaries (first step of each new segment) with lengths in [low, high]."""
    cps, t = [], int(rng.integers(low, high + 1))
    while t < steps - low // 2:
        cps.append(t)
        t += int(rng.integers(low, high + 1))
    return cps


def levels(cps, steps, draw):
    """One value per step: draw(k) for the k-th segment."""
    out, k, bounds = np.empty(steps), 0, [0] + cps + [steps]
    for a, b in zip(bounds, bounds[1:]):
        out[a:b] = draw(k)
        k += 1
    return out


def write_csv(path, names, columns, fmt):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in zip(*columns):
            f.write(",".join(fmt % v for v in row) + "\n")


def gaussian_stream(seed, out):
    """1500 steps, segments of 60-200 steps, levels jumping by 1.5-4; noise variance 0.25
    (high fidelity, cost 10) and 25 (low, cost 1): zeta = 0.01."""
    rng = np.random.default_rng(seed)
    steps = 1500
    cps = segments(rng, steps, 60, 200)
    level = [0.0]
    for _ in cps:
        level.append(level[-1] + rng.choice([-1, 1]) * rng.uniform(1.5, 4.0))
    mean = levels(cps, steps, lambda k: level[k])
    low = mean + rng.normal(0, 5.0, steps)
    high = mean + rng.normal(0, 0.5, steps)
    write_csv(out, ["low", "high"], [low, high], "%.6f")
    return ["--costs", "1,10", "--hazard", "130"], cps


def bernoulli_stream(seed, out):
    """2000 steps, segments of 100-300 steps, success probability redrawn from 0.05-0.95
    (at least 0.25 away from the last); fidelities count 1 trial (cost 1) or 20 (cost 10)."""
    rng = np.random.default_rng(seed)
    steps = 2000
    cps = segments(rng, steps, 100, 300)
    probs = [rng.uniform(0.05, 0.95)]
    for _ in cps:
        p = rng.uniform(0.05, 0.95)
        while abs(p - probs[-1]) < 0.25:
            p = rng.uniform(0.05, 0.95)
        probs.append(p)
    p = levels(cps, steps, lambda k: probs[k])
    one = rng.binomial(1, p)
    twenty = rng.binomial(20, p)
    write_csv(out, ["one_trial", "twenty_trials"], [one, twenty], "%d")
    return ["--costs", "1,10", "--hazard", "200", "--model", "bernoulli", "--trials", "1,20"], cps


SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "edge devices listen for changes in the stream",
    "a cheap sensor reads often and a precise one reads rarely",
    "speech starts and stops and the detector follows",
    "seven green bottles standing on the wall",
    "measure carefully when something seems to change",
]
VOICES = ["en", "en-us", "en+m3", "en+f2", "en+f4", "en-gb-scotland"]
RATE = 22050
FRAME = 1104  # 50 ms: 16 sub-frames of 69 samples


def speech(rng, tmp):
    """One espeak-ng utterance with a random voice, pitch and speed, its leading and
    trailing silence trimmed, as float samples."""
    wav = tmp / "say.wav"
    cmd = [
        "espeak-ng", "-v", str(rng.choice(VOICES)), "-p", str(int(rng.integers(20, 80))),
        "-s", str(int(rng.integers(130, 190))), "-w", str(wav), str(rng.choice(SENTENCES)),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    with wave.open(str(wav)) as w:
        if w.getframerate() != RATE or w.getsampwidth() != 2:
            raise BenchError(f"espeak-ng wrote {w.getframerate()} Hz, {8 * w.getsampwidth()} bit")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16) / 32768.0
    loud = np.flatnonzero(np.abs(x) > 0.02)
    return x[loud[0]:loud[-1] + 1]


def subframe_log_energy(x):
    """Per frame, the log energy (dB) of each of its 16 sub-frames: shape (frames, 16)."""
    n = len(x) // FRAME
    sub = x[: n * FRAME].reshape(n, 16, FRAME // 16)
    return 10 * np.log10(np.mean(sub ** 2, axis=2) + 1e-10)


def audio_stream(seed, out):
    """About a minute of espeak-ng utterances separated by 0.8-2.5 s pauses, over a quiet
    noise floor. Per 50 ms frame: the mean log energy (dB) of its 16 sub-frames of 3 ms
    (high fidelity, cost 10: the whole frame is read) or the log energy of its first
    sub-frame only (low, cost 1), whose variance is about 16 times larger. Known
    changepoints: the frames where speech starts or stops."""
    if shutil.which("espeak-ng") is None:
        raise BenchError("espeak-ng is not installed (apt-get install espeak-ng)")
    rng = np.random.default_rng(seed)
    parts, cps, frames = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(14):
            pause = np.zeros(FRAME * int(rng.integers(16, 50)))
            s = speech(rng, Path(tmp))
            s = s[: len(s) // FRAME * FRAME]
            for piece in (pause, s):
                if frames > 0:
                    cps.append(frames)
                parts.append(piece)
                frames += len(piece) // FRAME
    x = np.concatenate(parts)
    x = x + rng.normal(0, 0.002, len(x))
    sub = subframe_log_energy(x)
    high, low = sub.mean(axis=1), sub[:, 0]
    write_csv(out, ["decimated_noisy_db", "full_rate_db"], [low, high], "%.4f")
    return ["--costs", "1,10", "--hazard", "30"], cps


STREAMS = {
    "gaussian": (gaussian_stream, 5),
    "bernoulli": (bernoulli_stream, 10),
    "audio": (audio_stream, 3),
}


def run_stream(nnopt, name, seeds, tmp):
    make, tolerance = STREAMS[name]
    results = {row: [] for row, _, _ in POLICIES}
    for seed in seeds:
        csv = tmp / f"{name}_{seed}.csv"
        flags, truth = make(seed, csv)
        steps = sum(1 for _ in open(csv)) - 1
        high = max(float(c) for c in flags[flags.index("--costs") + 1].split(","))
        for row, policy, budget in POLICIES:
            cmd = [nnopt, "monitor", "--stream", str(csv), *flags, "--policy", policy,
                   "--seed", str(seed), "--truth", ",".join(map(str, truth)),
                   "--tolerance", str(tolerance), "--json"]
            if budget is not None:
                cmd += ["--budget", str(budget * high * steps)]
            r = run_json(cmd)
            results[row].append({"seed": seed, "f1": r["score"]["f1"], "cost": r["cost"]})
    return results


def summarize(name, results):
    mean = lambda p, key: float(np.mean([r[key] for r in results[p]]))  # noqa: E731
    high_cost = mean("always-high", "cost")
    rows = {p: {
        "stream": name, "policy": p, "f1": mean(p, "f1"), "cost": mean(p, "cost"),
        "cost_ratio": mean(p, "cost") / high_cost,
    } for p, _, _ in POLICIES}
    high = rows["always-high"]["f1"]
    goal = {p: rows[p]["f1"] >= high - 0.05 and rows[p]["cost_ratio"] <= 0.5
            for p in ("ig-per-cost", "ig-budget-45%")}
    return list(rows.values()), goal


FL_FLAGS = ["--clients", "10", "--rounds", "30", "--non-iid", "dirichlet:0.3", "--drift", "11,21"]
# Always-on, then on-change with these --active-rounds.
FL_VARIANTS = [("always", None), ("on-change", 3), ("on-change", 6), ("on-change", 10)]


def fl_compare(nnopt, program, data, seeds):
    """`fl simulate` with drift: bytes and accuracy of on-change vs always-on participation."""
    rows = []
    for participation, active in FL_VARIANTS:
        extra = ["--active-rounds", str(active)] if active else []
        runs = [run_json([nnopt, "fl", "simulate", "--program", program, "--data", data,
                          *FL_FLAGS, "--participation", participation, *extra,
                          "--seed", str(seed), "--json"]) for seed in seeds]
        rows.append({
            "participation": participation + (f" ({active} rounds)" if active else ""),
            "bytes": float(np.mean([r["total_bytes_up"] + r["total_bytes_down"] for r in runs])),
            "final_accuracy": float(np.mean([r["final_accuracy"] for r in runs])),
            "last_5_rounds_accuracy": float(np.mean([r["last_5_rounds_accuracy"] for r in runs])),
            "clients_per_round": float(np.mean([np.mean(r["participation"]["participants"]) for r in runs])),
            "detections": float(np.mean([sum(map(len, r["participation"]["detections"])) for r in runs])),
        })
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds per stream (0, 1, ...)")
    ap.add_argument("--nnopt", help="nnopt binary (default: build the release one)")
    ap.add_argument("--streams", default=",".join(STREAMS), help="comma-separated subset")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--check", action="store_true", help="exit status 1 if a goal is missed")
    ap.add_argument("--fl", nargs=2, metavar=("PROGRAM", "DATA"),
                    help="also compare fl simulate's on-change and always-on participation")
    a = ap.parse_args()
    nnopt = a.nnopt or build_nnopt()
    all_rows, goals = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.streams.split(","):
            rows, goal = summarize(name, run_stream(nnopt, name, range(a.seeds), Path(tmp)))
            all_rows += rows
            goals[name] = goal
    fl = fl_compare(nnopt, a.fl[0], a.fl[1], range(a.seeds)) if a.fl else []
    if a.json:
        print(json.dumps({"rows": all_rows, "goal_met": goals, "fl": fl}, indent=2))
    else:
        print(f"{'stream':<10} {'policy':<14} {'F1':>6} {'cost':>9} {'vs high':>8}")
        for r in all_rows:
            print(f"{r['stream']:<10} {r['policy']:<14} {r['f1']:>6.3f} {r['cost']:>9.0f} "
                  f"{100 * r['cost_ratio']:>7.1f}%")
        for name, per_policy in goals.items():
            met = ", ".join(f"{p} {'met' if ok else 'NOT met'}" for p, ok in per_policy.items())
            print(f"{name}: goal (F1 >= always-high's - 0.05 at <= 50 % of its cost): {met}")
        if fl:
            print(f"\nfl simulate {' '.join(FL_FLAGS)}, mean over {a.seeds} seeds")
            print(f"{'participation':<22} {'bytes':>10} {'final acc':>10} {'last 5':>8} "
                  f"{'clients/round':>14} {'detections':>11}")
            for r in fl:
                print(f"{r['participation']:<22} {r['bytes']:>10.0f} {100 * r['final_accuracy']:>9.2f}% "
                      f"{100 * r['last_5_rounds_accuracy']:>7.2f}% {r['clients_per_round']:>14.1f} "
                      f"{r['detections']:>11.1f}")
    if a.check and not all(any(g.values()) for g in goals.values()):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit(f"error: {e}")
