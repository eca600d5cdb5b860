#!/usr/bin/env python3
"""Judges one run of the MCP conformance suite from the checks.json files it wrote (`-o DIR`).

    conformance_report.py --version V --results DIR --expected-scenarios N \
        [--required-scenarios A,B,...] --expected-warnings FILE

Prints every FAILURE and WARNING check as `STATUS scenario: check-id — message`, then the
totals. Exits 1 when
  - any check is a FAILURE,
  - a transport scenario has a WARNING (a SHOULD-level miss) that FILE does not explain,
  - the number of scenarios run differs from N (the suite ran fewer than we think),
  - a scenario named in --required-scenarios has no results (the suite's own exit status does
    not count scenarios it runs as "not scored", such as the tasks extension's and the pending
    ones of `--requirements 2026-07-28`: this script judges their checks like any other, and
    this list makes sure they ran at all).

FILE holds lines `scenario: check-id — reason` (or `scenario@V: check-id — reason` to accept a
warning only from suite version V); `#` starts a comment.
"""

import argparse
import json
import re
import sys
from pathlib import Path

# Scenarios that exercise the HTTP transport itself rather than the handler. Their warnings fail
# the run unless explained. Names the suite does not have are harmless.
TRANSPORT_SCENARIOS = {
    "server-initialize",  # session id format
    "server-session-lifecycle",
    "server-sse-multiple-streams",
    "server-sse-polling",
    "dns-rebinding-protection",
    "json-rpc-batch-rejection",
    "protocol-version-header",
    "http-header-validation",
}

# `server-<scenario>-<ISO timestamp>`, the directory name the suite gives each scenario.
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")
EXPECTATION = re.compile(r"^(?P<scenario>[\w.-]+)(?:@(?P<version>\S+))?:\s*(?P<check>\S+)\s+—\s+\S")


def load_expectations(path: Path, version: str) -> set[tuple[str, str]]:
    accepted = set()
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = EXPECTATION.match(line)
        if not m:
            sys.exit(f"{path}:{number}: expected `scenario[@version]: check-id — reason`: {raw!r}")
        if m["version"] in (None, version):
            accepted.add((m["scenario"], m["check"]))
    return accepted


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--expected-scenarios", type=int, required=True)
    ap.add_argument(
        "--required-scenarios",
        default="",
        help="comma-separated scenario names that must have results",
    )
    ap.add_argument("--expected-warnings", type=Path, required=True)
    args = ap.parse_args()

    accepted = load_expectations(args.expected_warnings, args.version)
    passed = failed = warnings = 0
    problems = []
    scenarios = set()
    for checks_file in sorted(args.results.glob("*/checks.json")):
        m = RESULT_DIR.match(checks_file.parent.name)
        scenario = m["scenario"] if m else checks_file.parent.name
        scenarios.add(scenario)
        for check in json.loads(checks_file.read_text()):
            status, check_id = check.get("status"), check.get("id", "?")
            message = check.get("errorMessage") or check.get("description", "")
            message = message.replace("\n", " | ")
            if status == "SUCCESS":
                passed += 1
            elif status == "FAILURE":
                failed += 1
                problems.append(f"FAILURE {scenario}: {check_id} — {message}")
            elif status == "WARNING":
                warnings += 1
                if scenario not in TRANSPORT_SCENARIOS:
                    verdict = "not a transport scenario, reported only"
                elif (scenario, check_id) in accepted:
                    verdict = "accepted in the expectations file"
                else:
                    verdict = "UNEXPECTED transport warning"
                    problems.append(f"WARNING {scenario}: {check_id} — {message}")
                print(f"WARNING {scenario}: {check_id} — {message} [{verdict}]")
    for line in problems:
        if line.startswith("FAILURE"):
            print(line)

    print(
        f"conformance {args.version}: {len(scenarios)} scenarios, {passed} passed, "
        f"{failed} failed, {warnings} warnings"
    )
    ok = True
    if failed:
        ok = False
    if any(p.startswith("WARNING") for p in problems):
        print(
            f"unexplained transport warnings: fix the server, or explain each in "
            f"{args.expected_warnings}"
        )
        ok = False
    if len(scenarios) != args.expected_scenarios:
        print(f"expected {args.expected_scenarios} scenarios, found results for {len(scenarios)}")
        ok = False
    required = {name.strip() for name in args.required_scenarios.split(",") if name.strip()}
    missing = sorted(required - scenarios)
    if missing:
        print(f"required scenarios without results: {', '.join(missing)}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
