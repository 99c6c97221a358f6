#!/bin/sh
# `make bench`: model-only and end-to-end benchmarks against PyTorch and ONNX Runtime in one run;
# writes bench/RESULTS.md. Quick mode for a smoke run: BENCH_QUICK=1.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/bench
scripts/ortenv.sh || echo "bench: no onnxruntime (PyPI unreachable?); ORT columns will say n/a"
reps=5; e2e_reps=3
[ "${BENCH_QUICK:-0}" = 1 ] && { reps=2; e2e_reps=1; }
out=build/bench/results.md
{
    echo "# Benchmark results"
    echo
    echo "Made by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
    echo "PyTorch is Debian's $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); random weights (seed 0), 20 classes, fp32."
    echo "Training speed, memory and quality: bench/RESULTS-train.md (\`make bench-train\`); one vs several processes: bench/RESULTS-dist.md (\`make bench-dist\`)."
    /usr/bin/python3 bench/bench_infer.py --reps $reps | grep -v '^{'
    /usr/bin/python3 bench/bench_e2e.py --reps $e2e_reps | grep -v '^{'
    scripts/test_venv.sh >&2 && /usr/bin/python3 bench/bench_s3.py --reps $e2e_reps | grep -v '^{'
} > $out.tmp
mv $out.tmp bench/RESULTS.md
cat bench/RESULTS.md
