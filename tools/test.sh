#!/usr/bin/env bash
# The whole test suite: Python venv for the reference cross-checks, generated test data,
# then every Rust test (unit, integration, snapshots, conformance, cross-checks).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import onnx, onnxruntime, ai_edge_litert, ml_dtypes, numpy, PIL, ethosu.vela, tflite2onnx, tflite_micro' 2>/dev/null; then
  echo "== installing Python reference packages (tools/requirements.txt)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
fi

# Flower and nnopt's Python bindings, in their own venv (see tools/requirements-flower.txt);
# the bindings are rebuilt every run so that they are this checkout's.
if [ ! -x .venv-flower/bin/python ]; then
  echo "== creating .venv-flower"
  "$PYTHON" -m venv .venv-flower
fi
if ! .venv-flower/bin/python -c 'import flwr, maturin, numpy' 2>/dev/null; then
  echo "== installing Flower (tools/requirements-flower.txt)"
  .venv-flower/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-flower.txt
fi
echo "== building the Python bindings (pip install ./python)"
.venv-flower/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python

# Debian packages the tests use: Fashion-MNIST (dataset-fashion-mnist) for the
# compression search; Verilator, Icarus Verilog and Yosys for the fixed-weight front-end's
# RTL (simulation and synthesis).
missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
command -v verilator >/dev/null || missing+=(verilator)
command -v iverilog >/dev/null || missing+=(iverilog)
command -v yosys >/dev/null || missing+=(yosys)
# Verilator's --binary builds C++ with make; its package does not depend on them.
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" \
    || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

echo "== generating test data (tools/make_testdata.py)"
.venv/bin/python tools/make_testdata.py

echo "== cargo test"
cargo test --workspace --locked "$@"
