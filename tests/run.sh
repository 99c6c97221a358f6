#!/bin/sh
# Runs the whole default suite: the C unit tests, then the Python tests that check mlic against
# PyTorch / torchvision / scikit-learn. Long runs are opt-in: MLIC_LONG_TESTS=1.
# MLIC_BUILD names another build folder (tests/check_asan.sh); arguments replace pytest's tests/py.
set -u
cd "$(dirname "$0")/.."
B="${MLIC_BUILD:-build}"
whole=1 # no arguments: the whole suite
[ $# -gt 0 ] && whole=0 || set -- tests/py
fail=0
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"
    if ! "$t"; then echo "FAIL: $t"; fail=1; fi
done
echo "== python tests"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" || fail=1
# On a CPU with more than AVX2 (AVX-512, AMX), oneDNN runs other kernels than on an AVX2-only node
# of the same cluster: its parity tests run again with oneDNN capped at AVX2, so that both paths
# are checked on whatever machine runs the suite.
if [ $whole = 1 ] && grep -qwE 'avx512f|amx_tile' /proc/cpuinfo 2>/dev/null && [ -x "$B/tests/test_onednn" ]; then
    echo "== oneDNN parity tests again with ONEDNN_MAX_CPU_ISA=AVX2 (this CPU has more)"
    isa=$(ONEDNN_MAX_CPU_ISA=AVX2 ONEDNN_VERBOSE=1 "$B/tests/test_onednn" 2>&1 | grep -m1 'info,cpu,isa:')
    case "$isa" in
        *"isa:Intel AVX2"*) ;;
        "") ;; # built without oneDNN: nothing ran
        *) echo "FAIL: ONEDNN_MAX_CPU_ISA=AVX2 did not cap oneDNN ($isa)"; fail=1 ;;
    esac
    for t in "$B/tests/test_onednn" "$B/tests/test_train_onednn"; do
        echo "== $t (oneDNN capped at AVX2)"
        if ! ONEDNN_MAX_CPU_ISA=AVX2 "$t"; then echo "FAIL: $t with ONEDNN_MAX_CPU_ISA=AVX2"; fail=1; fi
    done
    ONEDNN_MAX_CPU_ISA=AVX2 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/py/test_onednn.py \
        tests/py/test_train_onednn.py tests/py/test_forward.py::test_onednn || fail=1
fi
[ $fail = 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $fail
