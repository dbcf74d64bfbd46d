"""Creating, joining and removing a container's cgroups with the cgroupfs driver (v1 and v2).

The manager only ever removes directories it created itself (recorded in the state), deepest first, so a
pre-existing parent or a cgroup the container was told to join is never touched.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from ociruntime import errors
from ociruntime.cgroups import hierarchy

# Empty v1 cpuset cgroups refuse tasks (ENOSPC) until these are filled in; copy them from the parent.
_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")


def plan_paths(cgroups_path: str | None, container_id: str) -> dict[str, str]:
    """Where the container's cgroup goes in every hierarchy (runc's default path is the id itself)."""
    layout = hierarchy.read_layout()
    own = hierarchy.read_own_cgroups()
    return hierarchy.container_paths(layout, cgroups_path or container_id, own)


def create(paths: dict[str, str]) -> list[str]:
    """mkdir -p every path; returns the directories that did not exist before (parents first).

    On failure, what was made so far is removed again before the error is raised.
    """
    created: list[str] = []
    try:
        for key, path in paths.items():
            created.extend(_make_dirs(path, cpuset="cpuset" in key.split(",")))
    except OSError as e:
        remove(created)
        raise errors.CgroupError(e.filename or "?", f"cannot create: {e.strerror}") from None
    return created


def _make_dirs(path: str, *, cpuset: bool) -> list[str]:
    missing: list[str] = []
    probe = path
    while not os.path.isdir(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    made: list[str] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o755)
        except FileExistsError:
            continue
        made.append(directory)
        if cpuset:
            _inherit_cpuset(directory)
    return made


def _inherit_cpuset(directory: str) -> None:
    parent = os.path.dirname(directory)
    for name in _CPUSET_FILES:
        with open(os.path.join(directory, name), "w") as dst, open(os.path.join(parent, name)) as src:
            dst.write(src.read().strip() or "\n")


def join(paths: dict[str, str], pid: int) -> None:
    for path in paths.values():
        target = os.path.join(path, "cgroup.procs")
        try:
            with open(target, "w") as f:
                f.write(str(pid))
        except OSError as e:
            raise errors.CgroupError(path, f"cannot add pid {pid}: {e.strerror}") from None


def pids(paths: dict[str, str]) -> list[int]:
    """Processes in the container's cgroup (from the first hierarchy that can tell)."""
    for key in ("pids", "freezer", "memory", hierarchy.UNIFIED, *paths):
        path = paths.get(key)
        if path is None:
            continue
        try:
            with open(os.path.join(path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            continue
    return []


def signal_all(paths: dict[str, str], sig: int) -> None:
    for pid in pids(paths):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def remove(created: list[str], *, timeout: float = 5.0) -> None:
    """rmdir what we created, deepest first; waits a little for exiting tasks to leave a cgroup."""
    deadline = time.monotonic() + timeout
    for directory in sorted(created, key=lambda p: p.count("/"), reverse=True):
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno in (errno.EBUSY, errno.ENOTEMPTY) and _has_tasks(directory) and time.monotonic() < deadline:
                    signal_all({"": directory}, signal.SIGKILL)
                    time.sleep(0.01)
                    continue
                if e.errno in (errno.EBUSY, errno.ENOTEMPTY) and not _has_tasks(directory):
                    break  # a sibling's cgroup lives below a parent we made: leave the parent
                raise errors.CgroupError(directory, f"cannot remove: {e.strerror}") from None


def _has_tasks(directory: str) -> bool:
    try:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            return bool(f.read().strip())
    except OSError:
        return False
