#!/usr/bin/env bash
# Fuzz smoke: runs every cargo-fuzz target of scimd for a short while (FUZZ_SECONDS, default 15)
# from its committed seeds, and fails on the first crash. Installs cargo-fuzz when missing.
# FUZZ_SANITIZER=address reuses a build made for the long runs (docs/FUZZING.md).
#
# cargo-fuzz passes nightly-only flags to rustc. A nightly toolchain is used when rustup has
# one; otherwise stable with RUSTC_BOOTSTRAP=1, which unlocks those flags. No sanitizer (-s none):
# scimd has no unsafe code, the instrumented build is faster, and it needs nothing beyond stable's
# standard library. The long runs in docs/FUZZING.md use AddressSanitizer on nightly.
set -euo pipefail

cd "$(dirname "$0")/../.."
FUZZ_DIR=tests/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
SANITIZER=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it from crates.io"
    cargo install cargo-fuzz --locked
fi

TOOLCHAIN=()
# FUZZ_TOOLCHAIN=stable forces the stable path (how it was checked on a machine with nightly).
if [[ ${FUZZ_TOOLCHAIN:-} != stable ]] && command -v rustup >/dev/null 2>&1 &&
    rustup toolchain list | grep -q '^nightly'; then
    TOOLCHAIN=(+nightly)
    echo "using the nightly toolchain"
else
    export RUSTC_BOOTSTRAP=1
    echo "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1"
fi
cargo "${TOOLCHAIN[@]}" fuzz --version

# Fresh inputs the fuzzer finds go to a scratch corpus, so the committed seeds stay as they are.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/scimd-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT

FLAGS=(--fuzz-dir "$FUZZ_DIR" -O -s "$SANITIZER")
cargo "${TOOLCHAIN[@]}" fuzz build "${FLAGS[@]}"

failed=()
for target in $(cargo "${TOOLCHAIN[@]}" fuzz list --fuzz-dir "$FUZZ_DIR"); do
    echo "---- $target: ${SECONDS_PER_TARGET}s"
    mkdir -p "$SCRATCH/$target" "$FUZZ_DIR/artifacts/$target"
    dict=()
    [[ -f $FUZZ_DIR/dict/$target.dict ]] && dict=(-dict="$FUZZ_DIR/dict/$target.dict")
    if ! cargo "${TOOLCHAIN[@]}" fuzz run "${FLAGS[@]}" "$target" \
        "$SCRATCH/$target" "$FUZZ_DIR/corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$FUZZ_DIR/artifacts/$target/" "${dict[@]}" 2>"$SCRATCH/$target.log"; then
        tail -n 60 "$SCRATCH/$target.log"
        echo "FUZZ CRASH in $target: the input is in $FUZZ_DIR/artifacts/$target/"
        failed+=("$target")
        continue
    fi
    grep -E '^Done [0-9]+ runs' "$SCRATCH/$target.log" || tail -n 2 "$SCRATCH/$target.log"
done

if ((${#failed[@]})); then
    echo "fuzz smoke failed: ${failed[*]}" >&2
    echo "save each crashing input under $FUZZ_DIR/regressions/<target>/ and fix it (docs/FUZZING.md)" >&2
    exit 1
fi
echo "fuzz smoke passed"
