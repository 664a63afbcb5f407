#!/usr/bin/env bash
# Builds the release binary of scimd statically linked, checks that it really is, and prints
# its path as the last line of output (so `BIN=$(packaging/build-static.sh | tail -n1)` works).
#
# - musl (x86_64-unknown-linux-musl) when that target's std is installed: no NSS/dlopen
#   surprises on other distributions. Its C parts (ring) need a musl C compiler: musl-gcc from
#   Debian's musl-tools, installed here with apt-get when missing and we are root.
# - otherwise glibc with +crt-static. --target is required: without it RUSTFLAGS also applies
#   to proc-macros, which cannot be built static (shared/STACK.md §3).
#
# The script never downloads a Rust target (`rustup target add` needs the Rust dist server);
# install the musl target yourself beforehand if you want that build.
#
# Environment: SCIMD_STATIC_TARGET=gnu|musl forces one path (musl then fails if unavailable);
# CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
MUSL=x86_64-unknown-linux-musl
GNU=x86_64-unknown-linux-gnu

log() { printf 'build-static: %s\n' "$*" >&2; }

musl_std_installed() {
    command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$MUSL"
}

musl_cc_available() {
    command -v musl-gcc >/dev/null 2>&1 && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "musl-gcc missing: apt-get install musl-tools"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2 ||
            { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2; } ||
            return 1
        command -v musl-gcc >/dev/null 2>&1
    else
        return 1
    fi
}

choice=${SCIMD_STATIC_TARGET:-auto}
case $choice in
auto)
    if musl_std_installed && musl_cc_available; then choice=musl; else choice=gnu; fi ;;
musl)
    musl_std_installed || { log "the $MUSL std is not installed (rustup target add $MUSL)"; exit 1; }
    musl_cc_available || { log "no musl C compiler (apt-get install musl-tools)"; exit 1; } ;;
gnu) ;;
*) log "SCIMD_STATIC_TARGET must be gnu or musl, not '$choice'"; exit 2 ;;
esac

if [[ $choice == musl ]]; then
    log "path: musl ($MUSL, musl-gcc for the C parts)"
    cargo build --release --locked --target "$MUSL" >&2
    BIN=$TARGET_DIR/$MUSL/release/scimd
else
    musl_std_installed || log "the $MUSL std is not installed: falling back to static glibc"
    log "path: glibc +crt-static ($GNU)"
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
        cargo build --release --locked --target "$GNU" >&2
    BIN=$TARGET_DIR/$GNU/release/scimd
fi

test -x "$BIN" || { log "no binary at $BIN"; exit 1; }

# Static check: `file` must say static, and ldd must find no shared library. ldd's wording for a
# static binary varies ("not a dynamic executable" from glibc's ldd on x86_64, "statically
# linked" elsewhere) and it exits non-zero for it, so judge its output, not its status.
file_out=$(file -L "$BIN")
ldd_out=$(ldd "$BIN" 2>&1 || true)
log "file: $file_out"
log "ldd:  $ldd_out"
if ! grep -Eq 'static(-pie)? linked|statically linked' <<<"$file_out"; then
    log "FAIL: $BIN is not statically linked according to file(1)"
    exit 1
fi
if grep -Eq '=>|\.so(\.[0-9]+)*' <<<"$ldd_out"; then
    log "FAIL: ldd lists shared libraries for $BIN"
    exit 1
fi
if ! grep -Eq 'not a dynamic executable|statically linked' <<<"$ldd_out"; then
    log "FAIL: unexpected ldd output for $BIN"
    exit 1
fi

size=$(stat -c %s "$BIN")
log "OK: static ($choice), $size bytes ($(numfmt --to=iec-i --suffix=B "$size" 2>/dev/null || echo "$size B")), not stripped"
if command -v strip >/dev/null 2>&1; then
    stripped=$(mktemp)
    strip -o "$stripped" "$BIN"
    log "    stripped it would be $(stat -c %s "$stripped") bytes (cargo-deb strips; the container copies as is)"
    rm -f "$stripped"
fi
echo "$BIN"
