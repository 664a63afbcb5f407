#!/usr/bin/env bash
# One million users (issue 7): load, restart, memory and lookups at 1M. Run on demand, never in CI:
#
#   bash benches/load/million.sh [--users N] [--cache-mib "64 128 256"] [--small-users N]
#                                [--bulk-users N] [--duration S] [--connections C]
#                                [--out FILE] [--skip-build] [--keep]
#
#   --users N         users in the big store (default 1000000)
#   --cache-mib LIST  [storage] cache_mib values to measure RSS and lookups under (default "64 128 256")
#   --small-users N   the small store the lookup latency is compared with (default 10000)
#   --bulk-users N    users to load through POST /Bulk into an empty store, for its rate
#                     (default 10000; 0 skips it)
#   --duration S      seconds of each wrk lookup run, after a 5 s warm-up (default 15)
#   --connections C   wrk connections for lookups (default 32, as in run.sh)
#   --out FILE        the Markdown report (default target/load-results/<time>-million-<N>u.md)
#   --skip-build      use the existing target/release/scimd
#   --scimd PATH      measure this scimd binary instead (implies --skip-build), e.g. another build
#   --store FILE      start from a copy of this store (of --users users) instead of importing
#   --keep            keep the temporary directory (store, NDJSON, logs)
#
# What it does, each step timed and reported (see docs/PERFORMANCE.md, "One million users"):
#  1. writes N Entra-shaped users (the bodies of benches/load/seed.py) as SCIM JSON Lines and
#     loads them with `scimd import` (wall time, users/s, peak RSS of the import);
#  2. store file size and `scimd db verify` time;
#  3. time from process start to /healthz and /readyz answering 200: first start, after a clean
#     SIGTERM stop, and after SIGKILL during a create load (then `db verify` again);
#  4. for each cache_mib: a fresh server, wrk lookups (Entra's `userName eq`), RSS sampled
#     during the load and VmHWM at the end, p50/p99;
#  5. the same lookups against a store of --small-users users (no cache_mib: the default cache);
#  6. POST /Bulk into an empty store with seed.py (2 connections, 1,000 operations per request).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

USERS=1000000
CACHES="64 128 256"
SMALL=10000
BULK=10000
DURATION=15
CONNS=32
OUT=""
SKIP_BUILD=0
KEEP=0
SCIMD=""
FROM_STORE=""

usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "million.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --cache-mib) CACHES=$2; shift 2 ;;
        --small-users) SMALL=$2; shift 2 ;;
        --bulk-users) BULK=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --scimd) SCIMD=$(realpath "$2"); SKIP_BUILD=1; shift 2 ;;
        --store) FROM_STORE=$(realpath "$2"); shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in USERS SMALL DURATION CONNS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "--${v,,} must be a positive integer"
done
[[ $BULK =~ ^[0-9]+$ ]] || die "--bulk-users must be a non-negative integer"
for c in $CACHES; do [[ $c =~ ^[0-9]+$ ]] && [ "$c" -gt 0 ] || die "--cache-mib values must be positive integers"; done

[ -n "$OUT" ] || OUT="$ROOT/target/load-results/$(date -u +%Y%m%d-%H%M%S)-million-${USERS}u.md"
mkdir -p "$(dirname "$OUT")" || die "cannot create the directory of $OUT"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"

for t in wrk openssl python3 curl; do
    command -v "$t" >/dev/null 2>&1 || die "$t is required (wrk: apt-get install wrk, or run benches/load/run.sh once, which installs it)"
done
[ -x /usr/bin/time ] && /usr/bin/time -f "%e" -o /dev/null true 2>/dev/null || die "GNU time (/usr/bin/time) is required: apt-get install time"

[ -n "$SCIMD" ] || SCIMD="$ROOT/target/release/scimd"
[ -z "$FROM_STORE" ] || [ -f "$FROM_STORE" ] || die "--store $FROM_STORE is not a file"
if [ "$SKIP_BUILD" -eq 0 ]; then
    echo "== building scimd (release)" >&2
    (cd "$ROOT" && cargo build --release --locked --bin scimd) >&2
fi
[ -x "$SCIMD" ] || die "$SCIMD is missing (run without --skip-build)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/scimd-million.XXXXXX")
SERVER_PID=""
LOAD_PID=""
stop_pid() { # pid, seconds before SIGKILL
    local pid=$1 wait_s=${2:-25} i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.05
    done
    echo "million.sh: process $pid ignored SIGTERM for ${wait_s}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    stop_pid "$LOAD_PID" 3
    stop_pid "$SERVER_PID" 25
    if [ "$KEEP" -eq 1 ] || [ $rc -ne 0 ]; then
        echo "million.sh: work files kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
mb() { echo $(( ($1 + 1023) / 1024 )); }
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
REPORT="$WORK/report.md"
say() { echo "$*" >>"$REPORT"; echo "   $*" >&2; }

# --- certificate, configs, token -----------------------------------------------------------
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
PORT=$(free_port)
# write_config NAME STORE [CACHE_MIB]: a config sharing the certificate and the port.
write_config() {
    local cache=""
    [ -z "${3:-}" ] || cache="cache_mib = $3"
    cat >"$WORK/$1.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
base_path = "/scim/v2"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"

[storage]
path = "$2"
$cache
EOF
}
write_config big big.redb
TOKEN=$("$SCIMD" token issue --name load --config "$WORK/big.toml" | grep -E '^scimd_' | head -n1 || true)
[ -n "$TOKEN" ] || die "could not parse the token printed by 'scimd token issue'"
# The token stanza `token issue` appended, for the other configs.
TOKEN_STANZA=$(sed -n '/^\[\[tokens\]\]/,$p' "$WORK/big.toml")
config_for() { # NAME STORE [CACHE_MIB]
    write_config "$@"
    printf '\n%s\n' "$TOKEN_STANZA" >>"$WORK/$1.toml"
    "$SCIMD" check-config --config "$WORK/$1.toml" >/dev/null
}

# --- the server ------------------------------------------------------------------------------
# start CONFIG: starts scimd, waits for /healthz then /readyz, sets READY_HEALTH_MS/READY_MS
# (from the fork to the first 200; curl is polled back to back, ~5 ms per poll).
start() {
    local t0 code i
    t0=$(now_ms)
    RUST_LOG=warn "$SCIMD" serve --config "$WORK/$1.toml" >"$WORK/banner.txt" 2>>"$WORK/server.log" &
    SERVER_PID=$!
    READY_HEALTH_MS=""; READY_MS=""
    for ((i = 0; i < 120000; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$WORK/server.log" >&2; die "scimd exited while starting"; }
        if [ -z "$READY_HEALTH_MS" ]; then
            code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "https://127.0.0.1:$PORT/healthz" || true)
            [ "$code" = 200 ] && READY_HEALTH_MS=$(( $(now_ms) - t0 ))
        fi
        if [ -n "$READY_HEALTH_MS" ]; then
            code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "https://127.0.0.1:$PORT/readyz" || true)
            [ "$code" = 200 ] && { READY_MS=$(( $(now_ms) - t0 )); return 0; }
        fi
        [ $(( $(now_ms) - t0 )) -lt 600000 ] || die "scimd was not ready within 10 minutes"
    done
}
stop() { # sets STOP_MS
    local t0
    t0=$(now_ms)
    stop_pid "$SERVER_PID" 60
    SERVER_PID=""
    STOP_MS=$(( $(now_ms) - t0 ))
}

# lookups USERS LABEL: a 5 s warm-up, then DURATION s of wrk; appends a table row.
lookups() {
    local users=$1 label=$2 out="$WORK/wrk-$2.txt" max_rss=0 rss r
    (cd "$WORK" && SCENARIO=lookup TOKEN=$TOKEN BASE=/scim/v2 FIXTURES="$WORK/fixtures" USERS=$users \
        WRK_THREADS=2 wrk -t2 -c"$CONNS" -d5s --timeout 30s -s "$HERE/scimd.lua" "https://localhost:$PORT" >/dev/null 2>&1) \
        || die "wrk warm-up failed"
    local load0
    load0=$(load_avg)
    SCENARIO=lookup TOKEN=$TOKEN BASE=/scim/v2 FIXTURES="$WORK/fixtures" USERS=$users WRK_THREADS=2 \
        wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 30s -s "$HERE/scimd.lua" "https://localhost:$PORT" >"$out" 2>&1 &
    LOAD_PID=$!
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        rss=$(status_kb "$SERVER_PID" VmRSS); [ "${rss:-0}" -le "$max_rss" ] || max_rss=$rss
        sleep 0.5
    done
    wait "$LOAD_PID" || { cat "$out" >&2; die "wrk failed ($label)"; }
    LOAD_PID=""
    r=$(grep '^RESULT' "$out") || { cat "$out" >&2; die "no RESULT line from wrk ($label)"; }
    kv() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $r"; }
    local hwm
    hwm=$(status_kb "$SERVER_PID" VmHWM)
    printf '| %s | %s | %.0f | %s | %.2f | %.2f | %s | %s | %s |\n' "$label" "$users" \
        "$(python3 -c "print($(kv requests)/($(kv duration_us)/1e6))")" "$(kv status_errors)" \
        "$(python3 -c "print($(kv p50_us)/1000)")" "$(python3 -c "print($(kv p99_us)/1000)")" \
        "$(mb "$max_rss")" "$(mb "$hwm")" "$load0" >>"$WORK/lookups.md"
    tail -n1 "$WORK/lookups.md" >&2
}

mkdir -p "$WORK/fixtures"
START_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)
# Whether this checkout's store sets redb's quick repair (a --scimd binary may differ).
QUICK=$(grep -rqs 'set_quick_repair(true)' "$ROOT/src/store" && echo on || echo off)
{
    echo "## scimd at $USERS users, $START_DATE"
    echo
    echo "- scimd $GIT_REV$GIT_DIRTY ($SCIMD; redb quick repair in write transactions: $QUICK), $(uname -m), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; wrk 2 threads, $CONNS connections, TLS, loopback"
    echo "- load average at the start: $(load_avg) (1/5/15 min; the machine is shared)"
    echo
} >"$REPORT"

# --- 1. import ---------------------------------------------------------------------------------
# gen FILE N: N users, user i as seed.py makes it (userName load.user.<i>@example.com).
gen() {
    python3 - "$1" "$2" "$HERE" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
from seed import user_body
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps(user_body(i), separators=(",", ":")))
        f.write("\n")
EOF
}
if [ -n "$FROM_STORE" ]; then
    echo "== copying $FROM_STORE" >&2
    cp "$FROM_STORE" "$WORK/big.redb"
    { echo "### Load"; echo; echo "- no import: the store is a copy of $FROM_STORE"; } >>"$REPORT"
else
    echo "== writing $USERS users as JSON Lines" >&2
    gen "$WORK/users.jsonl" "$USERS"
    FILE_MB=$(du -m "$WORK/users.jsonl" | cut -f1)
    echo "== scimd import ($FILE_MB MB)" >&2
    LOAD_IMPORT=$(load_avg)
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/import-time.txt" \
        "$SCIMD" import --config "$WORK/big.toml" "$WORK/users.jsonl" >"$WORK/import.txt" 2>&1 \
        || { cat "$WORK/import.txt" >&2; die "scimd import failed"; }
    read -r IMPORT_S IMPORT_KB IMPORT_U IMPORT_SYS <"$WORK/import-time.txt"
    {
        echo "### Load"
        echo
        echo "| path | users | wall s | users/s | peak RSS MB | CPU s (user+sys) | load avg before |"
        echo "|---|---:|---:|---:|---:|---:|---|"
        printf '| `scimd import` (%s MB of JSON Lines) | %s | %.1f | %.0f | %s | %.1f | %s |\n' "$FILE_MB" "$USERS" "$IMPORT_S" \
            "$(python3 -c "print($USERS/$IMPORT_S)")" "$(mb "$IMPORT_KB")" "$(python3 -c "print($IMPORT_U+$IMPORT_SYS)")" "$LOAD_IMPORT"
    } >>"$REPORT"
    tail -n1 "$REPORT" >&2
    cat "$WORK/import.txt" >&2
    rm -f "$WORK/users.jsonl"
fi

# --- 2. size, verify -------------------------------------------------------------------------------
verify() { # CONFIG -> VERIFY_S, VERIFY_OUT
    local t0
    t0=$(now_ms)
    VERIFY_OUT=$("$SCIMD" db verify --config "$WORK/$1.toml" 2>&1 | tail -n 2 | tr '\n' ' ' || true)
    VERIFY_S=$(python3 -c "print(f'{($(now_ms) - $t0)/1000:.1f}')")
}
DB_MB=$(du -m "$WORK/big.redb" | cut -f1)
verify big
VERIFY1_S=$VERIFY_S; VERIFY1_OUT=$VERIFY_OUT
echo "   store ${DB_MB} MB; db verify ${VERIFY1_S} s: $VERIFY1_OUT" >&2

# --- 3. readiness -------------------------------------------------------------------------------
echo "== readiness at $USERS users" >&2
start big; FIRST_H=$READY_HEALTH_MS; FIRST_R=$READY_MS
stop; CLEAN_STOP=$STOP_MS
start big; CLEAN_H=$READY_HEALTH_MS; CLEAN_R=$READY_MS
# SIGKILL during a create load (64 connections, as run.sh's create scenario).
RUN_ID=$(date +%s)
SCENARIO=create TOKEN=$TOKEN BASE=/scim/v2 FIXTURES="$WORK/fixtures" USERS=$USERS RUN_ID=$RUN_ID WRK_THREADS=2 \
    wrk -t2 -c64 -d30s --timeout 30s -s "$HERE/scimd.lua" "https://localhost:$PORT" >"$WORK/wrk-create.txt" 2>&1 &
LOAD_PID=$!
sleep 8
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
stop_pid "$LOAD_PID" 3; LOAD_PID=""
start big; KILL_H=$READY_HEALTH_MS; KILL_R=$READY_MS
stop
verify big
VERIFY2_S=$VERIFY_S; VERIFY2_OUT=$VERIFY_OUT
{
    echo
    echo "### Store, verify, readiness"
    echo
    echo "- store file: ${DB_MB} MB at $USERS users (after the import)"
    echo "- \`scimd db verify\` after the import: ${VERIFY1_S} s ($VERIFY1_OUT)"
    echo
    echo "| start | /healthz 200 after ms | /readyz 200 after ms |"
    echo "|---|---:|---:|"
    echo "| first start after the import | $FIRST_H | $FIRST_R |"
    echo "| after a clean SIGTERM stop (the stop took $CLEAN_STOP ms) | $CLEAN_H | $CLEAN_R |"
    echo "| after SIGKILL 8 s into a 64-connection create load | $KILL_H | $KILL_R |"
    echo
    echo "- \`scimd db verify\` after the SIGKILL restart: ${VERIFY2_S} s ($VERIFY2_OUT)"
} >>"$REPORT"
tail -n 4 "$REPORT" >&2

# --- 4. RSS and lookups per cache size; 5. the small store ------------------------------------------
echo "== lookups and RSS" >&2
echo "| store | users | lookups/s | non-2xx | p50 ms | p99 ms | max RSS MB (sampled) | VmHWM MB | load avg before |" >"$WORK/lookups.md"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|" >>"$WORK/lookups.md"
for c in $CACHES; do
    config_for "big-$c" big.redb "$c"
    start "big-$c"
    lookups "$USERS" "big, cache_mib $c"
    stop
done
config_for big-default big.redb
start big-default
lookups "$USERS" "big, no cache_mib (default)"
stop
echo "== the small store ($SMALL users)" >&2
config_for small small.redb
gen "$WORK/small.jsonl" "$SMALL"
"$SCIMD" import --config "$WORK/small.toml" "$WORK/small.jsonl" >/dev/null
start small
lookups "$SMALL" "small, default cache"
stop
{
    echo
    echo "### Lookups (\`GET /Users?filter=userName eq ...\`, random user, $CONNS connections, ${DURATION} s after a 5 s warm-up; a fresh server per row)"
    echo
    cat "$WORK/lookups.md"
} >>"$REPORT"

# --- 6. POST /Bulk -----------------------------------------------------------------------------
if [ "$BULK" -gt 0 ]; then
    echo "== POST /Bulk: $BULK users into an empty store" >&2
    config_for bulk bulk.redb
    start bulk
    mkdir -p "$WORK/bulk-fixtures"
    LOAD_BULK=$(load_avg)
    SEED_LINE=$(python3 "$HERE/seed.py" "https://127.0.0.1:$PORT/scim/v2" "$TOKEN" "$WORK/tls/cert.pem" "$WORK/bulk-fixtures" "$BULK" 0)
    stop
    {
        echo
        echo "### POST /Bulk (seed.py: 2 connections, 1,000 operations per request, empty store; load avg before $LOAD_BULK)"
        echo
        echo "$SEED_LINE"
    } >>"$REPORT"
    echo "   $SEED_LINE" >&2
fi

{
    echo
    echo "- load average at the end: $(load_avg)"
    echo "- warn/error lines in the server log: $(grep -cE ' (WARN|ERROR) ' "$WORK/server.log" || true)"
} >>"$REPORT"
cp "$REPORT" "$OUT"
echo >&2
cat "$OUT"
echo "saved to $OUT" >&2
