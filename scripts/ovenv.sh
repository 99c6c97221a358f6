#!/bin/sh
# OpenVINO (PyPI) in a virtual environment at build/bench/ovenv, for `make bench` only (the peer
# a user deploying on Intel CPUs compares with); no test needs it. A no-op when it is there; exit
# status 1 (the venv removed) when PyPI cannot be reached.
set -eu
cd "$(dirname "$0")/.."
env=build/bench/ovenv
[ -x "$env/bin/python3" ] && "$env/bin/python3" -c "import openvino, numpy" 2>/dev/null && exit 0
rm -rf "$env"
mkdir -p build/bench
/usr/bin/python3 -m venv "$env"
if ! "$env/bin/pip" install -q openvino numpy; then
    rm -rf "$env"
    echo "ovenv: pip could not install openvino (PyPI unreachable?)" >&2
    exit 1
fi
