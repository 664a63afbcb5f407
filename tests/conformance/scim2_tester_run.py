#!/usr/bin/env python3
"""Run the scim2-tester conformance suite against a running scimd.

Usage:
    python scim2_tester_run.py --url https://127.0.0.1:8443/scim/v2 \
        --token TOKEN (--cacert PATH | --insecure) [--verbose]

Prints one line per check result (status, title, resource type, reason), then a
summary of the counts by status. Exits 1 when any check has a failing status
(scim2-tester's ERROR and CRITICAL, i.e. MUST-level violations and protocol or
security faults), 2 on a usage or connection problem, 0 otherwise. DEVIATION
(a SHOULD not followed) and SKIPPED results are listed but do not fail the run.
"""

from __future__ import annotations

import argparse
import collections
import json
import ssl
import sys
import traceback

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}
NOT_RUN = {Status.SKIPPED}


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) if text is not None else ""


def _describe_exception(exc: BaseException) -> str:
    """An exception with the notes scim2-client attaches (validation details) and its response."""
    parts = [f"{type(exc).__name__}: {exc}"]
    parts += [_one_line(note) for note in getattr(exc, "__notes__", [])]
    if exc.__cause__ is not None:
        parts.append(f"caused by {type(exc.__cause__).__name__}: {_one_line(exc.__cause__)}")
    source = getattr(exc, "source", None)
    if source is not None and hasattr(source, "status_code"):
        parts.append(_describe_data(source))
    return " | ".join(parts)[:3000]


def _describe_data(data: object) -> str:
    """A short, printable form of the debugging data a failing check carries."""
    if data is None:
        return ""
    if isinstance(data, BaseException):
        return _describe_exception(data)
    request = getattr(data, "request", None)
    if hasattr(data, "status_code") and request is not None:
        body = data.text[:600] if hasattr(data, "text") else ""
        return f"{request.method} {request.url} -> {data.status_code} {body}"
    if isinstance(data, dict):
        data = {k: _describe_exception(v) if isinstance(v, BaseException) else v for k, v in data.items()}
        try:
            return json.dumps(data, default=repr)[:1500]
        except (TypeError, ValueError):
            pass
    return repr(data)[:1500]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. https://127.0.0.1:8443/scim/v2")
    parser.add_argument("--token", required=True, help="bearer token")
    trust = parser.add_mutually_exclusive_group(required=True)
    trust.add_argument("--cacert", metavar="PATH", help="PEM certificate to trust for the server")
    trust.add_argument("--insecure", action="store_true", help="do not verify the server certificate")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--verbose", "-v", action="store_true", help="also print the debugging data of failing checks")
    args = parser.parse_args(argv)

    verify: ssl.SSLContext | bool
    if args.insecure:
        verify = False
    else:
        verify = ssl.create_default_context(cafile=args.cacert)

    http = httpx2.Client(
        base_url=args.url,
        headers={"Authorization": f"Bearer {args.token}"},
        verify=verify,
        timeout=args.timeout,
    )
    # The client starts with no description of the server: check_server reads
    # /ServiceProviderConfig, /ResourceTypes and /Schemas and builds the models.
    client = SyncSCIMClient(http)

    try:
        results = check_server(client)
    except Exception:  # a crash of the tester itself, or a network failure
        traceback.print_exc()
        print("conformance: scim2-tester crashed before finishing", file=sys.stderr)
        return 2
    finally:
        http.close()

    counts: collections.Counter[str] = collections.Counter()
    failed = []
    for result in results:
        counts[result.status.name] += 1
        resource = f" [{result.resource_type}]" if result.resource_type else ""
        print(f"{result.status.name:<10} {result.title}{resource}: {_one_line(result.reason)}")
        if result.status in FAILING:
            failed.append(result)
            if args.verbose and result.data is not None:
                print(f"           data: {_describe_data(result.data)}")

    print()
    print("== scim2-tester summary ==")
    for status in Status:
        print(f"  {status.name:<10} {counts.get(status.name, 0)}")
    print(f"  {'total':<10} {len(results)}")

    skipped = [r for r in results if r.status in NOT_RUN]
    if skipped:
        print()
        print("Not run (not failures):")
        for r in skipped:
            resource = f" [{r.resource_type}]" if r.resource_type else ""
            print(f"  SKIPPED {r.title}{resource}: {_one_line(r.reason)}")

    deviations = [r for r in results if r.status == Status.DEVIATION]
    if deviations:
        print()
        print("Deviations from SHOULD-level recommendations (not failures):")
        for r in deviations:
            print(f"  DEVIATION {r.title}: {_one_line(r.reason)}")

    if failed:
        print()
        print(f"FAILED checks ({len(failed)}):")
        for r in failed:
            resource = f" [{r.resource_type}]" if r.resource_type else ""
            print(f"  {r.status.name} {r.title}{resource}: {_one_line(r.reason)}")

    passed = len(results) - len(failed) - len(skipped)
    print()
    print(f"conformance: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
