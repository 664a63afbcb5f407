#!/usr/bin/env python3
"""Turn run.sh's raw TSV into the Markdown result table. Standard library only.

    report.py RAW_TSV CLK_TCK NCPU
"""
import csv
import sys

TARGETS = {  # issue 7's targets, shown next to each scenario
    "lookup": "≥70% of ceiling, p99 ≤ 5 ms @32",
    "get": "≥70% of ceiling, p99 ≤ 5 ms @32",
    "create": "≥10,000/s @64 (durable)",
    "deactivate": "≥30% of ceiling",
    "member_add": "≥30% of ceiling",
    "mix": "≥40% of ceiling",
    "list": "–",
    "cursor": "–",
}
LABELS = {
    "lookup": "lookup `userName eq` (Entra match)",
    "get": "GET /Users/{id}",
    "create": "create POST /Users",
    "deactivate": "PATCH active \"False\"/\"True\" (each a change)",
    "member_add": "member add (growing groups)",
    "mix": "Entra mix 50/20/10/10/10",
    "list": "list page startIndex=rand, count=100",
    "cursor": "cursor page, count=100",
}


def main():
    path, hz, ncpu = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    # Raw files written before the changed-writes column cannot tell writes from no-ops.
    has_changed = bool(rows) and "changed_writes" in rows[0]
    for r in rows:
        for k in ("requests", "duration_us", "status_errors", "sock_errors", "p50_us", "p99_us", "max_us",
                  "cpu_ticks", "busy_ticks", "rss_kb", "hwm_kb", "conns", "commits", "committed_writes",
                  "changed_writes"):
            r[k] = float(r.get(k) or 0)
        secs = r["duration_us"] / 1e6
        r["ok"] = r["requests"] - r["status_errors"]
        r["ok_rate"] = r["ok"] / secs
        r["cpu_ms_req"] = (r["cpu_ticks"] / hz * 1000 / r["requests"]) if r["requests"] else float("nan")
        wrk_cpu = float(r["wrk_cpu_s"]) if r["wrk_cpu_s"] else 0.0
        foreign = r["busy_ticks"] / hz - r["cpu_ticks"] / hz - wrk_cpu
        r["foreign"] = max(0.0, foreign / secs)
        r["server_cores"] = r["cpu_ticks"] / hz / secs
        r["wrk_cores"] = wrk_cpu / secs

    ceil = {}
    for r in rows:
        if r["kind"].startswith("ceiling"):
            ceil.setdefault(int(r["conns"]), []).append(r)

    def ceil_rate(c):
        rs = ceil.get(c, [])
        return sum(x["ok_rate"] for x in rs) / len(rs) if rs else float("nan")

    def ceil_cpu(c):
        rs = ceil.get(c, [])
        return sum(x["cpu_ms_req"] for x in rs) / len(rs) if rs else float("nan")

    out = []
    out.append("| scenario | conns | 2xx/s | errors (non-2xx, socket) | p50 ms | p99 ms | server CPU ms/req "
               "| % of ceiling (2xx/s) | % of ceiling (CPU/req) | server / wrk / foreign cores | RSS MB "
               "| commits/s (writes per commit) | changed writes/s | target |")
    out.append("|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|")
    for r in rows:
        if r["kind"] != "scimd":
            continue
        c = int(r["conns"])
        errs = f"{int(r['status_errors'])}, {int(r['sock_errors'])}"
        non2xx = [s for s in (r["statuses"] or "").split() if not s.startswith("2")]
        if non2xx:
            errs += " (" + " ".join(non2xx) + ")"
        if int(r["warn_lines"] or 0):
            errs += f"; {int(r['warn_lines'])} warn log lines"
        commits = r["commits"]
        batching = (f"{commits / (r['duration_us'] / 1e6):,.0f} ({r['committed_writes'] / commits:.1f})"
                    if commits else "–")
        changed = (f"{r['changed_writes'] / (r['duration_us'] / 1e6):,.0f}"
                   if commits and has_changed else "–")
        out.append(
            f"| {LABELS[r['scenario']]} | {c} | {r['ok_rate']:,.0f} | {errs} | {r['p50_us'] / 1000:.2f} "
            f"| {r['p99_us'] / 1000:.2f} | {r['cpu_ms_req']:.3f} | {100 * r['ok_rate'] / ceil_rate(c):.1f}% "
            f"| {100 * ceil_cpu(c) / r['cpu_ms_req']:.1f}% "
            f"| {r['server_cores']:.2f} / {r['wrk_cores']:.2f} / {r['foreign']:.2f} | {r['rss_kb'] / 1024:.0f} "
            f"| {batching} | {changed} | {TARGETS[r['scenario']]} |")
    # A write that changes nothing (re-adding a member, disabling a disabled user) commits nothing
    # and is cheap: a write scenario whose requests were mostly that measures no-ops, not writes.
    for r in rows:
        if r["kind"] != "scimd" or r["scenario"] not in ("create", "deactivate", "member_add"):
            continue
        if not r["commits"] and not r["changed_writes"] and r["ok"]:
            out.append("")
            out.append(f"**Warning:** {LABELS[r['scenario']]}: no commit was seen in /metrics; either "
                       "the scrape failed or every request changed nothing.")
        elif has_changed and r["ok"] and r["changed_writes"] < 0.9 * r["ok"]:
            out.append("")
            out.append(f"**Warning:** {LABELS[r['scenario']]}: only {r['changed_writes']:,.0f} of "
                       f"{r['ok']:,.0f} answered requests changed something; the rest were no-ops, so its "
                       "2xx/s is not a rate of durable writes.")
    out.append("")
    out.append("Ceiling (trivial hyper + rustls `hello`, same wrk settings); 100% above = the mean of before and after:")
    out.append("")
    out.append("| run | conns | 2xx/s | errors | p50 ms | p99 ms | server CPU ms/req | server / wrk / foreign cores |")
    out.append("|---|---:|---:|---|---:|---:|---:|---|")
    for r in rows:
        if not r["kind"].startswith("ceiling"):
            continue
        out.append(
            f"| {r['kind'].split('-')[1]} | {int(r['conns'])} | {r['ok_rate']:,.0f} | {int(r['status_errors'])}, {int(r['sock_errors'])} "
            f"| {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | {r['cpu_ms_req']:.4f} "
            f"| {r['server_cores']:.2f} / {r['wrk_cores']:.2f} / {r['foreign']:.2f} |")
    out.append("")
    out.append(f"Cores: CPU seconds per wall second over the run, from /proc ({ncpu} CPUs in all); \"foreign\" = all "
               "busy CPU minus the server and wrk, i.e. other people's builds on the shared machine. "
               "CPU ms/req divides the server's CPU by all responses, 2xx or not. Commits/s and writes per "
               "commit come from scimd's /metrics (`scimd_store_commit_operations`) before and after each "
               "scenario: group commit puts every write waiting at the same time into one fsync. Changed "
               "writes/s counts only writes that changed something (`scimd_store_changed_writes_total`); a "
               "write that changes nothing rides along in a batch or commits nothing.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
