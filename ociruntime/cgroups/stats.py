"""A container's cgroup statistics in runc's `events --stats` shape (runc's types/events.go).

Field names and omissions follow runc 1.1: Go's `omitempty` drops zero numbers, empty lists and maps,
so those are left out here too, while fields without it (cpu.usage.kernel, memory *.limit and *.failcnt,
hugetlb failcnt, cpuset flags) are always present. Readers tolerate missing files: a controller the
host does not mount just leaves its section empty, as with runc.
"""

from __future__ import annotations

import os

from ociruntime.cgroups.hierarchy import UNIFIED, controller_dir

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

_USER_HZ = 100  # cpuacct.stat counts in USER_HZ ticks (always 100 on Linux)
_NS_PER_TICK = 1_000_000_000 // _USER_HZ
_UNLIMITED = 9223372036854771712  # what v1 reports for "no limit" (LONG_MAX rounded down to a page)
_V2_MAX = 2**64 - 1  # runc reports "max" as math.MaxUint64


def collect(paths: dict[str, str]) -> dict[str, Any]:
    if set(paths) == {UNIFIED}:
        return _collect_v2(paths[UNIFIED])
    return _collect_v1(paths)


def _read(directory: str | None, name: str) -> str | None:
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, name)) as f:
            return f.read()
    except OSError:
        return None


def _int(directory: str | None, name: str) -> int:
    text = _read(directory, name)
    if text is None:
        return 0
    text = text.strip()
    if text == "max":
        return _V2_MAX
    try:
        return int(text)
    except ValueError:
        return 0


def parse_flat_keyed(text: str | None) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, memory.events)."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _nonzero(doc: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: zero numbers, empty strings, lists and maps are left out."""
    return {k: v for k, v in doc.items() if v not in (0, "", [], {}, None)}


def parse_cpu_list(text: str | None) -> list[int]:
    """cpuset list syntax "0-3,8" → [0, 1, 2, 3, 8]."""
    out: list[int] = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


# --- cgroup v1 --------------------------------------------------------------------------------------


def _collect_v1(paths: dict[str, str]) -> dict[str, Any]:
    return {
        "cpu": _cpu_v1(controller_dir(paths, "cpuacct"), controller_dir(paths, "cpu")),
        "cpuset": _cpuset(controller_dir(paths, "cpuset"), v2=False),
        "memory": _memory_v1(controller_dir(paths, "memory")),
        "pids": _pids(controller_dir(paths, "pids")),
        "blkio": _blkio_v1(controller_dir(paths, "blkio")),
        "hugetlb": _hugetlb(controller_dir(paths, "hugetlb"), v2=False),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _cpu_v1(acct: str | None, cpu: str | None) -> dict[str, Any]:
    ticks = parse_flat_keyed(_read(acct, "cpuacct.stat"))
    usage = _nonzero(
        {
            "total": _int(acct, "cpuacct.usage"),
            "percpu": [int(x) for x in (_read(acct, "cpuacct.usage_percpu") or "").split()],
            "percpu_kernel": [int(x) for x in (_read(acct, "cpuacct.usage_percpu_sys") or "").split()],
            "percpu_user": [int(x) for x in (_read(acct, "cpuacct.usage_percpu_user") or "").split()],
        }
    )
    usage["kernel"] = ticks.get("system", 0) * _NS_PER_TICK
    usage["user"] = ticks.get("user", 0) * _NS_PER_TICK
    stat = parse_flat_keyed(_read(cpu, "cpu.stat"))
    throttling = _nonzero(
        {
            "periods": stat.get("nr_periods", 0),
            "throttled_periods": stat.get("nr_throttled", 0),
            "throttled_time": stat.get("throttled_time", 0),
        }
    )
    return {"usage": usage, "throttling": _rename(throttling)}


def _rename(throttling: dict[str, int]) -> dict[str, int]:
    names = {"periods": "periods", "throttled_periods": "throttledPeriods", "throttled_time": "throttledTime"}
    return {names[k]: v for k, v in throttling.items()}


def _cpuset(directory: str | None, *, v2: bool) -> dict[str, Any]:
    if directory is None:
        return {}
    prefix = "cpuset."
    if v2:
        # v2 has only the effective lists; runc 1.1 still prints its flag fields (zero) there.
        return _nonzero(
            {
                "cpus": parse_cpu_list(_read(directory, "cpuset.cpus.effective")),
                "mems": parse_cpu_list(_read(directory, "cpuset.mems.effective")),
            }
        ) | {name: 0 for name in _CPUSET_FLAGS}
    doc: dict[str, Any] = _nonzero({"cpus": parse_cpu_list(_read(directory, "cpuset.cpus"))})
    doc["cpu_exclusive"] = _int(directory, prefix + "cpu_exclusive")
    mems = parse_cpu_list(_read(directory, prefix + "mems"))
    if mems:
        doc["mems"] = mems
    for name in _CPUSET_FLAGS[1:]:
        doc[name] = _int(directory, prefix + name)
    return doc


_CPUSET_FLAGS = (
    "cpu_exclusive",
    "mem_hardwall",
    "mem_exclusive",
    "memory_migrate",
    "memory_spread_page",
    "memory_spread_slab",
    "memory_pressure",
    "sched_load_balance",
    "sched_relax_domain_level",
)


def _memory_entry(limit: int, usage: int, max_usage: int, failcnt: int) -> dict[str, int]:
    entry: dict[str, int] = {"limit": limit}
    entry.update(_nonzero({"usage": usage, "max": max_usage}))
    entry["failcnt"] = failcnt
    return entry


def _memory_v1(d: str | None) -> dict[str, Any]:
    if d is None:
        return {}
    raw = parse_flat_keyed(_read(d, "memory.stat"))

    def entry(prefix: str) -> dict[str, int]:
        return _memory_entry(
            _int(d, f"{prefix}.limit_in_bytes"),
            _int(d, f"{prefix}.usage_in_bytes"),
            _int(d, f"{prefix}.max_usage_in_bytes"),
            _int(d, f"{prefix}.failcnt"),
        )

    doc: dict[str, Any] = _nonzero({"cache": raw.get("cache", 0)})
    doc["usage"] = entry("memory")
    # Without memsw (swap accounting off) runc reports the memory figures as swap; so do we.
    doc["swap"] = entry("memory.memsw") if _read(d, "memory.memsw.usage_in_bytes") is not None else entry("memory")
    doc["kernel"] = entry("memory.kmem")
    doc["kernelTCP"] = entry("memory.kmem.tcp")
    if raw:
        doc["raw"] = dict(sorted(raw.items()))
    return doc


def _pids(d: str | None) -> dict[str, int]:
    if d is None:
        return {}
    limit = _int(d, "pids.max")
    return _nonzero({"current": _int(d, "pids.current"), "limit": 0 if limit == _V2_MAX else limit})


def parse_blkio(text: str | None) -> list[dict[str, Any]]:
    """v1 blkio `MAJ:MIN Op value` lines → runc's BlkioEntry list (the `Total` line is dropped)."""
    out: list[dict[str, Any]] = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        out.append(_nonzero({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}))
    return out


def _blkio_v1(d: str | None) -> dict[str, Any]:
    if d is None:
        return {}
    # runc prefers the proportional scheduler's (bfq) counters and falls back to the throttle ones.
    for prefix in ("blkio.bfq.", "blkio.throttle."):
        served = _read(d, prefix + "io_service_bytes_recursive")
        if served is not None:
            return _nonzero(
                {
                    "ioServiceBytesRecursive": parse_blkio(served),
                    "ioServicedRecursive": parse_blkio(_read(d, prefix + "io_serviced_recursive")),
                }
            )
    return {}


def _hugetlb(d: str | None, *, v2: bool) -> dict[str, Any]:
    if d is None:
        return {}
    sizes = sorted({name.split(".")[1] for name in os.listdir(d) if name.startswith("hugetlb.")})
    out: dict[str, Any] = {}
    for size in sizes:
        if v2:
            events = parse_flat_keyed(_read(d, f"hugetlb.{size}.events"))
            entry = _nonzero({"usage": _int(d, f"hugetlb.{size}.current")})
            entry["failcnt"] = events.get("max", 0)
        else:
            usage, peak = _int(d, f"hugetlb.{size}.usage_in_bytes"), _int(d, f"hugetlb.{size}.max_usage_in_bytes")
            entry = _nonzero({"usage": usage, "max": peak})
            entry["failcnt"] = _int(d, f"hugetlb.{size}.failcnt")
        out[size] = entry
    return out


# --- cgroup v2 --------------------------------------------------------------------------------------


def _collect_v2(d: str) -> dict[str, Any]:
    return {
        "cpu": _cpu_v2(d),
        "cpuset": _cpuset(d, v2=True),
        "memory": _memory_v2(d),
        "pids": _pids(d),
        "blkio": _io_v2(d),
        "hugetlb": _hugetlb(d, v2=True),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def _cpu_v2(d: str) -> dict[str, Any]:
    stat = parse_flat_keyed(_read(d, "cpu.stat"))
    usage: dict[str, Any] = _nonzero({"total": stat.get("usage_usec", 0) * 1000})
    usage["kernel"] = stat.get("system_usec", 0) * 1000
    usage["user"] = stat.get("user_usec", 0) * 1000
    throttling = _nonzero(
        {
            "periods": stat.get("nr_periods", 0),
            "throttled_periods": stat.get("nr_throttled", 0),
            "throttled_time": stat.get("throttled_usec", 0) * 1000,
        }
    )
    return {"usage": usage, "throttling": _rename(throttling)}


def _memory_v2(d: str) -> dict[str, Any]:
    raw = parse_flat_keyed(_read(d, "memory.stat"))
    events = parse_flat_keyed(_read(d, "memory.events"))
    usage = _int(d, "memory.current")
    swap = _int(d, "memory.swap.current")
    doc: dict[str, Any] = _nonzero({"cache": raw.get("file", 0)})
    doc["usage"] = _memory_entry(_int(d, "memory.max"), usage, _int(d, "memory.peak"), events.get("max", 0))
    # runc 1.1 reports v2 swap as memory+swap, to match v1's memsw meaning.
    swap_limit = _int(d, "memory.swap.max")
    mem_limit = _int(d, "memory.max")
    total_limit = _V2_MAX if _V2_MAX in (swap_limit, mem_limit) else swap_limit + mem_limit
    doc["swap"] = _memory_entry(total_limit, swap + usage, 0, 0)
    doc["kernel"] = {"limit": 0, "failcnt": 0}
    doc["kernelTCP"] = {"limit": 0, "failcnt": 0}
    if raw:
        doc["raw"] = dict(sorted(raw.items()))
    return doc


def _io_v2(d: str) -> dict[str, Any]:
    """io.stat `MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=..` → runc's Read/Write entries."""
    served: list[dict[str, Any]] = []
    counts: list[dict[str, Any]] = []
    for line in (_read(d, "io.stat") or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, target in (
            ("rbytes", "Read", served),
            ("wbytes", "Write", served),
            ("rios", "Read", counts),
            ("wios", "Write", counts),
        ):
            entry = {"major": int(major), "minor": int(minor), "op": op, "value": int(fields.get(key, 0))}
            target.append(_nonzero(entry))
    return _nonzero({"ioServiceBytesRecursive": served, "ioServicedRecursive": counts})


def oom_kills(paths: dict[str, str]) -> int:
    """How many OOM kills the container's memory cgroup has seen (v1 memory.oom_control, v2 memory.events)."""
    if set(paths) == {UNIFIED}:
        return parse_flat_keyed(_read(paths[UNIFIED], "memory.events")).get("oom_kill", 0)
    return parse_flat_keyed(_read(controller_dir(paths, "memory"), "memory.oom_control")).get("oom_kill", 0)
