#!/usr/bin/env python3
"""Run the suite for several runtimes and print a markdown table of the requirements whose verdicts differ.

    conformance/table.py --runtime ociruntime=.venv/bin/ociruntime --runtime runc=/usr/sbin/runc \
                         --runtime crun=/usr/bin/crun [--only ID ...]

A runtime is first tried on one trivial container; one that cannot run it (missing binary, refuses the
host) is reported as not runnable, with the reason, and left out of the table.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.harness import Ctx, Fail, Suite  # noqa: E402

RUN = Path(__file__).resolve().parent / "run.py"
LINE = re.compile(r"^(ok|not ok) \d+ - (\S+)(?: # (SKIP|TODO)?(.*))?$")
SYMBOL = {"pass": "pass", "fail": "FAIL", "skip": "skip"}


def runnable(path: str) -> str | None:
    """None if the runtime runs a trivial container here, else the reason it does not."""
    if shutil.which(path) is None and not Path(path).exists():
        return f"{path} is not installed"
    suite = Suite(path)
    try:
        suite.prepare()
        ctx = Ctx(suite, "preflight")
        try:
            ctx.container().run_probe()
        finally:
            ctx.close()
    except Fail as exc:
        return str(exc)[:200]
    finally:
        suite.close()
    return None


def verdicts(path: str, only: list[str], tap: Path | None) -> tuple[dict[str, str], str]:
    cmd = [sys.executable, str(RUN), "--runtime", path] + (["--only", *only] if only else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    if tap is not None:
        tap.parent.mkdir(parents=True, exist_ok=True)
        tap.write_text(out)
    result = {}
    for line in out.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        status, name, directive, _ = match.groups()
        if status == "ok":
            result[name] = "skip" if directive == "SKIP" else "pass"
        else:
            result[name] = "fail"
    return result, out.strip().splitlines()[-1] if out.strip() else "(no output)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--runtime", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--only", nargs="+", default=[], metavar="ID")
    parser.add_argument("--tap-dir", type=Path, help="also write each runtime's TAP to DIR/NAME.tap")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, str]] = {}
    totals: dict[str, str] = {}
    for spec in args.runtime:
        name, _, path = spec.partition("=")
        reason = runnable(path)
        if reason is not None:
            print(f"- **{name}** (`{path}`): not runnable here: {reason}")
            continue
        tap = args.tap_dir / f"{name}.tap" if args.tap_dir else None
        results[name], totals[name] = verdicts(path, args.only, tap)
    if not results:
        return 1
    names = list(results)
    ids = sorted({i for r in results.values() for i in r})
    differing = [i for i in ids if len({results[n].get(i, "-") for n in names}) > 1]
    print()
    print("| requirement | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for rid in differing:
        print(f"| `{rid}` | " + " | ".join(SYMBOL.get(results[n].get(rid, "-"), "-") for n in names) + " |")
    print()
    print("| totals | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for level in ("MUST", "SHOULD"):
        row = []
        for n in names:
            counts = {s: 0 for s in ("pass", "fail", "skip")}
            for rid, verdict in results[n].items():
                if rid in LEVELS and LEVELS[rid] == level:
                    counts[verdict] += 1
            row.append(f"{counts['pass']} pass / {counts['fail']} fail / {counts['skip']} skip")
        print(f"| {level} | " + " | ".join(row) + " |")
    print()
    for n in names:
        print(f"- {n}: `{totals[n]}`")
    return 0


def load_levels() -> dict[str, str]:
    import json

    catalogue = json.loads((Path(__file__).resolve().parent / "requirements.json").read_text())
    return {r["id"]: r["level"] for r in catalogue["requirements"]}


LEVELS = load_levels()

if __name__ == "__main__":
    sys.exit(main())
