#!/usr/bin/env python3
"""Where scimd's CPU goes, from a `perf record --call-graph dwarf` of the running server.

    perf record -F 499 --call-graph dwarf,16384 -p <scimd pid> -o scimd.perf -- sleep 8
    perf script -i scimd.perf --no-inline | python3 benches/load/perf_breakdown.py

Each sample goes to the first category (in the order below) whose marker appears anywhere in
its stack, so a write(2) made by the logger counts as logging and one made by rustls as socket
I/O. Prints the share of samples per category and, per category, the share spent in
malloc/free. Standard library only.
"""

import collections
import re
import sys

CATEGORIES = [
    ("logging (tracing format + write)", ["tracing_subscriber", "tracing_core", "tracing::", "log_writer"]),
    ("metrics (prometheus-client)", ["prometheus_client", "metrics::observe", "Metrics::request"]),
    ("auth failure throttle", ["throttle"]),
    ("auth (sha256, token registry)", ["sha2", "scimd::auth", "authenticate", "LiveTokens", "access::"]),
    ("redb (read txn, b-tree, pages)", ["redb::"]),
    ("projection", ["projection::"]),
    ("render (derived attributes, location)", ["render::", "::render"]),
    ("filter parse / plan", ["scim::filter", "plan::", "is_point_query"]),
    ("JSON serialize (response)", ["serde_json::ser", "respond::json", "to_vec"]),
    ("JSON parse (stored record)", ["serde_json::de", "Deserialize", "record::decode", "serde_json::read"]),
    ("request id (uuid v7, getrandom)", ["uuid", "getrandom"]),
    ("other scimd code (router, query string, list response)",
     ["router::", "directory::", "scim::", "request::", "respond::", "client_ip", "health::"]),
    ("socket I/O syscalls", ["tokio::net", "mio::", "__GI___writev", "__libc_recv", "__libc_send", "read_io", "write_io"]),
    ("TLS (rustls, ring)", ["rustls", "ring_core", "ring::"]),
    ("hyper (HTTP/1 parse, encode, dispatch)", ["hyper"]),
    ("tokio runtime (scheduler, timers, wake-ups)", ["tokio::"]),
]
ALLOC = ["malloc", "free", "realloc", "unlink_chunk", "_int_", "consolidate"]


def stacks(lines):
    """Yields each sample's frames, root first."""
    frames = []
    in_sample = False
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if in_sample and frames:
                yield list(reversed(frames))
            frames, in_sample = [], False
        elif not line.startswith((" ", "\t")):
            frames, in_sample = [], True
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(re.sub(r"(\+0x[0-9a-f]+)? \(.*\)$", "", parts[1]))
    if in_sample and frames:
        yield list(reversed(frames))


def main():
    per = collections.Counter()
    alloc = collections.Counter()
    total = 0
    for frames in stacks(sys.stdin):
        total += 1
        joined = ";".join(frames)
        cat = next((name for name, keys in CATEGORIES if any(k in joined for k in keys)),
                   "other (kernel scheduling, unknown)")
        per[cat] += 1
        if any(k in frames[-1] for k in ALLOC):
            alloc[cat] += 1
    if total == 0:
        sys.exit("no samples on stdin (pipe `perf script` output in)")
    print(f"{total} samples")
    print("| share | category | of which malloc/free |")
    print("|---:|---|---:|")
    for cat, n in per.most_common():
        print(f"| {100 * n / total:.1f}% | {cat} | {100 * alloc[cat] / total:.1f}% |")
    print(f"| {100 * sum(alloc.values()) / total:.1f}% | malloc/free, all categories | |")


if __name__ == "__main__":
    main()
