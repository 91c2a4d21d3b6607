#!/usr/bin/env bash
# Run the Component Model reference tests with `wasmloom wast`.
#
#   tools/run_cm_tests.sh [CM_TEST_DIR]      (default: /work/cm/test)
#
# Runs every .wast file of test/{values,resources,linking,validation,binary} in
# a component-model checkout (DIRS_OVERRIDE names other directories, e.g. async),
# those listed in its nyi.txt included (SKIP_NYI=1 skips them), and prints
# per-directory counts of files passed, failed and skipped, then a total. Each
# file runs in its own process with a time limit (PER_FILE_TIMEOUT seconds,
# default 300), so a crash or a hang costs that file only. Per-file output goes
# to $OUT_DIR (default: a new temporary directory); WASMLOOM_VERBOSE=1 passes -v.
# Exits non-zero if any file failed. A local tool, not part of CI.
set -uo pipefail

TEST_DIR="${1:-/work/cm/test}"
DIRS=(${DIRS_OVERRIDE:-values resources linking validation binary})
OUT_DIR="${OUT_DIR:-$(mktemp -d -t wasmloom-cm-XXXXXX)}"
PER_FILE_TIMEOUT="${PER_FILE_TIMEOUT:-300}"
PYTHON="${PYTHON:-python3}"

if [ ! -d "$TEST_DIR" ]; then
    echo "no such directory: $TEST_DIR" >&2
    exit 2
fi
TEST_DIR="$(cd "$TEST_DIR" && pwd)"
skip_args=()
if [ "${SKIP_NYI:-0}" = 1 ] && [ -f "$TEST_DIR/nyi.txt" ]; then
    skip_args=(--skip-list "$TEST_DIR/nyi.txt")
fi
verbose_args=()
if [ "${WASMLOOM_VERBOSE:-0}" = 1 ]; then
    verbose_args=(-v)
fi

total_pass=0 total_fail=0 total_skip=0
printf '%-12s %7s %7s %8s\n' directory passed failed skipped
for d in "${DIRS[@]}"; do
    if [ ! -d "$TEST_DIR/$d" ]; then
        printf '%-12s (missing)\n' "$d"
        continue
    fi
    mkdir -p "$OUT_DIR/$d"
    p=0 f=0 s=0
    while IFS= read -r -d '' wast; do
        rel="${wast#"$TEST_DIR"/}"
        log="$OUT_DIR/$rel.log"
        (cd "$TEST_DIR" && timeout "$PER_FILE_TIMEOUT" "$PYTHON" -m wasmloom wast \
            "${skip_args[@]}" "${verbose_args[@]}" "$rel") >"$log" 2>&1
        rc=$?
        summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)"
        if [ -z "$summary" ]; then
            f=$((f + 1))
            if [ "$rc" -eq 124 ]; then
                echo "  TIMEOUT $rel (after ${PER_FILE_TIMEOUT}s)"
            else
                echo "  CRASH   $rel (exit $rc), see $log"
            fi
        elif grep -q '^1 passed' <<<"$summary"; then
            p=$((p + 1))
            grep '^skipped case' "$log" | sed 's/^/  /'
        elif grep -q ', 1 skipped' <<<"$summary"; then
            s=$((s + 1))
        else
            f=$((f + 1))
            echo "  $(head -n 1 "$log")"
        fi
    done < <(find "$TEST_DIR/$d" -name '*.wast' -print0 | sort -z)
    printf '%-12s %7d %7d %8d\n' "$d" "$p" "$f" "$s"
    total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
done
printf '%-12s %7d %7d %8d\n' total "$total_pass" "$total_fail" "$total_skip"
echo "logs: $OUT_DIR"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
