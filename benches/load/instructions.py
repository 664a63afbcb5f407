#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: the load harness's steady companion.

On a shared 2-core machine, CPU time per request moves by ±20% with other people's builds.
Instruction counts do not: valgrind's callgrind counts every user-space instruction scimd
executes (kernel time for syscalls and TLS socket I/O is not counted), so two builds can be
compared to within a fraction of a percent whatever else runs. Use it to decide whether a
change made the server cheaper; use run.sh for what the machine can sustain.

    bash benches/load/run.sh --scenarios lookup --duration 3 --keep   # a seeded WORK dir
    python3 benches/load/instructions.py --work /tmp/scimd-load.XXXXXX \\
        [--scimd target/release/scimd] [--requests 1000] \\
        [--scenarios "lookup get create deactivate member_add list cursor"]

For each scenario it starts scimd under callgrind twice, sends 100 and then 100 + R requests
one after another on one keep-alive TLS connection, and reports (Ir(100 + R) - Ir(100)) / R:
start-up, the TLS handshake and shutdown cancel out. Every run starts from the same copy of the
store (restored from a copy taken first, and again at the end), and requests are drawn from a
fixed seed, so two builds see exactly the same requests against exactly the same data. Writes
are one per commit here (no concurrency, so no group commit), so a write's count includes a
whole commit. Needs valgrind (`apt-get install -y valgrind`).

Every write must change something, or the count is that of a no-op (which commits nothing):
a kept store has often been through run.sh's deactivations and member adds. So before counting,
a plain scimd run prepares the copy every count starts from: deactivate targets are drawn from
the users that are active in it (it stops if too few are), and member adds go into a new empty
group. The store the WORK dir had is put back at the end.
"""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

WARM = 100


def die(msg):
    print(f"instructions.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def listen_port(config):
    m = re.search(r'^\s*listen\s*=\s*"[^"]*:(\d+)"', open(config).read(), re.M)
    if not m:
        die(f"no [server] listen in {config}")
    return int(m.group(1))


class Driver:
    """One keep-alive TLS connection sending a scenario's requests."""

    def __init__(self, port, token, fixtures, users, tag, writes=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.ids = open(os.path.join(fixtures, "user_ids")).read().split()
        # From prepare(): whom to deactivate, whom to add, and the empty group to add them to.
        self.writes = writes or {}
        self.group = self.writes.get("group")
        self.to_deactivate = iter(self.writes.get("active", []))
        self.to_add = iter(self.writes.get("members", []))
        self.cursors = [urllib.parse.quote(c, safe="")
                        for c in open(os.path.join(fixtures, "cursors")).read().split()] or [""]
        self.users = users
        self.rnd = random.Random(7)
        self.tag = tag
        self.n = 0
        self.failed = 0

    def send(self, method, path, body=None):
        headers = dict(self.auth)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        self.conn.request(method, "/scim/v2" + path, body=data, headers=headers)
        r = self.conn.getresponse()
        answer = r.read()
        if not 200 <= r.status < 300:
            self.failed += 1
        return r.status, answer

    def one(self, scenario):
        self.n += 1
        if scenario == "lookup":
            name = f"load.user.{self.rnd.randrange(self.users)}@example.com"
            q = urllib.parse.quote_plus(f'userName eq "{name}"')
            self.send("GET", f"/Users?filter={q}")
        elif scenario == "list":
            start = self.rnd.randrange(1, max(2, self.users - 99))
            self.send("GET", f"/Users?startIndex={start}&count=100&excludedAttributes=groups")
        elif scenario == "cursor":
            self.send("GET", f"/Users?cursor={self.rnd.choice(self.cursors)}&count=100"
                             "&excludedAttributes=groups")
        elif scenario == "get":
            self.send("GET", f"/Users/{self.rnd.choice(self.ids)}")
        elif scenario == "create":
            n = f"instr.{self.tag}.{self.n}"
            self.send("POST", "/Users", {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": f"{n}@example.com", "active": True, "externalId": n,
                "name": {"givenName": "Instr", "familyName": n},
                "emails": [{"value": f"{n}@example.com", "type": "work", "primary": True}],
                "title": "Engineer",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": "R&D", "employeeNumber": str(self.n)},
            })
        elif scenario == "deactivate":
            self.send("PATCH", f"/Users/{next(self.to_deactivate)}", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            })
        elif scenario == "member_add":
            self.send("PATCH", f"/Groups/{self.group}", {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members",
                                "value": [{"value": next(self.to_add)}]}],
            })
        else:
            die(f"unknown scenario {scenario!r}")


def start_plain(scimd, work, port, token, users, tag):
    """scimd without valgrind on the WORK dir's store, and a Driver connected to it."""
    server = subprocess.Popen([scimd, "serve", "--config", "scimd.toml"], cwd=work,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            driver = Driver(port, token, os.path.join(work, "fixtures"), users, tag)
            driver.conn.connect()
            return server, driver
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                server.wait()
                die("scimd did not start to prepare the store")
            time.sleep(0.2)


def prepare(scimd, work, token, users, tag, needed):
    """Makes every counted write a change; returns what the Driver's writes are drawn from."""
    port = listen_port(os.path.join(work, "scimd.toml"))
    server, driver = start_plain(scimd, work, port, token, users, tag)
    try:
        active, start = [], 1
        while True:
            q = urllib.parse.quote_plus("active eq true")
            status, body = driver.send(
                "GET", f"/Users?filter={q}&attributes=id&startIndex={start}&count=1000")
            if status != 200:
                die(f"listing the active users answered {status}: {body[:200]!r}")
            listing = json.loads(body)
            page = listing.get("Resources", [])
            active += [r["id"] for r in page]
            # The server may cap count below 1000 (max_page_size), so page by what came back;
            # a startIndex page costs a scan, so stop once there are enough.
            if not page or len(active) >= min(needed, listing.get("totalResults", 0)):
                break
            start += len(page)
        status, body = driver.send("POST", "/Groups", {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": f"instructions {tag}"})
        if status != 201:
            die(f"creating the empty group for member adds answered {status}: {body[:200]!r}")
        group = json.loads(body)["id"]
        driver.conn.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    rnd = random.Random(11)
    rnd.shuffle(active)
    members = list(driver.ids)
    rnd.shuffle(members)
    if len(active) < needed or len(members) < needed:
        die(f"{len(active)} active users and {len(members)} seeded ones, but the deactivate and "
            f"member_add counts need {needed} of each: lower --requests, or seed a fresh WORK dir")
    return {"active": active, "members": members, "group": group}


def count(scimd, work, token, scenario, requests, users, tag, writes):
    """Total instructions of one server run that answers `requests` requests."""
    out_dir = tempfile.mkdtemp(prefix="scimd-callgrind.")
    out = os.path.join(out_dir, "cg.out")
    log = open(os.path.join(out_dir, "server.log"), "w")
    port = listen_port(os.path.join(work, "scimd.toml"))
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", scimd, "serve",
         "--config", "scimd.toml"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=log,
        env=dict(os.environ, RUST_LOG="info"))
    try:
        deadline = time.time() + 120
        driver = None
        while driver is None:
            try:
                driver = Driver(port, token, os.path.join(work, "fixtures"), users, tag, writes)
                driver.conn.connect()
            except OSError:
                driver = None
                if server.poll() is not None or time.time() > deadline:
                    die(f"scimd did not start under valgrind (log: {log.name})")
                time.sleep(0.5)
        for _ in range(requests):
            driver.one(scenario)
        driver.conn.close()
    finally:
        server.terminate()
        server.wait(timeout=120)
    text = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    m = re.search(r"([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", text)
    if not m:
        die(f"no PROGRAM TOTALS in {out}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return int(m.group(1).replace(",", "")), driver.failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="a WORK dir kept by run.sh --keep")
    ap.add_argument("--scimd", default=None, help="the binary (default target/release/scimd)")
    ap.add_argument("--scenarios", default="lookup get create deactivate member_add")
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scimd = os.path.abspath(args.scimd or os.path.join(root, "target/release/scimd"))
    work = os.path.abspath(args.work)
    if not shutil.which("valgrind"):
        die("valgrind is required (apt-get install -y valgrind)")
    users = len(open(os.path.join(work, "fixtures", "user_ids")).read().split())
    tag = f"{os.getpid()}-{int(time.time())}"
    issued = subprocess.run(
        [scimd, "token", "issue", "--name", f"instr-{tag}", "--config",
         os.path.join(work, "scimd.toml")],
        capture_output=True, text=True, check=True).stdout
    token = next((l for l in issued.split() if l.startswith("scimd_")), None) or die(
        "could not parse the token printed by 'scimd token issue'")
    store = os.path.join(work, "scimd.redb")
    pristine = store + ".instructions-pristine"
    prepared = store + ".instructions-prepared"
    shutil.copyfile(store, pristine)
    try:
        writes = {}
        if {"deactivate", "member_add"} & set(args.scenarios.split()):
            writes = prepare(scimd, work, token, users, tag, WARM + args.requests)
        shutil.copyfile(store, prepared)
        print(f"scimd: {scimd}\nstore: {work} ({users} seeded users)\n")
        print("| scenario | requests | instructions per request | non-2xx |")
        print("|---|---:|---:|---:|")
        for scenario in args.scenarios.split():
            shutil.copyfile(prepared, store)
            small, f1 = count(scimd, work, token, scenario, WARM, users, tag, writes)
            shutil.copyfile(prepared, store)
            big, f2 = count(scimd, work, token, scenario, WARM + args.requests, users, tag,
                            writes)
            per = (big - small) / args.requests
            print(f"| {scenario} | {args.requests} | {per:,.0f} | {f1 + f2} |", flush=True)
    finally:
        shutil.copyfile(pristine, store)
        os.remove(pristine)
        if os.path.exists(prepared):
            os.remove(prepared)


if __name__ == "__main__":
    main()
