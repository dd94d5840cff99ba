"""Shared by the benchmark scripts: their error type and the release `nnopt` build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A failed step of a benchmark (missing tool or model, a compiler error, wrong outputs)."""


def build_nnopt() -> str:
    """Builds the release `nnopt` binary and returns its path."""
    print("== cargo build --release --bin nnopt", file=sys.stderr)
    subprocess.run(
        ["cargo", "build", "--release", "--workspace", "--bin", "nnopt"],
        cwd=REPO,
        check=True,
    )
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    target = Path(json.loads(meta.stdout)["target_directory"])
    exe = target / "release" / ("nnopt.exe" if os.name == "nt" else "nnopt")
    if not exe.is_file():
        raise BenchError(f"built nnopt not found at {exe}")
    return str(exe)


def run_json(cmd: list[str]) -> dict:
    """Runs an `nnopt ... --json` command and returns its JSON with its wall time added."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    out["wall_seconds"] = time.perf_counter() - start
    return out
