#!/bin/sh
# ONNX Runtime (PyPI) in a virtual environment at build/bench/ortenv, for the benchmarks and the
# ONNX export tests (tests/py/test_export.py): Debian packages no ONNX Runtime, and Debian's
# python3-onnx (1.12) has no reference evaluator. A no-op when it is there; exit status 1 (the
# venv removed) when PyPI cannot be reached.
set -eu
cd "$(dirname "$0")/.."
env=build/bench/ortenv
[ -x "$env/bin/python3" ] && "$env/bin/python3" -c "import onnxruntime, numpy" 2>/dev/null && exit 0
rm -rf "$env"
mkdir -p build/bench
/usr/bin/python3 -m venv "$env"
if ! "$env/bin/pip" install -q onnxruntime numpy; then
    rm -rf "$env"
    echo "ortenv: pip could not install onnxruntime (PyPI unreachable?)" >&2
    exit 1
fi
