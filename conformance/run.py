#!/usr/bin/env python3
"""Run the runtime-spec conformance suite against a runc-compatible runtime and print TAP.

    conformance/run.py [--runtime PATH] [--only ID ...] [--list]

One TAP line per catalogued requirement (conformance/requirements.json): MUST-level ones first, then the
SHOULD-level ones, whose failures are marked `# TODO` (advisory) and counted on their own line. A
requirement fails if any of its checks fails, is skipped if it is untestable or all its checks skip.
The last line is `N passed, N failed, N skipped` for the MUST-level requirements; the exit status is 0
iff none of them failed. --only takes requirement ids, check ids, or prefixes ending in '.'.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance import checks as _checks  # noqa: E402,F401 - registers the checks
from conformance.harness import CHECKS, Ctx, Fail, Skip, Suite, default_runtime  # noqa: E402

CATALOGUE = Path(__file__).resolve().parent / "requirements.json"


@dataclass
class Verdict:
    status: str  # pass | fail | skip
    reason: str = ""


def load_catalogue() -> list[dict[str, Any]]:
    return list(json.loads(CATALOGUE.read_text())["requirements"])


def selected(requirement: dict[str, Any], only: list[str]) -> bool:
    if not only:
        return True
    names = [requirement["id"], *requirement.get("checks", [])]
    return any(n == o or (o.endswith(".") and n.startswith(o)) for o in only for n in names)


def run_check(suite: Suite, check_id: str) -> Verdict:
    ctx = Ctx(suite, check_id.replace("/", "_"))
    try:
        CHECKS[check_id].func(ctx)
        return Verdict("pass")
    except Fail as exc:
        return Verdict("fail", str(exc))
    except Skip as exc:
        return Verdict("skip", str(exc))
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failure with its reason, not a crash
        return Verdict("fail", f"check error: {type(exc).__name__}: {exc}")
    finally:
        ctx.close()


def combine(requirement: dict[str, Any], results: dict[str, Verdict]) -> Verdict:
    if "untestable" in requirement:
        return Verdict("skip", f"untestable: {requirement['untestable']}")
    verdicts = [(c, results[c]) for c in requirement["checks"]]
    failed = [f"{c}: {v.reason}" for c, v in verdicts if v.status == "fail"]
    if failed:
        return Verdict("fail", "; ".join(failed))
    if all(v.status == "skip" for _, v in verdicts):
        return Verdict("skip", "; ".join(f"{c}: {v.reason}" for c, v in verdicts))
    return Verdict("pass")


def one_line(text: str) -> str:
    return " ".join(text.split())[:400]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runtime", default=default_runtime(), help="runtime binary (default: %(default)s)")
    parser.add_argument("--only", nargs="+", default=[], metavar="ID", help="requirement or check ids")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for check_id in sorted(CHECKS):
            print(f"{check_id}: {CHECKS[check_id].doc}")
        return 0
    if os.geteuid() != 0:
        print("conformance/run.py: run as root: the checks start real containers", file=sys.stderr)
        return 2
    requirements = [r for r in load_catalogue() if selected(r, args.only)]
    wanted = sorted({c for r in requirements for c in r.get("checks", [])})
    unknown = [c for c in wanted if c not in CHECKS]
    if unknown:
        print(f"conformance/run.py: the catalogue names unknown checks: {unknown}", file=sys.stderr)
        return 2
    runtime = str(Path(args.runtime).resolve()) if os.sep in args.runtime else args.runtime
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: containers, cgroups, mounts cleaned up
    suite = Suite(runtime)
    results: dict[str, Verdict] = {}
    started = time.monotonic()
    try:
        suite.prepare()
        for check_id in wanted:
            results[check_id] = run_check(suite, check_id)
    finally:
        suite.close()
    print(f"# runtime {runtime}: {len(wanted)} checks in {time.monotonic() - started:.0f}s")
    musts = [r for r in requirements if r["level"] == "MUST"]
    shoulds = [r for r in requirements if r["level"] == "SHOULD"]
    print(f"1..{len(musts) + len(shoulds)}")
    counts = {"MUST": {"pass": 0, "fail": 0, "skip": 0}, "SHOULD": {"pass": 0, "fail": 0, "skip": 0}}
    for number, requirement in enumerate(musts + shoulds, start=1):
        if number == len(musts) + 1:
            print("# SHOULD-level requirements (advisory: failures are TODO and do not fail the run)")
        verdict = combine(requirement, results)
        level = requirement["level"]
        counts[level][verdict.status] += 1
        name = requirement["id"]
        if verdict.status == "pass":
            print(f"ok {number} - {name}")
        elif verdict.status == "skip":
            print(f"ok {number} - {name} # SKIP {one_line(verdict.reason)}")
        elif level == "SHOULD":
            print(f"not ok {number} - {name} # TODO SHOULD: {one_line(verdict.reason)}")
        else:
            print(f"not ok {number} - {name} # {one_line(verdict.reason)}")
    s = counts["SHOULD"]
    print(f"# SHOULD: {s['pass']} passed, {s['fail']} failed, {s['skip']} skipped")
    m = counts["MUST"]
    print(f"{m['pass']} passed, {m['fail']} failed, {m['skip']} skipped")
    return 1 if m["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
