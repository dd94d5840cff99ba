#!/usr/bin/env python3
"""Reference values of `train/src/optimizer.rs`'s unit test, from PyTorch.

Runs `torch.optim.AdamW` and `torch.optim.SGD` (single-tensor code path, `foreach=False`)
for four steps on a fixed parameter and fixed gradients, with a warm-up of two steps
applied through the learning rate, and prints the parameter after each step as f32
values for the Rust test. PyTorch is not needed by CI: run this in an environment that
has it (e.g. the benchmark venv) when the test's inputs change.

Usage: python tools/optimizer_reference.py
"""

import torch

P0 = [0.5, -1.25, 2.0, 0.0, -0.03125, 3.5]
GRADS = [
    [0.1, -0.2, 0.3, -0.4, 0.5, 1e-4],
    [-0.3, 0.25, 0.0, 2.0, -0.5, 1e-4],
    [0.05, -0.05, 0.7, -1.0, 0.2, -3.0],
    [1.5, 0.0, -0.1, 0.1, 0.0, 2e-5],
]
WARMUP = 2


def run(make, lr):
    p = torch.tensor(P0, dtype=torch.float32, requires_grad=True)
    opt = make([p])
    out = []
    for t, g in enumerate(GRADS, start=1):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, t / WARMUP)
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        out.append(p.detach().clone().tolist())
    return out


def show(name, rows):
    print(f"const {name}: [[f32; 6]; 4] = [")
    for r in rows:
        print("    [" + ", ".join(repr(float(torch.tensor(v, dtype=torch.float32))) for v in r) + "],")
    print("];")


print(f"// torch {torch.__version__}")
show("ADAMW", run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                                               weight_decay=0.1, foreach=False), 0.01))
show("SGD", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01,
                                           foreach=False), 0.1))
