#!/usr/bin/env python3
"""Independent float64 reference for nnopt's multi-fidelity BOCPD (train/src/bocpd/).

Written from the math, not from the Rust code: Adams & MacKay's run-length recursion
with a constant hazard, truncated to `max_run` hypotheses (the mass growing past the
last one is added to it; that hypothesis predicts from the latest max_run - 1 previous
observations), Normal-inverse-gamma measurements with noise variance sigma^2 / zeta_j,
and Beta-Binomial counts of n_j trials.

Reads one JSON object on stdin:
  {"model": "normal", "prior": [m0, kappa0, alpha0, beta0], "zetas": [...],
   or "model": "bernoulli", "prior": [a0, b0], "trials": [...],
   "hazard": H, "max_run": R, "rows": [[x per fidelity], ...], "fidelity": [j per step]}
and prints {"posterior": [[p(r_t = r)] per step], "gains": [[I(R; X_j)] per step],
"brute_gains": [...]} where gains are H(R) - E_X H(R | X) with the 50-point Gauss-Hermite
rule (normal) or the exact sum over counts (bernoulli), and brute_gains the mutual
information in its other form, sum_r q_r KL(p_r || p), by a dense trapezoid rule on a wide
grid (normal) or the exact sum (bernoulli).

Usage: python tools/bocpd_reference.py < case.json
"""

import json
import math
import sys

import numpy as np


def lse(v, axis=None):
    m = np.max(v, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


class Hypotheses:
    """Per-run statistics as a dict of arrays, one entry per run-length hypothesis."""

    def concat_prior(self, h):
        e = self.empty()
        return {key: np.concatenate([e[key], h[key]]) for key in h}

    def drop_last(self, h):
        return {key: v[:-1] for key, v in h.items()}


class Normal(Hypotheses):
    """Each hypothesis: arrays m, k, a, b (posterior of mean and variance)."""

    def __init__(self, prior, zetas):
        self.prior = prior
        self.zetas = np.array(zetas, dtype=np.float64)

    def empty(self):
        m0, k0, a0, b0 = self.prior
        return {"m": np.array([m0]), "k": np.array([k0]), "a": np.array([a0]), "b": np.array([b0])}

    def logpdf(self, h, j, x):
        """log Student-t density; x broadcasts against hypotheses along the last axis."""
        nu = 2.0 * h["a"]
        s2 = h["b"] * (1.0 / h["k"] + 1.0 / self.zetas[j]) / h["a"]
        lg = np.array([math.lgamma(v / 2.0 + 0.5) - math.lgamma(v / 2.0) for v in nu])
        x = np.asarray(x, dtype=np.float64)[..., None]
        return lg - 0.5 * np.log(nu * math.pi * s2) - 0.5 * (nu + 1.0) * np.log1p((x - h["m"]) ** 2 / (nu * s2))

    def update(self, h, j, x):
        z = self.zetas[j]
        k = h["k"] + z
        return {
            "m": (h["k"] * h["m"] + z * x) / k,
            "k": k,
            "a": h["a"] + 0.5,
            "b": h["b"] + h["k"] * z * (x - h["m"]) ** 2 / (2.0 * k),
        }

    def nodes(self, h, q, j):
        """Gauss-Hermite nodes at the mixture's moment-matched location and spread."""
        s2 = h["b"] * (1.0 / h["k"] + 1.0 / self.zetas[j]) / h["a"]
        mean = np.sum(q * h["m"])
        var = np.sum(q * (h["m"] ** 2 + s2)) - mean ** 2
        spread = math.sqrt(max(var, sys.float_info.min)) * math.sqrt(2.0)
        u, w = np.polynomial.hermite.hermgauss(50)
        return mean + spread * u, spread * w * np.exp(u ** 2)

    def brute_gain(self, h, log_q, j):
        """sum_r q_r KL(p_r || p) on a dense grid covering every hypothesis' predictive."""
        s = np.sqrt(h["b"] * (1.0 / h["k"] + 1.0 / self.zetas[j]) / h["a"])
        lo, hi = np.min(h["m"] - 60 * s), np.max(h["m"] + 60 * s)
        x = np.linspace(lo, hi, 40001)
        lp = self.logpdf(h, j, x)  # (points, R)
        log_mix = lse(lp + log_q, axis=1)
        q = np.exp(log_q)
        integrand = np.sum(q * np.exp(lp) * (lp - log_mix[:, None]), axis=1)
        return float(np.trapezoid(integrand, x))


class BetaBinomial(Hypotheses):
    def __init__(self, prior, trials):
        self.prior = prior
        self.trials = [int(n) for n in trials]

    def empty(self):
        a0, b0 = self.prior
        return {"a": np.array([a0]), "b": np.array([b0])}

    def logpdf(self, h, j, x):
        n, k = self.trials[j], int(x)
        a, b = h["a"], h["b"]
        # lgamma form of C(n, k) B(a + k, b + n - k) / B(a, b).
        lg = np.vectorize(math.lgamma)
        return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                + lg(a + k) + lg(b + n - k) - lg(a + b + n) - lg(a) - lg(b) + lg(a + b))

    def update(self, h, j, x):
        return {"a": h["a"] + x, "b": h["b"] + self.trials[j] - x}

    def nodes(self, h, q, j):
        return np.arange(self.trials[j] + 1, dtype=np.float64), np.ones(self.trials[j] + 1)

    def brute_gain(self, h, log_q, j):
        """sum_r q_r KL(p_r || p), summed over every count."""
        lp = np.stack([self.logpdf(h, j, k) for k in range(self.trials[j] + 1)])  # (counts, R)
        log_mix = lse(lp + log_q, axis=1)
        return float(np.sum(np.exp(log_q) * np.exp(lp) * (lp - log_mix[:, None])))


def entropy(log_p):
    p = np.exp(log_p)
    return -np.sum(np.where(p > 0, p * log_p, 0.0))


def gain(model, h, log_q, j):
    """H(R) - E_X H(R | X) with the model's quadrature, normalized by its mass."""
    xs, ws = model.nodes(h, np.exp(log_q), j)
    mass, expected = 0.0, 0.0
    for x, w in zip(xs, ws):
        lj = log_q + model.logpdf(h, j, x).reshape(-1)
        ev = lse(lj)
        d = w * math.exp(ev)
        mass += d
        expected += d * entropy(lj - ev)
    return max(entropy(log_q) - expected / mass, 0.0) if mass > 0 else 0.0


def run(case):
    if case["model"] == "normal":
        model = Normal(case["prior"], case["zetas"])
    else:
        model = BetaBinomial(case["prior"], case["trials"])
    hazard, max_run = case["hazard"], case["max_run"]
    fidelities = len(case["rows"][0])
    log_post, stats = None, None
    posteriors, gains, brutes = [], [], []
    for row, j in zip(case["rows"], case["fidelity"]):
        # Prior over this step's run length and each hypothesis' statistics.
        if log_post is None:
            log_q, h = np.array([0.0]), model.empty()
        else:
            log_q = np.concatenate([[math.log(hazard)], log_post + math.log1p(-hazard)])
            h = model.concat_prior(stats)
            if len(log_q) > max_run:
                log_q[max_run - 1] = np.logaddexp(log_q[max_run - 1], log_q[max_run])
                log_q = log_q[:max_run]
                h = model.drop_last(h)
        gains.append([gain(model, h, log_q, f) for f in range(fidelities)])
        brutes.append([model.brute_gain(h, log_q, f) for f in range(fidelities)])
        x = row[j]
        lj = log_q + model.logpdf(h, j, x).reshape(-1)
        log_post = lj - lse(lj)
        stats = model.update(h, j, x)
        posteriors.append(np.exp(log_post).tolist())
    return {"posterior": posteriors, "gains": gains, "brute_gains": brutes}


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
