#!/bin/sh
# make check-tsan: the threaded parts on the ThreadSanitizer build in build-tsan: the bounded
# queue (test_util), the training data loader (test_loader, and mlic train through the CLI, also
# with remote images through its fetch stage and the disk cache, test_cache), the
# prediction pipeline's reader, decode workers, inference and writer (mlic predict, also with
# --workers and killed and resumed). Any report fails the process that made it, and so its test.
# docs/robustness.md, "Sanitizers".
set -u
cd "$(dirname "$0")/.."
export MLIC_BUILD=build-tsan
# libgomp is not built with ThreadSanitizer: it cannot see the barriers that order OpenMP threads,
# so every parallel kernel would be reported. One OpenMP thread per process (a limit that
# omp_set_num_threads and --threads cannot raise) keeps the kernels on the thread that calls them,
# while the pipeline's and the loader's own threads run as usual.
export OMP_THREAD_LIMIT=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
fail=0
for t in test_util test_loader test_cache; do
    echo "== $MLIC_BUILD/tests/$t"
    "$MLIC_BUILD/tests/$t" || { echo "FAIL: $t"; fail=1; }
done
echo "== python tests"
# Left out: mpirun's ranks (OpenMPI is not built with ThreadSanitizer either) and the comparison
# of both backends' probabilities with PyTorch (arithmetic, no threading the others lack).
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/py/test_predict.py tests/py/test_resume.py \
    -k "not mpirun and not probs_match_pytorch" || fail=1
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/py/test_train.py \
    -k "trains_and_writes or resume_is_bit_identical" || fail=1
# The loader's fetch stage and the disk cache (remote images over the test's own HTTP server).
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/py/test_train_store.py \
    -k "remote_root or missing" || fail=1
[ $fail = 0 ] && echo "ALL TSAN TESTS PASSED" || echo "SOME TSAN TESTS FAILED"
exit $fail
