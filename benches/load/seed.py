#!/usr/bin/env python3
"""Seed a running scimd with N users and G groups through POST /Bulk, and capture load fixtures.

Used by benches/load/run.sh; standard library only.

    seed.py BASE_URL TOKEN CAFILE OUTDIR N G

Writes into OUTDIR:
  user_ids      one user id per line, in creation order (user i is userName load.user.<i>@example.com)
  group_ids     one group id per line (the G seeded groups, no members)
  target_group  the id of one more, empty group: the growing group of the member-add scenario
  cursors       cursor tokens (percent-encoded) of an unfiltered walk of /Users (count=1000)
Prints one line of timing on stdout.
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse

BULK_OPS = 1000  # scimd's maxOperations per BulkRequest
THREADS = 2


def user_body(i):
    # The shape of Entra's create (INTEROP.md U3) plus the attributes its default mapping sends.
    return {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": f"load-ext-{i}",
        "userName": f"load.user.{i}@example.com",
        "active": True,
        "displayName": f"Load User {i}",
        "emails": [{"primary": True, "type": "work", "value": f"load.user.{i}@example.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"Load User{i}", "familyName": f"User{i}", "givenName": "Load"},
        "title": "Engineer",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": f"Dept {i % 50}",
            "employeeNumber": str(100000 + i),
        },
        "roles": [],
    }


class Client:
    def __init__(self, base, token, cafile):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.path = u.hostname, u.port, u.path.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.check_hostname = False  # the certificate names localhost / 127.0.0.1
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
            "Accept": "application/scim+json",
        }
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=600)
            try:
                data = None if body is None else json.dumps(body).encode()
                self.conn.request(method, self.path + path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")


def bulk(client, ops):
    status, reply = client.request(
        "POST", "/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}
    )
    if status != 200:
        sys.exit(f"seed: POST /Bulk answered {status}: {json.dumps(reply)[:500]}")
    out = []
    for op in reply["Operations"]:
        st = str(op.get("status"))
        if not st.startswith("2"):
            sys.exit(f"seed: a bulk operation failed: {json.dumps(op)[:500]}")
        out.append((op.get("bulkId"), op["location"].rstrip("/").rsplit("/", 1)[1]))
    return out


def main():
    base, token, cafile, outdir, n, g = sys.argv[1:7]
    n, g = int(n), int(g)
    t0 = time.monotonic()

    ids = [None] * n
    chunks = [range(s, min(s + BULK_OPS, n)) for s in range(0, n, BULK_OPS)]
    lock = threading.Lock()
    errors = []

    def worker():
        c = Client(base, token, cafile)
        while True:
            with lock:
                if not chunks or errors:
                    return
                chunk = chunks.pop(0)
            try:
                ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}", "data": user_body(i)} for i in chunk]
                for bulk_id, rid in bulk(c, ops):
                    ids[int(bulk_id[1:])] = rid
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    t_users = time.monotonic() - t0

    c = Client(base, token, cafile)
    group_ops = [
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": f"g{j}",
            "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": f"load-group-{j}",
                "externalId": f"load-gext-{j}",
            },
        }
        for j in range(g + 1)
    ]
    group_ids = [rid for _, rid in bulk(c, group_ops)]

    # Cursor tokens along an unfiltered walk (count=1000; a cursor is tied to filter and sort only).
    cursors = []
    cursor = ""
    while True:
        status, page = c.request("GET", "/Users?count=1000&excludedAttributes=groups&cursor=" + urllib.parse.quote(cursor, safe=""))
        if status != 200:
            sys.exit(f"seed: cursor walk answered {status}: {json.dumps(page)[:300]}")
        cursor = page.get("nextCursor")
        if not cursor:
            break
        cursors.append(cursor)

    with open(f"{outdir}/user_ids", "w") as f:
        f.write("\n".join(ids) + "\n")
    with open(f"{outdir}/group_ids", "w") as f:
        f.write("\n".join(group_ids[:g]) + "\n")
    with open(f"{outdir}/target_group", "w") as f:
        f.write(group_ids[g] + "\n")
    with open(f"{outdir}/cursors", "w") as f:
        # Stored percent-encoded, ready to paste into a query string.
        f.write("".join(urllib.parse.quote(c, safe="") + "\n" for c in cursors))
    total = time.monotonic() - t0
    print(f"seeded {n} users in {t_users:.1f} s ({n / t_users:.0f} users/s, POST /Bulk x{BULK_OPS}), {g}+1 groups; "
          f"{len(cursors)} cursors; total {total:.1f} s")


if __name__ == "__main__":
    main()
