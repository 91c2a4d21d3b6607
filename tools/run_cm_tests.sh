#!/usr/bin/env bash
# Run the Component Model reference tests with `wasmloom wast`.
#
#   tools/run_cm_tests.sh [CM_TEST_DIR]      (default: /work/cm/test)
#
# Runs test/{values,resources,linking,validation,binary} of a component-model
# checkout, skipping the files listed in its nyi.txt, and prints the counts of
# each directory and a total. Full per-file output goes to $OUT_DIR (default: a
# temporary directory). WASMLOOM_VERBOSE=1 passes -v. Exits non-zero if any file
# failed. A local tool, not part of CI.
set -uo pipefail

TEST_DIR="${1:-/work/cm/test}"
DIRS=(values resources linking validation binary)
OUT_DIR="${OUT_DIR:-$(mktemp -d -t wasmloom-cm-XXXXXX)}"
PER_DIR_TIMEOUT="${PER_DIR_TIMEOUT:-900}"
PYTHON="${PYTHON:-python3}"

if [ ! -d "$TEST_DIR" ]; then
    echo "no such directory: $TEST_DIR" >&2
    exit 2
fi
skip_args=()
if [ -f "$TEST_DIR/nyi.txt" ]; then
    skip_args=(--skip-list "$TEST_DIR/nyi.txt")
fi
verbose_args=()
if [ "${WASMLOOM_VERBOSE:-0}" = 1 ]; then
    verbose_args=(-v)
fi

total_pass=0 total_fail=0 total_skip=0 status=0
printf '%-12s %7s %7s %8s\n' directory passed failed skipped
for d in "${DIRS[@]}"; do
    if [ ! -d "$TEST_DIR/$d" ]; then
        printf '%-12s (missing)\n' "$d"
        continue
    fi
    log="$OUT_DIR/$d.log"
    # One process per directory, with a time limit, so a hang loses one directory only.
    (cd "$TEST_DIR" && timeout "$PER_DIR_TIMEOUT" "$PYTHON" -m wasmloom wast \
        "${skip_args[@]}" "${verbose_args[@]}" "$d") >"$log" 2>&1
    rc=$?
    summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)"
    if [ -z "$summary" ]; then
        printf '%-12s runner died (exit %d), see %s\n' "$d" "$rc" "$log"
        status=1
        continue
    fi
    p="$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$summary")"
    f="$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$summary")"
    s="$(sed -nE 's/.*, ([0-9]+) skipped.*/\1/p' <<<"$summary")"
    s="${s:-0}"
    printf '%-12s %7d %7d %8d\n' "$d" "$p" "$f" "$s"
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
    [ "$rc" -ne 0 ] && status=1
done
printf '%-12s %7d %7d %8d\n' total "$total_pass" "$total_fail" "$total_skip"
echo "logs: $OUT_DIR"
exit "$status"
