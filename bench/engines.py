#!/usr/bin/env python3
"""Time `run --rm busybox echo` under real engines with ociruntime and with runc, side by side.

For each engine (containerd via ctr, podman via conmon, docker via dockerd and containerd), the same command
is run alternately with ociruntime and with runc (A B A B ...), so drifts of the machine hit both alike,
and minimum, median and maximum are printed. Nothing is asserted. Needs root; the engines are installed
from Debian if missing and run exactly as tests/engines runs them (own sockets, roots and cgroup parent in
a temporary directory, no network), and everything is removed at the end.

Usage: python3 bench/engines.py [--runs N] [--engine containerd|podman|docker ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import remove_cgroup_tree  # noqa: E402 - needs the repository on sys.path first
from tests.engines import harness  # noqa: E402

RUNTIMES = ("ociruntime", "runc")


def time_one(engine: harness.Engine, runtime: str) -> float:
    began = time.monotonic()
    result = engine.run_fg(runtime, ["echo", "hello"])
    elapsed = time.monotonic() - began
    if result.returncode != 0 or "hello" not in result.stdout:
        raise RuntimeError(f"{engine.name} with {runtime}: rc={result.returncode} {result.stderr.strip()}")
    return elapsed


def bench_engine(engine: harness.Engine, runs: int, warmup: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    for n in range(warmup + runs):
        for runtime in RUNTIMES:
            elapsed = time_one(engine, runtime)
            if n >= warmup:
                samples[runtime].append(elapsed)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per runtime (default 20)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first (default 1)")
    parser.add_argument("--engine", action="append", choices=list(harness.ENGINES),
                        help="engine to measure (repeatable; default all)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/engines.py: run as root", file=sys.stderr)
        return 1
    harness.install_packages()
    work = Path(tempfile.mkdtemp(prefix="ocieb-", dir="/tmp"))
    cgroup_parent = f"/ociruntime-engines-bench-{os.getpid()}"
    rows = []
    status = 0
    try:
        subprocess.run([str(harness.MAKE_ROOTFS), str(work / "rootfs")], check=True)
        archive = harness.build_image_archive(work / "rootfs", work / "busybox.tar")
        for name in args.engine or list(harness.ENGINES):
            engine = harness.ENGINES[name](name, work / name, f"{cgroup_parent}/{name}", harness.ociruntime_binary())
            try:
                engine.start_engine(archive)
                samples = bench_engine(engine, args.runs, args.warmup)
                rows.append((name, samples))
            except (RuntimeError, subprocess.SubprocessError, AssertionError) as e:
                print(f"{name}: {e}", file=sys.stderr)
                status = 1
            finally:
                engine.stop_engine()
    finally:
        remove_cgroup_tree(cgroup_parent)
        for mount in harness.mounts_below(work):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, args.runs)
    return status


def print_table(rows: list[tuple[str, dict[str, list[float]]]], runs: int) -> None:
    print(f"\n`run --rm busybox echo hello`, {runs} runs each (ms), ociruntime and runc alternately\n")
    print("| engine | runtime | min | median | max | median / runc |")
    print("|---|---|---:|---:|---:|---:|")
    for name, samples in rows:
        reference = statistics.median(samples["runc"])
        for runtime in RUNTIMES:
            values = samples[runtime]
            median = statistics.median(values)
            ratio = f"{median / reference:.2f}" if runtime != "runc" else "-"
            figures = " | ".join(f"{v * 1000:.0f}" for v in (min(values), median, max(values)))
            print(f"| {name if runtime == RUNTIMES[0] else ''} | {runtime} | {figures} | {ratio} |")


if __name__ == "__main__":
    sys.exit(main())
