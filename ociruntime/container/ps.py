"""`ps`: the container's processes, as a JSON array of host pids or as `ps(1)` lines (like runc)."""

from __future__ import annotations

import json
import subprocess

from ociruntime import errors
from ociruntime.cgroups import manager
from ociruntime.state.store import Store


def ps(store: Store, container_id: str, *, fmt: str, ps_args: list[str]) -> str:
    record = store.load(container_id)
    pids = manager.pids(record.cgroup_paths)
    if fmt == "json":
        # runc encodes a nil Go slice for an empty cgroup: `null`.
        return json.dumps(pids or None, separators=(",", ":")) + "\n"
    return filter_table(_run_ps(ps_args or ["-ef"]), set(pids))


def _run_ps(args: list[str]) -> str:
    try:
        result = subprocess.run(["ps", *args], capture_output=True, text=True, check=False)
    except OSError as e:
        raise errors.RuntimeFailure(f"cannot run ps: {e.strerror}") from None
    if result.returncode != 0:
        raise errors.RuntimeFailure(f"ps {' '.join(args)} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def filter_table(output: str, pids: set[int]) -> str:
    """The header, then every line whose PID column is one of `pids` (runc's getPidIndex logic)."""
    lines = output.split("\n")
    header = lines[0]
    try:
        index = header.split().index("PID")
    except ValueError:
        raise errors.RuntimeFailure("couldn't find PID field in ps output") from None
    kept = [header]
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= index:
            continue
        try:
            pid = int(fields[index])
        except ValueError:
            continue
        if pid in pids:
            kept.append(line)
    return "".join(line + "\n" for line in kept)
