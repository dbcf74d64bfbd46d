"""Creating, joining and removing a container's cgroups with the cgroupfs driver (v1 and v2).

The manager only ever removes directories it created itself (recorded in the state), deepest first, so a
pre-existing parent or a cgroup the container was told to join is never touched.
"""

from __future__ import annotations

import errno
import os
import time

from ociruntime import errors
from ociruntime.cgroups import hierarchy
from ociruntime.signals import SIGKILL

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
    v2 = set(paths) == {hierarchy.UNIFIED}
    try:
        for key, path in paths.items():
            made = _make_dirs(path, cpuset="cpuset" in key.split(","))
            created.extend(made)
            if v2:
                _delegate_controllers([d for d in made if d != path])
    except OSError as e:
        remove(created)
        raise errors.CgroupError(e.filename or "?", f"cannot create: {e.strerror}") from None
    return created


def missing_dirs(paths: dict[str, str]) -> list[str]:
    """The directories `create(paths)` would make (parents first), without making any."""
    missing: list[str] = []
    for path in paths.values():
        chain: list[str] = []
        probe = path
        while not os.path.isdir(probe):
            chain.append(probe)
            probe = os.path.dirname(probe)
        missing.extend(reversed(chain))
    return missing


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


def _delegate_controllers(directories: list[str]) -> None:
    """cgroup v2: a child only gets the controllers its parent lists in cgroup.subtree_control.

    Only directories this create made are written (parents first): a pre-existing parent is not ours to
    change, and if it lacks a controller, applying a resource names the missing file instead.
    """
    for directory in directories:
        with open(os.path.join(directory, "cgroup.controllers")) as f:
            available = f.read().split()
        if available:
            with open(os.path.join(directory, "cgroup.subtree_control"), "w") as f:
                f.write(" ".join("+" + c for c in available))


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
    """Processes in the container's cgroup and the cgroups it made below it (first hierarchy that can tell)."""
    for key in ("pids", "freezer", "memory", hierarchy.UNIFIED, *paths):
        path = paths.get(key)
        if path is None or not os.path.isdir(path):
            continue
        found: list[int] = []
        for directory, _dirs, _files in os.walk(path):
            try:
                with open(os.path.join(directory, "cgroup.procs")) as f:
                    found.extend(int(x) for x in f.read().split())
            except OSError:
                continue
        return sorted(set(found))
    return []


def signal_all(paths: dict[str, str], sig: int) -> None:
    """Signal every process, frozen meanwhile (as runc does) so that none forks a child we would miss.

    A cgroup that was frozen already (paused) stays frozen; v1 delivers the signal when it is thawed.
    """
    from ociruntime.cgroups import freezer

    froze = False
    if freezer.can_freeze(paths) and not freezer.is_frozen(paths):
        try:
            freezer.freeze(paths)
            froze = True
        except errors.CgroupError:
            pass  # a task stuck in the kernel: signal what we can anyway
    try:
        _signal_pids(pids(paths), sig)
    finally:
        if froze:
            freezer.thaw(paths)


def _signal_pids(targets: list[int], sig: int) -> None:
    for pid in targets:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def remove(created: list[str], *, timeout: float = 5.0) -> None:
    """rmdir what we created, deepest first; waits a little for exiting tasks to leave a cgroup."""
    deadline = time.monotonic() + timeout
    # The container's own (deepest) directories may hold cgroups it made itself: those go too. A parent we
    # made may hold other containers' cgroups, so nothing below it is touched that we did not record.
    leaves = [d for d in created if not any(o.startswith(d + "/") for o in created)]
    nested = [sub for leaf in leaves if os.path.isdir(leaf) for sub, _d, _f in os.walk(leaf) if sub != leaf]
    for directory in sorted([*nested, *created], key=lambda p: p.count("/"), reverse=True):
        while True:
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise errors.CgroupError(directory, f"cannot remove: {e.strerror}") from None
                if _has_children(directory):
                    break  # a sibling's cgroup lives below a parent we made: leave the parent
                if time.monotonic() >= deadline:
                    raise errors.CgroupError(directory, f"cannot remove: {e.strerror}") from None
                # Still populated. cgroup.procs may already be empty: the kernel hides a task that is
                # exiting but keeps the cgroup busy until the exit completes, so wait for that too.
                _signal_pids(pids({"": directory}), SIGKILL)
                time.sleep(0.01)


def _has_children(directory: str) -> bool:
    try:
        return any(entry.is_dir(follow_symlinks=False) for entry in os.scandir(directory))
    except OSError:
        return False
