"""Freezing and thawing a container's cgroup: v1 freezer.state, v2 cgroup.freeze.

Freezing is asynchronous in both versions: the write only asks. v1 shows FREEZING until every task has
stopped (and may stay there if a task is stuck; runc writes FROZEN again until it sticks), v2 reports
`frozen 1` in cgroup.events. Both are waited for, so `pause` returning means nothing runs any more.
"""

from __future__ import annotations

import os
import time

from ociruntime import errors
from ociruntime.cgroups.hierarchy import UNIFIED, controller_dir

_TIMEOUT = 10.0


def _target(paths: dict[str, str]) -> tuple[str, bool] | None:
    """(directory, is_v1) of the freezer to use: v1's freezer controller, else cgroup2's core freezer."""
    v1 = controller_dir(paths, "freezer")
    if v1 is not None:
        return v1, True
    v2 = paths.get(UNIFIED)
    if v2 is not None and os.path.exists(os.path.join(v2, "cgroup.freeze")):
        return v2, False
    return None


def is_frozen(paths: dict[str, str]) -> bool:
    target = _target(paths)
    if target is None:
        return False
    directory, v1 = target
    if v1:
        return _read(os.path.join(directory, "freezer.state")) in ("FROZEN", "FREEZING")
    return _read(os.path.join(directory, "cgroup.freeze")) == "1"


def can_freeze(paths: dict[str, str]) -> bool:
    return _target(paths) is not None


def freeze(paths: dict[str, str]) -> None:
    _set(paths, frozen=True)


def thaw(paths: dict[str, str]) -> None:
    _set(paths, frozen=False)


def _set(paths: dict[str, str], *, frozen: bool) -> None:
    target = _target(paths)
    if target is None:
        raise errors.CgroupError("freezer", "no freezer on this host (neither the v1 controller nor cgroup.freeze)")
    directory, v1 = target
    if v1:
        path, value, done = os.path.join(directory, "freezer.state"), "FROZEN" if frozen else "THAWED", None
    else:
        path, value, done = os.path.join(directory, "cgroup.freeze"), "1" if frozen else "0", None
    deadline = time.monotonic() + _TIMEOUT
    delay = 0.001
    while True:
        _write(path, value)
        done = _read(path) == value if v1 else _events_frozen(directory) == frozen
        if done:
            return
        if time.monotonic() > deadline:
            if frozen:
                _write(path, "THAWED" if v1 else "0")  # do not leave it half frozen
            raise errors.CgroupError(path, f"{value} did not take effect within {_TIMEOUT:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _events_frozen(directory: str) -> bool:
    for line in _read(os.path.join(directory, "cgroup.events")).splitlines():
        name, _, value = line.partition(" ")
        if name == "frozen":
            return value.strip() == "1"
    return False


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise errors.CgroupError(path, f"cannot write {value!r}: {e.strerror}") from None


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
