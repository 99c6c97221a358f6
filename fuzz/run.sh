#!/bin/sh
# Runs every libFuzzer harness of BUILD/fuzz for SECONDS each, at most FUZZ_JOBS (default 2) at a
# time under nice, from its committed seeds (fuzz/corpus/<name>, read only) plus what earlier runs
# found (BUILD/fuzz-corpus/<name>, where new inputs go), with its dictionary (fuzz/dict/) if any.
# A crash, leak, timeout (a hang) or out-of-memory leaves BUILD/fuzz-artifacts/<name>-*.
# Prints one table row per harness (execs, exec/s, cov, ft: libFuzzer's final figures) and
# exits 1 if any harness failed.
# FUZZ_RUNS=N stops a harness earlier, after N inputs.
# Usage: fuzz/run.sh BUILD SECONDS [harness...]
set -u
build=${1:?usage: fuzz/run.sh BUILD SECONDS [harness...]}
seconds=${2:?usage: fuzz/run.sh BUILD SECONDS [harness...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${FUZZ_JOBS:-2}
runs=${FUZZ_RUNS:--1}
names=${*:-$(cd "$build/fuzz" && ls fuzz_* | sed 's/^fuzz_//')}
mkdir -p "$build/fuzz-corpus" "$build/fuzz-artifacts" "$build/fuzz-logs"

# The source files each harness is about (a regular expression under src/).
parser_files() {
    case $1 in
    model) echo 'model/(model_file|model|state_dict|safetensors)\.c' ;;
    safetensors) echo 'model/safetensors\.c' ;;
    onnx) echo 'model/onnx_import\.c' ;;
    list) echo 'data/(list_reader|dataset|dataset_build)\.c' ;;
    pai_csv) echo 'data/pai_csv_reader\.c' ;;
    coco) echo 'data/coco_reader\.c' ;;
    voc) echo 'data/voc_reader\.c' ;;
    base64) echo 'util/base64\.c|predict/input\.c' ;;
    jpeg) echo 'image/(jpeg_decode|orient|decode)\.c' ;;
    journal) echo 'dist/journal\.c' ;;
    checkpoint) echo 'train/checkpoint\.c' ;;
    trainer_log) echo 'train/trainer_log\.c' ;;
    args) echo 'cli/(args|cmd_predict)\.c' ;;
    s3_xml) echo 'io/s3_xml\.c' ;;
    *) echo "image/$1_decode\\.c" ;;
    esac
}

# Of the branches in the parser's own source files (writers in the same files count in the
# total too), how many the corpus reaches: a replay with -print_coverage.
parser_edges() {
    tmp=$(mktemp -d /dev/shm/mlic-fuzz-XXXXXX 2>/dev/null || mktemp -d)
    MLIC_FUZZ_TMP=$tmp "$build/fuzz/fuzz_$1" -runs=0 -print_coverage=1 -close_fd_mask=3 "$build/fuzz-corpus/$1" \
        "$here/corpus/$1" 2>&1 | grep -E "^(UN)?COVERED_FUNC: .*/src/($(parser_files "$1")):" |
        sed -n 's/.* edges: \([0-9]*\)\/\([0-9]*\) .*/\1 \2/p' |
        awk '{c += $1; t += $2} END {if (t) printf "%d/%d (%.0f%%)\n", c, t, 100 * c / t}'
    rm -rf "$tmp"
}

run_one() {
    n=$1
    corpus=$build/fuzz-corpus/$n
    mkdir -p "$corpus"
    dict=""
    [ -f "$here/dict/$n.dict" ] && dict="-dict=$here/dict/$n.dict"
    # -timeout: one input over 10 s is a hang; -rss_limit_mb: a blow-up past 2.5 GB is a failure;
    # -close_fd_mask=3: the harnesses' own messages (usage errors) stay out of the log.
    tmp=$(mktemp -d /dev/shm/mlic-fuzz-XXXXXX 2>/dev/null || mktemp -d)
    # shellcheck disable=SC2086
    MLIC_FUZZ_TMP=$tmp nice -n 10 "$build/fuzz/fuzz_$n" -max_total_time="$seconds" -runs="$runs" -timeout=10 \
        -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 -close_fd_mask=3 \
        -artifact_prefix="$build/fuzz-artifacts/$n-" $dict "$corpus" "$here/corpus/$n" \
        > "$build/fuzz-logs/$n.log" 2>&1
    echo $? > "$build/fuzz-logs/$n.rc"
    rm -rf "$tmp"
}

if [ "${FUZZ_ONE:-}" ]; then
    run_one "$FUZZ_ONE"
    exit 0
fi
# $jobs at a time, each harness as soon as a slot is free (FUZZ_REPORT_ONLY=1: just the table of
# the last runs).
# shellcheck disable=SC2086
[ "${FUZZ_REPORT_ONLY:-}" ] || printf '%s\n' $names |
    FUZZ_JOBS=$jobs FUZZ_RUNS=$runs xargs -P "$jobs" -I{} env FUZZ_ONE={} "$0" "$build" "$seconds"

status=0
printf '| harness | seconds | execs | exec/s | cov | ft | parser edges | corpus | peak RSS MB | result |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in $names; do
    log=$build/fuzz-logs/$n.log
    rc=$(cat "$build/fuzz-logs/$n.rc" 2>/dev/null || echo 1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    edges=$(parser_edges "$n")
    if [ "$rc" = 0 ]; then
        result=ok
    else
        result="FAILED (rc $rc, see $log)"
        status=1
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "${took:-?}" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${edges:-?}" "${corp:-?}" "${rss:-?}" \
        "$result"
done
exit $status
