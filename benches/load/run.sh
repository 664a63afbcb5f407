#!/usr/bin/env bash
# Load-test harness for scimd (issue 7). Run on demand, never in CI:
#
#   bash benches/load/run.sh [--users N] [--groups G] [--duration S] [--connections C]
#                            [--threads T] [--scenarios "lookup get ..."] [--out FILE]
#                            [--log-level LEVEL] [--skip-build] [--scimd PATH] [--keep]
#
# It builds scimd (release) and the trivial hyper+rustls "ceiling" responder
# (benches/load/ceiling), starts the real `scimd serve` on a temporary data dir with its own
# certificate, port and token, seeds N users and G groups through POST /Bulk, then drives each
# scenario with wrk for S seconds and prints a Markdown table (also saved to FILE, default
# target/load-results/<timestamp>-<N>u.md). See docs/PERFORMANCE.md.
#
# Scenarios (default connections in brackets; --connections C overrides them all):
#   lookup      GET /Users?filter=userName+eq+%22<existing>%22 (Entra's match query)      [32]
#   get         GET /Users/{random seeded id}                                             [32]
#   create      POST /Users, a unique userName per request                                [64]
#   deactivate  PATCH /Users/{id} {"op":"Replace","path":"active","value":"False"}, the     [32]
#               users in order, "True" on every second pass: each request is a real write
#   member_add  PATCH /Groups/{one group} add one new member (seeded users in order)      [32]
#               then the next seeded groups, then removes them again: each request a change
#   mix         50% lookup, 20% attribute PATCH, 10% deactivate, 10% create, 10% member add [32]
#   list        GET /Users?startIndex=<random>&count=100&excludedAttributes=groups       [8]
#   cursor      GET /Users?cursor=<one of the walk's cursors>&count=100&...               [32]
# The ceiling runs at every connection count used, once before and once after the scenarios;
# the mean of the two is the 100% of "% of ceiling".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

USERS=10000
GROUPS_N=10
DURATION=15
CONNECTIONS=""
THREADS=2
SCENARIOS="lookup get create deactivate member_add mix list cursor"
OUT=""
LOG_LEVEL=info
SKIP_BUILD=0
KEEP=0
SCIMD_BIN=""

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "run.sh: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --users) USERS=$2; shift 2 ;;
        --groups) GROUPS_N=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --log-level) LOG_LEVEL=$2; shift 2 ;;
        --skip-build) SKIP_BUILD=1; shift ;;
        --scimd) SCIMD_BIN=$2; SKIP_BUILD=1; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
for v in USERS GROUPS_N DURATION THREADS; do
    [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "--${v,,} must be a positive integer"
done
[ -z "$CONNECTIONS" ] || [[ $CONNECTIONS =~ ^[0-9]+$ ]] || die "--connections must be a positive integer"
for s in $SCENARIOS; do
    case "$s" in lookup|get|create|deactivate|member_add|mix|list|cursor) ;;
        *) die "unknown scenario: $s" ;; esac
done

[ -n "$OUT" ] || OUT="$ROOT/target/load-results/$(date -u +%Y%m%d-%H%M%S)-${USERS}u.md"
mkdir -p "$(dirname "$OUT")" || die "cannot create the directory of $OUT"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"

default_connections() {
    case "$1" in create) echo 64 ;; list) echo 8 ;; *) echo 32 ;; esac
}
conns_for() { if [ -n "$CONNECTIONS" ]; then echo "$CONNECTIONS"; else default_connections "$1"; fi; }

# --- tools ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk is not installed; trying apt-get install -y wrk" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
    if ! { $SUDO apt-get install -y -qq wrk >/dev/null 2>&1 || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq wrk >/dev/null 2>&1; }; }; then
        die "wrk is missing and could not be installed (needs root or passwordless sudo). Install it (Debian/Ubuntu: apt-get install wrk; https://github.com/wg/wrk) and re-run."
    fi
    command -v wrk >/dev/null 2>&1 || die "apt-get reported success but wrk is still not on PATH"
fi
for t in openssl python3 curl; do
    command -v "$t" >/dev/null 2>&1 || die "$t is required"
done
TIME_BIN=""
if [ -x /usr/bin/time ] && /usr/bin/time -f "%U" -o /dev/null true 2>/dev/null; then TIME_BIN=/usr/bin/time; fi

# --- build ---------------------------------------------------------------------------------
# --scimd measures another build (e.g. one with a different release profile) under the same
# harness; the ceiling must then have been built by an earlier run.
SCIMD="${SCIMD_BIN:-$ROOT/target/release/scimd}"
CEILING="$ROOT/target/load-ceiling/release/scimd-load-ceiling"
if [ "$SKIP_BUILD" -eq 0 ]; then
    echo "== building scimd and the ceiling responder (release)" >&2
    (cd "$ROOT" && cargo build --release --locked --bin scimd) >&2
    cargo build --release --locked --manifest-path "$HERE/ceiling/Cargo.toml" \
        --target-dir "$ROOT/target/load-ceiling" >&2
fi
[ -x "$SCIMD" ] || die "$SCIMD is missing (run without --skip-build)"
[ -x "$CEILING" ] || die "$CEILING is missing (run without --skip-build)"

# --- temp dir, cleanup -----------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scimd-load.XXXXXX")
SERVER_PID=""
CEILING_PID=""
stop_pid() { # pid, seconds before SIGKILL
    local pid=$1 wait_s=${2:-25} i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    echo "run.sh: process $pid ignored SIGTERM for ${wait_s}s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    stop_pid "$CEILING_PID" 3
    stop_pid "$SERVER_PID" 25
    if [ "$KEEP" -eq 1 ] || [ $rc -ne 0 ]; then
        echo "run.sh: work files kept in $WORK (server log: $WORK/server.log)" >&2
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_line() { # file, pattern, pid, seconds
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }      # utime + stime, in clock ticks
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# --- scimd ---------------------------------------------------------------------------------
echo "== starting scimd in $WORK" >&2
mkdir -p "$WORK/tls" "$WORK/fixtures"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null
PORT=$(free_port)
METRICS_PORT=$(free_port)
cat >"$WORK/scimd.toml" <<EOF
[server]
listen = "127.0.0.1:$PORT"
base_path = "/scim/v2"

[tls]
cert = "tls/cert.pem"
key = "tls/key.pem"

[storage]
path = "scimd.redb"

# Scraped around each scenario for the writes per commit (group commit).
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
EOF
TOKEN=$("$SCIMD" token issue --name load --config "$WORK/scimd.toml" | grep -E '^scimd_' | head -n1 || true)
[ -n "$TOKEN" ] || die "could not parse the token printed by 'scimd token issue'"
"$SCIMD" check-config --config "$WORK/scimd.toml" >&2

RUST_LOG=$LOG_LEVEL "$SCIMD" serve --config "$WORK/scimd.toml" >"$WORK/banner.txt" 2>"$WORK/server.log" &
SERVER_PID=$!
wait_for_line "$WORK/banner.txt" '^URL:' "$SERVER_PID" 60 \
    || { tail -n 20 "$WORK/server.log" >&2; die "scimd did not start (log above)"; }
URL=$(awk '/^URL:/{print $2; exit}' "$WORK/banner.txt")
BASE_PATH=/scim/v2
ORIGIN="https://127.0.0.1:$PORT"
# wrk sends the URL's host as SNI; an IP address there makes rustls log a WARN per connection
# ("Illegal SNI extension"), so wrk gets the name, as a real client would send.
WRK_ORIGIN="https://localhost:$PORT"
echo "   scimd pid $SERVER_PID at $URL (listening on $ORIGIN)" >&2

# --- seed ----------------------------------------------------------------------------------
echo "== seeding $USERS users and $GROUPS_N groups" >&2
SEED_LINE=$(python3 "$HERE/seed.py" "$ORIGIN$BASE_PATH" "$TOKEN" "$WORK/tls/cert.pem" "$WORK/fixtures" "$USERS" "$GROUPS_N")
echo "   $SEED_LINE" >&2
[ -s "$WORK/fixtures/cursors" ] || echo "   (fewer than 1000 users: no cursor to page from; the cursor scenario is skipped)" >&2
RSS_AFTER_SEED=$(status_kb "$SERVER_PID" VmRSS)

# --- measuring -------------------------------------------------------------------------------
RAW="$WORK/raw.tsv"
printf 'kind\tscenario\tconns\trequests\tduration_us\tstatus_errors\tsock_errors\tp50_us\tp99_us\tmax_us\tcpu_ticks\twrk_cpu_s\tbusy_ticks\trss_kb\thwm_kb\tstatuses\twarn_lines\tcommits\tcommitted_writes\tchanged_writes\n' >"$RAW"
RUN_ID=$(date +%s)

# "<commits> <writes they carried> <of which changed something>" so far, from scimd's /metrics
# (empty for the ceiling).
commit_counts() {
    curl -s "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null \
        | awk '/^scimd_store_commit_operations_count /{c=$2} /^scimd_store_commit_operations_sum /{s=$2}
               /^scimd_store_changed_writes_total /{w=$2} END {printf "%d %d %d", c, s, w}'
}

run_wrk() { # kind scenario conns url pid
    local kind=$1 scenario=$2 conns=$3 url=$4 pid=$5
    local out="$WORK/wrk-$kind-$scenario-$conns.txt" cpu0 cpu1 busy0 busy1 log0 log1 wrk_cpu=""
    local threads=$THREADS
    [ "$threads" -le "$conns" ] || threads=$conns
    local commits0="0 0 0" commits1="0 0 0"
    [ "$kind" != scimd ] || commits0=$(commit_counts)
    cpu0=$(cpu_ticks "$pid"); busy0=$(busy_ticks); log0=$(stat -c %s "$WORK/server.log")
    local -a cmd=(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 30s -s "$HERE/scimd.lua" "$url")
    if [ -n "$TIME_BIN" ]; then cmd=("$TIME_BIN" -f "%U %S" -o "$WORK/wrk-time.txt" "${cmd[@]}"); fi
    SCENARIO=$scenario TOKEN=$TOKEN BASE=$BASE_PATH FIXTURES="$WORK/fixtures" USERS=$USERS \
        RUN_ID="$RUN_ID" WRK_THREADS=$threads "${cmd[@]}" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed for $kind $scenario"; }
    cpu1=$(cpu_ticks "$pid"); busy1=$(busy_ticks); log1=$(stat -c %s "$WORK/server.log")
    [ "$kind" != scimd ] || commits1=$(commit_counts)
    [ -z "$TIME_BIN" ] || wrk_cpu=$(awk '{print $1 + $2}' "$WORK/wrk-time.txt")
    local r statuses="" warns=0
    r=$(grep '^RESULT' "$out") || { cat "$out" >&2; die "no RESULT line from wrk ($kind $scenario)"; }
    if [ "$kind" = scimd ]; then
        # Per-status counts of the requests logged during this run, and warn/error lines.
        statuses=$(tail -c +"$((log0 + 1))" "$WORK/server.log" | head -c "$((log1 - log0))" \
            | grep -oE ' status=[0-9]+' | sort | uniq -c | awk '{sub("status=","",$2); printf "%s%s:%s", (NR>1?" ":""), $2, $1}' || true)
        warns=$(tail -c +"$((log0 + 1))" "$WORK/server.log" | head -c "$((log1 - log0))" | grep -cE ' (WARN|ERROR) ' || true)
    fi
    kv() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $r"; }
    local -a c0 c1
    read -ra c0 <<<"$commits0"; read -ra c1 <<<"$commits1"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$kind" "$scenario" "$conns" "$(kv requests)" "$(kv duration_us)" "$(kv status_errors)" \
        "$(( $(kv connect) + $(kv read) + $(kv write) + $(kv timeout) ))" "$(kv p50_us)" "$(kv p99_us)" "$(kv max_us)" \
        "$((cpu1 - cpu0))" "${wrk_cpu:-}" "$((busy1 - busy0))" "$(status_kb "$pid" VmRSS)" "$(status_kb "$pid" VmHWM)" \
        "${statuses:-}" "$warns" \
        "$(( c1[0] - c0[0] ))" "$(( c1[1] - c0[1] ))" "$(( c1[2] - c0[2] ))" >>"$RAW"
    awk -F'\t' -v d="$DURATION" 'END {printf "   %-8s %-11s c=%-3s %8.0f req/s  non-2xx=%s sock-err=%s  p50=%.2fms p99=%.2fms\n", $1, $2, $3, $4/($5/1e6), $6, $7, $8/1000, $9/1000}' "$RAW" >&2
}

CONN_SET=$(for s in $SCENARIOS; do conns_for "$s"; done | sort -n | uniq | tr '\n' ' ')
CEIL_PORT=$(free_port)
"$CEILING" "127.0.0.1:$CEIL_PORT" >"$WORK/ceiling.txt" 2>&1 &
CEILING_PID=$!
wait_for_line "$WORK/ceiling.txt" '^LISTENING' "$CEILING_PID" 30 || die "the ceiling responder did not start"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TOP_BEFORE=$(top -bn1 -w 200 2>/dev/null | sed -n '7,14p' || true)
START_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
echo "== ceiling (before), connections: $CONN_SET; load average $LOAD_BEFORE" >&2
for c in $CONN_SET; do run_wrk ceiling-before ceiling "$c" "https://localhost:$CEIL_PORT/" "$CEILING_PID"; done

echo "== scimd scenarios, ${DURATION}s each" >&2
for s in $SCENARIOS; do
    if [ "$s" = cursor ] && [ ! -s "$WORK/fixtures/cursors" ]; then continue; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "scimd exited during the run (log: $WORK/server.log)"
    run_wrk scimd "$s" "$(conns_for "$s")" "$WRK_ORIGIN" "$SERVER_PID"
done

echo "== ceiling (after)" >&2
for c in $CONN_SET; do run_wrk ceiling-after ceiling "$c" "https://localhost:$CEIL_PORT/" "$CEILING_PID"; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
TOP_AFTER=$(top -bn1 -w 200 2>/dev/null | sed -n '7,14p' || true)
stop_pid "$CEILING_PID" 3; CEILING_PID=""

# --- after the load: a clean stop and an integrity check -------------------------------------
kill -0 "$SERVER_PID" 2>/dev/null || die "scimd exited during the run (log: $WORK/server.log)"
RSS_END=$(status_kb "$SERVER_PID" VmRSS); HWM_END=$(status_kb "$SERVER_PID" VmHWM)
T0=$(date +%s.%N)
stop_pid "$SERVER_PID" 25; SERVER_PID=""
STOP_S=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$T0" "$(date +%s.%N)")
VERIFY=$("$SCIMD" db verify --config "$WORK/scimd.toml" 2>&1 | tail -n 3 | tr '\n' ' ' || true)
DB_MB=$(du -m "$WORK/scimd.redb" | cut -f1)
WARN_TOTAL=$(grep -cE ' (WARN|ERROR) ' "$WORK/server.log" || true)

# --- report ----------------------------------------------------------------------------------
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo "+dirty" || true)
python3 "$HERE/report.py" "$RAW" "$HZ" "$NCPU" >"$WORK/table.md"
{
    echo "## scimd load test, $START_DATE"
    echo
    echo "- scimd $GIT_REV$GIT_DIRTY, $(uname -m), $NCPU CPUs; wrk $(wrk -v 2>&1 | head -n1 | awk '{print $2}') with $THREADS threads, ${DURATION} s per scenario, HTTP/1.1 keep-alive over TLS, loopback"
    echo "- N = $USERS users, G = $GROUPS_N groups; seed: $SEED_LINE"
    echo "- server log level: $LOG_LEVEL (one line per request at info); RSS after seeding $((RSS_AFTER_SEED / 1024)) MB, at the end $((RSS_END / 1024)) MB, peak (VmHWM) $((HWM_END / 1024)) MB; store file ${DB_MB} MB"
    echo "- load average before: $LOAD_BEFORE, after: $LOAD_AFTER (1/5/15 min; the machine is shared)"
    echo "- stop after the load: ${STOP_S} s; \`scimd db verify\`: $VERIFY"
    echo "- warn/error lines in the server log: $WARN_TOTAL"
    echo
    cat "$WORK/table.md"
    echo
    echo "<details><summary>top before / after</summary>"
    echo
    echo '```'
    echo "$TOP_BEFORE"
    echo "---"
    echo "$TOP_AFTER"
    echo '```'
    echo "</details>"
} >"$OUT"
if [ "$WARN_TOTAL" != 0 ]; then
    grep -E ' (WARN|ERROR) ' "$WORK/server.log" | sed -E 's/^[^ ]+ +//; s/request_id=[^ ]+ //; s/latency_ms=[^ ]+ ?//' | cut -c1-300 | sort | uniq -c | sort -rn | head -n 10 \
        | sed 's/^/    /' >"$WORK/warns.txt"
    { echo; echo "Most frequent warn/error lines:"; echo; echo '```'; cat "$WORK/warns.txt"; echo '```'; } >>"$OUT"
fi
echo >&2
cat "$OUT"
echo >&2
echo "saved to $OUT" >&2
