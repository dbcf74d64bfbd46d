"""Soak: N create/start/exec/kill/delete cycles (OCIRUNTIME_SOAK_CYCLES, default 50; the full run is 1000),
printing the host's figures at intervals; what this test owns must stay flat, the host-wide figures
(shared with whatever else runs on the machine) within a generous noise band.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CGROUP_PARENT, BundleFactory, Runtime, cgroup_dirs, new_id, processes_mentioning
from tests.reliability.conftest import env_int, wait_status

pytestmark = [pytest.mark.root, pytest.mark.reliability]

CYCLES = env_int("OCIRUNTIME_SOAK_CYCLES", 50)
TIME_LIMIT = float(os.environ.get("OCIRUNTIME_SOAK_SECONDS", "3600"))


def figures(runtime: Runtime) -> dict[str, int]:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    zombies = our_zombies = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            zombies += 1
            our_zombies += int(fields[1]) == os.getpid()
    return {
        "test_fds": len(os.listdir("/proc/self/fd")),
        "host_files": int(Path("/proc/sys/fs/file-nr").read_text().split()[0]),
        "mounts": len(Path("/proc/self/mountinfo").read_text().splitlines()),
        "cgroup_dirs": sum(sum(1 for _ in os.walk(top)) for top in cgroup_dirs(CGROUP_PARENT)),
        "root_kib": du_kib(runtime.root),
        "zombies": zombies,
        "our_zombies": our_zombies,
        "mem_avail_mib": int(meminfo["MemAvailable"].split()[0]) // 1024,
        "memcgs": memory_cgroups(),
    }


def memory_cgroups() -> int:
    """The memory controller's cgroup count, dying ones included (v1: /proc/cgroups)."""
    for line in Path("/proc/cgroups").read_text().splitlines():
        fields = line.split()
        if fields[0] == "memory":
            return int(fields[2])
    return 0


def du_kib(path: Path) -> int:
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True).stdout.split()[0])


def one_cycle(runtime: Runtime, bundle_path: str) -> None:
    cid = new_id()
    runtime.ok("create", "-b", bundle_path, cid, stdin=subprocess.DEVNULL)
    runtime.ok("start", cid)
    runtime.ok("exec", cid, "true", stdin=subprocess.DEVNULL)
    runtime.ok("kill", cid, "KILL")
    wait_status(runtime, cid, "stopped")
    runtime.ok("delete", cid)


def test_soak(runtime: Runtime, make_bundle: BundleFactory, count: Callable[[str, int], None], no_trace: None) -> None:
    bundle = make_bundle(["sleep", "1000"])
    for _ in range(3):  # warm up: first-use caches (page cache, dentries, the session's cgroup parent)
        one_cycle(runtime, str(bundle.path))
    base = figures(runtime)
    print(f"\nsoak: {CYCLES} cycles; baseline {base}")
    every = max(1, CYCLES // 10)
    started = time.monotonic()
    done = 0
    for done in range(1, CYCLES + 1):
        one_cycle(runtime, str(bundle.path))
        if done % every == 0 or done == CYCLES:
            now = figures(runtime)
            print(f"soak: cycle {done:5d} {time.monotonic() - started:7.1f}s {now}")
        if time.monotonic() - started > TIME_LIMIT:
            break
    count("soak cycles", done)
    end = figures(runtime)
    # Owned by this test: exactly flat.
    assert end["test_fds"] <= base["test_fds"], (base, end)
    assert end["cgroup_dirs"] <= base["cgroup_dirs"], (base, end)
    assert end["root_kib"] <= base["root_kib"] + 8, (base, end)
    assert end["our_zombies"] == 0
    assert processes_mentioning(str(runtime.root)) == []
    # Host-wide, shared with other work on the machine: flat within noise.
    assert end["mounts"] <= base["mounts"] + 20, (base, end)
    assert end["zombies"] <= base["zombies"] + 10, (base, end)
    assert end["host_files"] <= base["host_files"] + 2000, (base, end)
    # Removed memory cgroups linger while page cache is charged to them ("dying" memcgs, counted in
    # /proc/cgroups): a kernel effect that shows as ~1 MiB of MemAvailable per cycle (RELIABILITY.md).
    assert end["mem_avail_mib"] >= base["mem_avail_mib"] - 512 - 2 * done, (base, end)
