"""Small utilities shared by test_exec, test_terminal and test_hooks."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Runtime, cgroup_dirs

HELPERS = Path(__file__).resolve().parent


def devnull() -> Any:
    return open(os.devnull)  # handed to subprocess, closed with the test process


def wait_for(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_status(runtime: Runtime, container_id: str, status: str, timeout: float = 10) -> dict[str, Any]:
    return wait_for(
        lambda: (s := runtime.state(container_id))["status"] == status and s,
        timeout,
        f"{container_id} to be {status}",
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a command that must have failed."""
    assert result.returncode != 0, f"{result.args} succeeded: {result.stdout!r}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {result.stderr!r}"
    return lines[0]


def cgroup_procs(cgroup: str) -> set[int]:
    """Every pid in the container's cgroup, in every hierarchy (they must agree)."""
    found: set[int] = set()
    for directory in cgroup_dirs(cgroup):
        text = (directory / "cgroup.procs").read_text()
        found |= {int(line) for line in text.split()}
    return found


def ns_inode(pid: int | str, name: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{name}").st_ino


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def run_with_fds(runtime: Runtime, args: list[str], fds: dict[int, int], timeout: float = 30) -> tuple[int, str, str]:
    """The runtime with extra fds: `fds` maps a target fd number to an open fd of ours (dup2'd in the child).
    The Runtime helper cannot pass fds, hence this small subprocess call; stdio through files as there."""
    cmd = [runtime.binary, "--root", str(runtime.root), *runtime.extra, *args]

    def place_fds() -> None:
        # Two steps, so that a source fd that is also a target is not clobbered.
        moved = {target: os.dup(source) for target, source in fds.items()}
        for target, copy in moved.items():
            os.dup2(copy, target, inheritable=True)
            os.close(copy)

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            timeout=timeout,
            preexec_fn=place_fds,  # the test process starts no threads here
            close_fds=False,
        )
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
