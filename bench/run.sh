#!/bin/sh
# `make bench`: model-only and end-to-end benchmarks against PyTorch, ONNX Runtime and OpenVINO in one run;
# writes bench/RESULTS.md. Quick mode for a smoke run: BENCH_QUICK=1.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/bench
scripts/ortenv.sh quant || echo "bench: no onnxruntime (PyPI unreachable?); ORT columns will say n/a"
scripts/ovenv.sh || echo "bench: no openvino (PyPI unreachable?); OpenVINO columns will say n/a"
reps=5; e2e_reps=3
[ "${BENCH_QUICK:-0}" = 1 ] && { reps=2; e2e_reps=1; }
out=build/bench/results.md
{
    echo "# Benchmark results"
    echo
    echo "Made by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
    echo "ISA flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'avx2|avx512f|avx512_vnni|avx_vnni|avx512_bf16|amx_tile|amx_bf16|amx_int8' | tr '\n' ' ')(oneDNN's kernels follow them; \`ONEDNN_MAX_CPU_ISA=AVX2 make bench\` imitates an AVX2-only CPU)."
    echo "PyTorch is Debian's $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); random weights (seed 0; batch norms given trained-like statistics, bench/common.py), 20 classes."
    echo "Training speed, memory and quality: bench/RESULTS-train.md (\`make bench-train\`); one vs several processes: bench/RESULTS-dist.md (\`make bench-dist\`)."
    /usr/bin/python3 bench/bench_infer.py --reps $reps | grep -v '^{'
    /usr/bin/python3 bench/bench_e2e.py --reps $e2e_reps | grep -v '^{'
    scripts/test_venv.sh >&2 && /usr/bin/python3 bench/bench_s3.py --reps $e2e_reps | grep -v '^{'
} > $out.tmp
mv $out.tmp bench/RESULTS.md
cat bench/RESULTS.md
