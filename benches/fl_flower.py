#!/usr/bin/env python3
"""Benchmark: nnopt's Flower app at scale in Flower's simulation engine (Ray).

Compiles MODEL into a training program with fresh weights (`nnopt compile MODEL --target
train --precision fp8 --reinit --batch B`), then for each precision starts a SuperLink in
simulation mode on 127.0.0.1 with CLIENTS virtual SuperNodes, runs the app
(`examples/flower`) for ROUNDS rounds with `flwr run`, and prints the seconds per round,
rounds per minute, the peak memory of the whole deployment (the sum of the resident sets
of the SuperLink, the simulation and every Ray process, sampled every 0.2 s), the final
accuracy and Flower's byte counts. It then checks the per-round accuracy against `nnopt fl
simulate` with the same flags, and stops every process it started.

Needs the Flower environment with the simulation extra:
  python3 -m venv .venv-flower && .venv-flower/bin/pip install -r tools/requirements-flower.txt "flwr[simulation]==1.42.0"
  .venv-flower/bin/pip install ./python

Usage (from the repo root):
  .venv-flower/bin/python benches/fl_flower.py                       # digits CNN, 100 clients, 10 rounds, FP8 and FP32
  .venv-flower/bin/python benches/fl_flower.py --clients 50 --rounds 5 --json
  .venv-flower/bin/python benches/fl_flower.py --model fashion-mlp --data /usr/share/datasets/fashion-mnist \\
      --clients 1000 --batch 16 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_common import REPO, BenchError, build_nnopt


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident bytes) of every live process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] in ("Z", "X"):
                continue
            table[int(entry)] = (int(fields[1]), int(fields[21]) * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            continue
    return table


class Tree:
    """Processes descending from the ones started here, followed through /proc."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def add(self, pid: int) -> None:
        self.seen.add(pid)

    def live(self) -> dict[int, tuple[int, int]]:
        table = process_table()
        grew = True
        while grew:
            before = len(self.seen)
            self.seen |= {p for p, (pp, _) in table.items() if pp in self.seen}
            grew = len(self.seen) != before
        return {p: v for p, v in table.items() if p in self.seen}

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss for _, rss in self.live().values()))
            time.sleep(0.2)

    def start_sampling(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            deadline = time.time() + 5
            while time.time() < deadline:
                live = self.live()
                if not live:
                    return
                for pid in live:
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass
                time.sleep(0.2)


def run_flower(args, program: Path, precision: str, work: Path) -> dict:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '')}", FLWR_HOME=str(work / precision / "home"),
               FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1")
    home = Path(env["FLWR_HOME"])
    home.mkdir(parents=True)
    port = free_port()
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "sim"\n\n[superlink.sim]\naddress = "127.0.0.1:{port}"\n'
        f"insecure = true\noptions.num-supernodes = {args.clients}\n"
    )
    output = work / precision / "result.json"
    tree = Tree()
    log = open(work / precision / "superlink.log", "w")
    superlink = subprocess.Popen(
        ["flower-superlink", "--insecure", "--simulation", "--host", "127.0.0.1", "--port", str(port),
         "--disable-runtime-dependency-installation"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    tree.add(superlink.pid)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or superlink.poll() is not None:
                    raise BenchError(f"the SuperLink did not start on port {port}")
                time.sleep(0.2)
        tree.start_sampling()
        config = (
            f'program="{program}" data="{args.data}" clients={args.clients} rounds={args.rounds} '
            f'precision="{precision}" seed={args.seed} output="{output}"'
        )
        run = subprocess.Popen(
            ["flwr", "run", str(REPO / "examples/flower"), "sim", "--stream", "--run-config", config],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        tree.add(run.pid)
        starts, finished = [], None
        with open(work / precision / "run.log", "w") as runlog:
            for line in run.stdout:
                runlog.write(line)
                if "[ROUND " in line:
                    starts.append(time.monotonic())
                elif "Strategy execution finished" in line:
                    finished = time.monotonic()
        if run.wait() != 0 or finished is None or not output.exists():
            raise BenchError(f"the Flower run failed; see {work / precision / 'run.log'}")
    finally:
        tree.stop()
        log.close()
    with open(output) as f:
        result = json.load(f)
    rounds = [b - a for a, b in zip(starts, starts[1:] + [finished])]
    return {
        "precision": precision,
        "seconds_per_round": sum(rounds) / len(rounds),
        "first_round_seconds": rounds[0],
        "rounds_per_minute": 60 * len(rounds) / sum(rounds),
        "peak_memory_mb": tree.peak / 2**20,
        "final_accuracy": result["final_accuracy"],
        "accuracy": [r["accuracy"] for r in result["rounds"]],
        "bytes_up": result["total_bytes_up"],
        "bytes_down": result["total_bytes_down"],
    }


def mlp_nnir(path: Path, inputs: int, hidden: int, classes: int) -> None:
    """An MLP in nnopt's IR text (its weights are replaced by --reinit)."""
    def const(name, shape):
        n = 1
        for d in shape:
            n *= d
        dims = ",".join(map(str, shape))
        return f"  %{name}: f32[{dims}] = const [{', '.join(['0.0'] * n)}]\n"

    text = (
        f'graph "mlp"(%x) {{\n  %x: f32[1,{inputs}] = input\n'
        + const("w1", [inputs, hidden]) + const("b1", [hidden])
        + const("w2", [hidden, classes]) + const("b2", [classes])
        + f'  %h: f32[1,{hidden}] = gemm {{"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":"relu"}}(%x, %w1, %b1)\n'
        + f'  %logits: f32[1,{classes}] = gemm {{"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}}(%h, %w2, %b2)\n'
        + "  return %logits\n}\n"
    )
    path.write_text(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nnopt", help="nnopt binary (default: build target/release/nnopt)")
    p.add_argument("--model", default=str(REPO / "examples/models/digits_cnn_float.tflite"),
                   help="model file, or fashion-mlp: a 784-64-10 MLP for Fashion-MNIST (--data /usr/share/datasets/fashion-mnist)")
    p.add_argument("--data", default=str(REPO / "examples/data/digits.csv.gz"))
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--batch", type=int, default=4, help="training batch (100 digits clients hold 14 rows each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    nnopt = args.nnopt or build_nnopt()
    with tempfile.TemporaryDirectory(prefix="fl_flower") as tmp:
        work = Path(tmp)
        program = work / "client.ntp"
        if args.model == "fashion-mlp":
            args.model = str(work / "fashion_mlp.nnir")
            mlp_nnir(Path(args.model), 784, 64, 10)
        subprocess.run([nnopt, "compile", args.model, "--target", "train", "--precision", "fp8", "--reinit",
                        "--batch", str(args.batch), "-o", str(program)], check=True, capture_output=True)
        rows = []
        for precision in ("fp8", "fp32"):
            (work / precision).mkdir()
            print(f"== {precision}: {args.clients} virtual clients, {args.rounds} rounds", file=sys.stderr)
            row = run_flower(args, program, precision, work)
            sim = json.loads(subprocess.run(
                [nnopt, "fl", "simulate", "--program", str(program), "--data", args.data, "--clients",
                 str(args.clients), "--rounds", str(args.rounds), "--precision", precision, "--seed",
                 str(args.seed), "--json"], check=True, capture_output=True, text=True).stdout)
            row["equals_fl_simulate"] = row["accuracy"] == [r["accuracy"] for r in sim["rounds"]]
            rows.append(row)
    ratio = (rows[1]["bytes_up"] + rows[1]["bytes_down"]) / (rows[0]["bytes_up"] + rows[0]["bytes_down"])
    if args.json:
        print(json.dumps({"clients": args.clients, "rounds": args.rounds, "runs": rows, "bytes_fp32_over_fp8": ratio}, indent=2))
        return 0
    print(f"{'precision':<10}{'s/round':>9}{'rounds/min':>12}{'peak MB':>9}{'final acc':>11}{'bytes up+down':>15}  = fl simulate")
    for r in rows:
        print(f"{r['precision']:<10}{r['seconds_per_round']:>9.2f}{r['rounds_per_minute']:>12.1f}{r['peak_memory_mb']:>9.0f}"
              f"{100 * r['final_accuracy']:>10.2f}%{r['bytes_up'] + r['bytes_down']:>15,}  {r['equals_fl_simulate']}")
    print(f"Flower bytes FP32 / FP8: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
