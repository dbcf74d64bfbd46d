"""`update`: change a running container's resources and remember them in the state file.

Flags build a partial linux.resources document (runc's `update` flags); `--resources FILE|-` gives one
directly and then the flags are ignored, as in runc. Only the given values are written. Device rules are
never changed here (runc's update does not take them either). The stored config is updated afterwards, so
`update` twice builds on the first.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ociruntime import errors
from ociruntime.cgroups import resources as cgroup_resources
from ociruntime.cgroups.plan import Version, version_of
from ociruntime.state.status import Status
from ociruntime.state.store import Store

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", re.IGNORECASE)


def parse_bytes(text: str) -> int:
    """docker/go-units RAMInBytes as runc uses it: "512m", "1g", "1024" (binary units); -1 is unlimited."""
    if text.strip() == "-1":
        return -1
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise errors.UsageError(f"invalid size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " kmgtp".index(unit.lower() or " "))


@dataclass(frozen=True)
class UpdateFlags:
    memory: str | None = None
    memory_reservation: str | None = None
    memory_swap: str | None = None
    kernel_memory_tcp: str | None = None
    cpu_shares: int | None = None
    cpu_quota: int | None = None
    cpu_period: int | None = None
    cpu_rt_runtime: int | None = None
    cpu_rt_period: int | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    pids_limit: int | None = None
    blkio_weight: int | None = None


def resources_from_flags(flags: UpdateFlags) -> dict[str, Any]:
    memory = _present(
        limit=_bytes(flags.memory),
        reservation=_bytes(flags.memory_reservation),
        swap=_bytes(flags.memory_swap),
        kernelTCP=_bytes(flags.kernel_memory_tcp),
    )
    cpu = _present(
        shares=flags.cpu_shares,
        quota=flags.cpu_quota,
        period=flags.cpu_period,
        realtimeRuntime=flags.cpu_rt_runtime,
        realtimePeriod=flags.cpu_rt_period,
        cpus=flags.cpuset_cpus,
        mems=flags.cpuset_mems,
    )
    doc: dict[str, Any] = {}
    if memory:
        doc["memory"] = memory
    if cpu:
        doc["cpu"] = cpu
    if flags.pids_limit is not None:
        doc["pids"] = {"limit": flags.pids_limit}
    if flags.blkio_weight is not None:
        doc["blockIO"] = {"weight": flags.blkio_weight}
    return doc


def read_resources(text: str, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise errors.ConfigInvalid("", f"{source}: not JSON: {e}", source=source) from None
    if not isinstance(doc, dict):
        raise errors.ConfigInvalid("", f"{source}: not a JSON object of linux.resources", source=source)
    if "devices" in doc:
        raise errors.NotSupported("update devices", "device rules cannot be changed on a running container")
    return doc


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """`change` laid over `base`: objects merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def update(store: Store, container_id: str, change: dict[str, Any]) -> None:
    from ociruntime.spec import schema

    schema.validate_resources(change)  # the same rules as linux.resources in config.json
    with store.locked(container_id):
        observed = store.observe(container_id)
        if observed.status in (Status.STOPPED, Status.CREATING):
            raise errors.ContainerNotRunning(container_id)
        record = observed.record
        linux = record.config.setdefault("linux", {})
        merged = merge(linux.get("resources") or {}, change)
        to_write = copy.deepcopy(change)
        memory = to_write.get("memory")
        if memory and memory.get("swap") and "limit" not in memory and version_of(record.cgroup_paths) == Version.V2:
            # v2's memory.swap.max is swap minus memory: the stored limit is needed to convert.
            memory["limit"] = (merged.get("memory") or {}).get("limit") or 0
        cgroup_resources.apply(record.cgroup_paths, to_write, with_devices=False)
        linux["resources"] = merged
        store.save(record)


def _bytes(text: str | None) -> int | None:
    return None if text is None else parse_bytes(text)


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
