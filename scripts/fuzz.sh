#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/Targets and fuzzes them (docs/security.md, "Fuzzing").
#
#   scripts/fuzz.sh build [TARGET...]   build with -sanitize=fuzzer,address into $FUZZ_SCRATCH
#   scripts/fuzz.sh run [TARGET...]     build, then fuzz each target for $FUZZ_SECONDS
#   scripts/fuzz.sh merge [TARGET...]   add the inputs of earlier runs that reach new code
#                                       to the committed corpus (minimised: libFuzzer -merge=1)
#
# No TARGET means all five. Each run starts from the committed corpus Fuzz/Corpus/TARGET
# and writes what it discovers to $FUZZ_FINDINGS/TARGET/corpus, never to the committed
# corpus; a crash, hang (-timeout) or out-of-memory input is written to
# $FUZZ_FINDINGS/TARGET/ as crash-*, timeout-*, oom-* or slow-unit-*, with the run's log
# in $FUZZ_FINDINGS/TARGET.log. Replay a finding with the plain build's replayer:
# `swift build --product TARGET && .build/debug/TARGET FILE`.
#
# Environment: FUZZ_SECONDS (600), FUZZ_PARALLEL (targets fuzzed at once, 1),
# FUZZ_SCRATCH (.build-fuzz), FUZZ_FINDINGS ($FUZZ_SCRATCH/findings), SWIFT (swift).
# The build is a release build: a debug one fails to link the @Schema macro's plugin
# once libFuzzer is on the link line.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(FuzzJSON FuzzYAML FuzzExpressions FuzzWire FuzzControlPlaneRequests)
SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-1}
FUZZ_SCRATCH=${FUZZ_SCRATCH:-.build-fuzz}
FUZZ_FINDINGS=${FUZZ_FINDINGS:-$FUZZ_SCRATCH/findings}
# -D FUZZING turns each target's replayer main into a libFuzzer driver (Fuzz/FuzzSupport);
# lld because gold fails on the sanitizer runtimes' debug info.
# shellcheck disable=SC2054 # the comma in -sanitize=fuzzer,address is swiftc's
BUILD_FLAGS=(-c release --scratch-path "$FUZZ_SCRATCH"
    -Xswiftc "-sanitize=fuzzer,address" -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)

command=${1:-run}
[[ $# -gt 0 ]] && shift
targets=("$@")
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for target in "${targets[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $target "* ]] || { echo "unknown fuzz target $target (one of ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# The largest input libFuzzer makes for a target: room for the larger seeds (CRDs are
# YAML of several KB), small for expressions, which are one line.
max_len() {
    case $1 in
        FuzzYAML) echo 16384 ;;
        FuzzExpressions) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

build() {
    local started=$SECONDS
    for target in "$@"; do
        "$SWIFT" build "${BUILD_FLAGS[@]}" --product "$target"
    done
    echo "fuzz build of $* took $((SECONDS - started)) s"
}

binary() { echo "$FUZZ_SCRATCH/release/$1"; }

# Fuzzes one target for FUZZ_SECONDS; prints one summary line; fails on a finding.
fuzz_one() {
    local target=$1 out="$FUZZ_FINDINGS/$1"
    mkdir -p "$out/corpus"
    local log="$out.log" status=0
    # Swift's own backtracer would race libFuzzer's crash handler; libFuzzer reports.
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
        "$(binary "$target")" "$out/corpus" "Fuzz/Corpus/$target" \
        -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/" -print_final_stats=1 >"$log" 2>&1 </dev/null || status=$?
    local runs seconds rate
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    seconds=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    local coverage
    coverage=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    if ((status == 0)); then
        echo "$target: ${runs:-?} inputs in ${seconds:-?} s (${rate:-?}/s), ${coverage:-no coverage line}, no finding"
    else
        local artifact
        artifact=$(sed -n "s/.*Test unit written to \(.*\)/\1/p" "$log" | tail -1)
        echo "$target: FINDING after ${runs:-?} inputs (exit $status): ${artifact:-see $log}" >&2
        grep -m3 -E 'Fatal error|ERROR: |SUMMARY' "$log" >&2 || true
        return 1
    fi
}

case $command in
    build)
        build "${targets[@]}"
        ;;
    run)
        build "${targets[@]}"
        mkdir -p "$FUZZ_FINDINGS"
        echo "fuzzing ${targets[*]} for $FUZZ_SECONDS s each, $FUZZ_PARALLEL at a time; findings in $FUZZ_FINDINGS"
        failed=0
        running=0
        for target in "${targets[@]}"; do
            if ((running >= FUZZ_PARALLEL)); then
                wait -n || failed=1
                running=$((running - 1))
            fi
            fuzz_one "$target" &
            running=$((running + 1))
        done
        while ((running > 0)); do
            wait -n || failed=1
            running=$((running - 1))
        done
        exit $failed
        ;;
    merge)
        for target in "${targets[@]}"; do
            [[ -d "$FUZZ_FINDINGS/$target/corpus" ]] || { echo "$target: nothing to merge (run it first)"; continue; }
            before=$(find "Fuzz/Corpus/$target" -type f | wc -l)
            SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
                "$(binary "$target")" -merge=1 -max_len="$(max_len "$target")" \
                "Fuzz/Corpus/$target" "$FUZZ_FINDINGS/$target/corpus" >"$FUZZ_FINDINGS/$target.merge.log" 2>&1
            echo "$target: $before -> $(find "Fuzz/Corpus/$target" -type f | wc -l) inputs in Fuzz/Corpus/$target"
        done
        ;;
    *)
        echo "usage: scripts/fuzz.sh build|run|merge [TARGET...]" >&2
        exit 2
        ;;
esac
