"""Shared by the benchmark scripts: their error type and the release `nnopt` build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
