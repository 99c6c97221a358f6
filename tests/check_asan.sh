#!/bin/sh
# make check-asan: the default suite (tests/run.sh: C unit tests, then the Python tests that drive
# the tools and the CLI) on the AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan,
# with LeakSanitizer on. Any report fails the process that made it, and so its test.
# Arguments go to pytest (e.g. tests/py/test_predict.py -k http). docs/robustness.md, "Sanitizers".
set -eu
cd "$(dirname "$0")/.."
export MLIC_BUILD=build-asan
# fast_unwind_on_malloc=0: OpenMPI and its plugins have no frame pointers, so the fast unwinder
# stops inside them and their leaks could not be matched to lsan.supp by library name.
export ASAN_OPTIONS="detect_leaks=1:fast_unwind_on_malloc=0:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec tests/run.sh "$@"
