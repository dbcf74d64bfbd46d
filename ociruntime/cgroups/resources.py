"""Carry out a resources plan on a container's cgroups: the v1 and v2 writers.

`apply` is called by `create` before any process joins, and by `update` on a running container. Every
failure is a CgroupError naming the file and the value; a controller this host does not mount is named
as such.
"""

from __future__ import annotations

import errno
import os

from ociruntime import errors
from ociruntime.cgroups import plan as planner
from ociruntime.cgroups.hierarchy import UNIFIED, controller_dir

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any


def apply(paths: dict[str, str], resources: dict[str, Any] | None, *, with_devices: bool = True) -> None:
    version = planner.version_of(paths)
    writes = planner.plan(resources, version, with_devices=with_devices)
    check_before_update(paths, resources, version)
    execute(paths, writes)
    if with_devices and version == planner.Version.V2:
        _attach_device_program(paths[UNIFIED], (resources or {}).get("devices"))


def check_before_update(paths: dict[str, str], resources: dict[str, Any] | None, version: int) -> None:
    """memory.checkBeforeUpdate: refuse a limit below what the cgroup uses now (instead of reclaim or OOM)."""
    memory = (resources or {}).get("memory") or {}
    limit = int(memory.get("limit") or 0)
    if not memory.get("checkBeforeUpdate") or limit <= 0:
        return
    v2 = version == planner.Version.V2
    directory = paths.get(UNIFIED) if v2 else controller_dir(paths, "memory")
    name = "memory.current" if v2 else "memory.usage_in_bytes"
    if directory is None:
        return
    try:
        with open(os.path.join(directory, name)) as f:
            usage = int(f.read())
    except (OSError, ValueError):
        return
    if limit < usage:
        file = "memory.max" if v2 else "memory.limit_in_bytes"
        reason = f"memory limit {limit} is below the current usage {usage} (checkBeforeUpdate)"
        raise errors.CgroupError(os.path.join(directory, file), reason)


def execute(paths: dict[str, str], writes: list[planner.Write]) -> None:
    """Make the writes in order. A refused write (EINVAL, EBUSY) is retried once after all the others:
    limits that the kernel checks against each other (memory vs memsw, quota vs period, rt runtime vs
    period) then go through whichever order the current values need."""
    refused: list[tuple[str, str, OSError]] = []
    for w in writes:
        path, value = _resolve(paths, w)
        try:
            _write(path, value)
        except OSError as e:
            if w.key == "devices":  # never deferred: a later "a" would undo the rules written meanwhile
                _retry_all_devices_rule(path, value, e)
            elif e.errno not in (errno.EINVAL, errno.EBUSY):
                raise _failure(path, value, e) from None
            else:
                refused.append((path, value, e))
    for path, value, _first in refused:
        try:
            _write(path, value)
        except OSError as e:
            raise _failure(path, value, e) from None


def _resolve(paths: dict[str, str], w: planner.Write) -> tuple[str, str]:
    if w.key == UNIFIED:
        directory = paths.get(UNIFIED)
        if directory is None:
            raise errors.CgroupError(w.file, "this host has no cgroup2 hierarchy")
    else:
        found = controller_dir(paths, w.key)
        if found is None:
            raise errors.CgroupError(
                f"{w.key} controller", f"not mounted on this host; needed to write {w.value!r} to {w.file}"
            )
        directory = found
    for file, value in ((w.file, w.value), *w.fallbacks):
        if os.path.exists(os.path.join(directory, file)):
            return os.path.join(directory, file), value
    return os.path.join(directory, w.file), w.value  # the write reports what is missing


def _retry_all_devices_rule(path: str, value: str, first: OSError) -> None:
    """v1 refuses "a" (every device) in a cgroup with online children, and a child removed a moment ago
    stays online until an RCU grace period has passed (the kernel's css_has_online_children): seen
    when a container joins a cgroup whose previous container's child cgroup was just deleted. So when no
    child directory is left, the same write is retried for up to half a second; any other refusal is
    final."""
    directory = os.path.dirname(path)
    if first.errno != errno.EINVAL or value != "a" or any(e.is_dir() for e in os.scandir(directory)):
        raise _failure(path, value, first) from None
    import time

    deadline = time.monotonic() + 0.5
    delay = 0.001
    while True:
        time.sleep(delay)
        try:
            _write(path, value)
            return
        except OSError as e:
            if e.errno != errno.EINVAL or time.monotonic() > deadline:
                raise _failure(path, value, e) from None
        delay = min(delay * 2, 0.05)


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _failure(path: str, value: str, e: OSError) -> errors.CgroupError:
    reason = f"cannot write {value!r}: {e.strerror}"
    if e.errno == errno.ENOENT:
        controller = os.path.basename(path).split(".")[0]
        reason += f" (the kernel or the parent cgroup does not provide the {controller} controller's file)"
    return errors.CgroupError(path, reason)


def _attach_device_program(directory: str, items: list[dict[str, Any]] | None) -> None:
    from ociruntime.cgroups import devices
    from ociruntime.linux import bpf

    default_allow, exceptions = devices.emulate(devices.effective_rules(items))
    code = devices.encode(devices.program(default_allow, exceptions))
    try:
        fd = bpf.load_device_program(code)
    except OSError as e:
        raise errors.CgroupError(directory, f"cannot load the device eBPF program: {e.strerror}") from None
    try:
        bpf.attach_device_program(directory, fd)
    except OSError as e:
        raise errors.CgroupError(directory, f"cannot attach the device eBPF program: {e.strerror}") from None
    finally:
        os.close(fd)
