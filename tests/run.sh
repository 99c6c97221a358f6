#!/bin/sh
# Runs the whole default suite: the C unit tests, then the Python tests that check mlic against
# PyTorch / torchvision / scikit-learn. Long runs are opt-in: MLIC_LONG_TESTS=1.
set -u
cd "$(dirname "$0")/.."
fail=0
for t in build/tests/test_*; do
    [ -x "$t" ] || continue
    echo "== $t"
    if ! "$t"; then echo "FAIL: $t"; fail=1; fi
done
echo "== python tests"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/py || fail=1
[ $fail = 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $fail
