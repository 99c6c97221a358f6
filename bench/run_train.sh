#!/bin/sh
# `make bench-train`: writes bench/RESULTS-train.md. BENCH_EPOCHS (default 15) sets the quality
# run's length; BENCH_QUICK=1 runs the throughput part only.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/bench
extra=""
[ "${BENCH_QUICK:-0}" = 1 ] && extra="--skip-quality"
out=build/bench/results-train.md
{
    echo "# Training benchmark results"
    echo
    echo "Made by \`make bench-train\` (bench/run_train.sh, bench/bench_train.py) on $(date -u +%Y-%m-%d), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
    echo "PyTorch is Debian's $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), fp32."
    /usr/bin/python3 bench/bench_train.py --epochs "${BENCH_EPOCHS:-15}" $extra | grep -v '^{'
} > $out.tmp
# Keep the Corel-5k section that `make bench-quality` (bench/bench_quality.py) maintains.
if grep -q '<!-- bench-quality: begin -->' bench/RESULTS-train.md 2>/dev/null; then
    echo >> $out.tmp
    sed -n '/<!-- bench-quality: begin -->/,/<!-- bench-quality: end -->/p' bench/RESULTS-train.md >> $out.tmp
fi
mv $out.tmp bench/RESULTS-train.md
cat bench/RESULTS-train.md
