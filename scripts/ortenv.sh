#!/bin/sh
# ONNX Runtime (PyPI) in a virtual environment at build/bench/ortenv, for the benchmarks and the
# ONNX export tests (tests/py/test_export.py): Debian packages no ONNX Runtime, and Debian's
# python3-onnx (1.12) has no reference evaluator. `ortenv.sh quant` adds the onnx package, which
# ONNX Runtime's quantization tool needs (`make bench`'s int8 column). A no-op when it is there;
# exit status 1 (a new venv removed) when PyPI cannot be reached.
set -eu
cd "$(dirname "$0")/.."
env=build/bench/ortenv
pkgs="onnxruntime numpy"; check="import onnxruntime, numpy"
[ "${1:-}" = quant ] && { pkgs="$pkgs onnx"; check="$check, onnx"; }
[ -x "$env/bin/python3" ] && "$env/bin/python3" -c "$check" 2>/dev/null && exit 0
if [ -x "$env/bin/python3" ] && "$env/bin/python3" -c "import onnxruntime, numpy" 2>/dev/null; then
    "$env/bin/pip" install -q $pkgs && exit 0
    echo "ortenv: pip could not install $pkgs (PyPI unreachable?)" >&2
    exit 1
fi
rm -rf "$env"
mkdir -p build/bench
/usr/bin/python3 -m venv "$env"
if ! "$env/bin/pip" install -q $pkgs; then
    rm -rf "$env"
    echo "ortenv: pip could not install $pkgs (PyPI unreachable?)" >&2
    exit 1
fi
