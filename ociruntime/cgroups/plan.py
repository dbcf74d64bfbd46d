"""linux.resources → the cgroup file writes that carry it out, for cgroup v1 or v2. PURE.

`plan(resources, version)` returns `Write`s in the order they are to be made. The key of a write is the
v1 controller whose hierarchy holds the file ("memory", "cpu", ...) or "" for the v2 unified hierarchy.
Zero means "unset" for the numeric fields where runc treats it so (docker sends `shares: 0`,
`weight: 0`). A value that no file of this cgroup version can carry is a `CgroupError` naming the
file it would need, so nothing is silently dropped.

Conversions follow runc (libcontainer/cgroups/utils.go and fs2/): v1 cpu.shares → v2 cpu.weight, v1
blkio weight → v2 io.weight, and v2 memory.swap.max = (memory+swap) - memory.
"""

from __future__ import annotations

from ociruntime.errors import CgroupError
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

UNIFIED = ""


class Version:
    """The cgroup version a container's cgroups use: plain ints rather than an enum, which would
    cost ~3 ms of import on every create."""

    V1 = 1
    V2 = 2


class Write(Value):
    __slots__ = ("key", "file", "value", "fallbacks")

    def __init__(self, key: str, file: str, value: str, fallbacks: tuple[tuple[str, str], ...] = ()) -> None:
        self.key = key  # v1 controller name, or "" for the v2 unified hierarchy
        self.file = file
        self.value = value
        # Files tried, in order, when `file` does not exist on this kernel (blkio.bfq.weight vs blkio.weight).
        self.fallbacks = fallbacks


def version_of(paths: dict[str, str]) -> int:
    """A container on a pure cgroup2 host has only the unified key; a v1 or hybrid host has controllers."""
    return Version.V2 if set(paths) == {UNIFIED} else Version.V1


def plan(resources: dict[str, Any] | None, version: int, *, with_devices: bool = True) -> list[Write]:
    """Every write for `resources`. `with_devices` is False for `update`, which never changes device rules."""
    r = resources or {}
    v2 = version == Version.V2
    writes: list[Write] = []
    writes += _memory(r.get("memory") or {}, v2)
    writes += _cpu(r.get("cpu") or {}, v2)
    writes += _pids(r.get("pids") or {}, v2)
    writes += _block_io(r.get("blockIO") or {}, v2)
    writes += _hugepages(r.get("hugepageLimits") or [], v2)
    writes += _network(r.get("network") or {}, v2)
    writes += _rdma(r.get("rdma") or {}, v2)
    writes += _unified(r.get("unified") or {}, v2)
    if with_devices and not v2:  # v2 device rules are an eBPF program, not files (see devices.py)
        writes += _devices(r.get("devices"))
    return writes


def _devices(items: list[dict[str, Any]] | None) -> list[Write]:
    # Imported here: `update` never changes device rules and need not load them.
    from ociruntime.cgroups import devices

    return [Write("devices", f, v) for f, v in devices.v1_writes(devices.effective_rules(items))]


# --- memory -----------------------------------------------------------------------------------------


def _memory(m: dict[str, Any], v2: bool) -> list[Write]:
    limit = int(m.get("limit") or 0)
    swap = int(m.get("swap") or 0)
    if limit == -1 and swap == 0:
        swap = -1  # runc: an unlimited memory request without a swap value means unlimited swap too
    out: list[Write] = []
    if v2:
        key = UNIFIED
        swap_max = memory_swap_to_v2(swap, limit)
        if swap_max is not None:
            out.append(Write(key, "memory.swap.max", _max_or(swap_max)))
        if limit:
            out.append(Write(key, "memory.max", _max_or(limit)))
        if m.get("reservation"):
            out.append(Write(key, "memory.low", _max_or(int(m["reservation"]))))
        if m.get("swappiness") is not None and int(m["swappiness"]) != -1:
            raise CgroupError("memory.swappiness", "cgroup v2 has no per-cgroup swappiness; remove memory.swappiness")
        if m.get("disableOOMKiller"):
            raise CgroupError("memory.oom_control", "cgroup v2 cannot disable the OOM killer; remove disableOOMKiller")
        return out
    key = "memory"
    # The kernel checks memsw >= limit at each write; the writer retries a refused write after the others,
    # which covers both orders (raising and lowering), as runc's setMemoryAndSwap does by reading first.
    if limit:
        out.append(Write(key, "memory.limit_in_bytes", str(limit)))
    if swap:
        out.append(Write(key, "memory.memsw.limit_in_bytes", str(swap)))
    if m.get("reservation"):
        out.append(Write(key, "memory.soft_limit_in_bytes", str(int(m["reservation"]))))
    if m.get("kernelTCP"):
        out.append(Write(key, "memory.kmem.tcp.limit_in_bytes", str(int(m["kernelTCP"]))))
    swappiness = m.get("swappiness")
    if swappiness is not None and int(swappiness) != -1:
        if not 0 <= int(swappiness) <= 100:
            raise CgroupError("memory.swappiness", f"invalid value {swappiness}: the range is 0-100")
        out.append(Write(key, "memory.swappiness", str(int(swappiness))))
    if m.get("disableOOMKiller"):
        out.append(Write(key, "memory.oom_control", "1"))
    if m.get("useHierarchy") is not None:
        out.append(Write(key, "memory.use_hierarchy", "1" if m["useHierarchy"] else "0"))
    return out


def memory_swap_to_v2(swap: int, limit: int) -> int | None:
    """runc's ConvertMemorySwapToCgroupV2Value: v1's memory+swap total becomes v2's swap-only limit.

    None means "leave memory.swap.max alone"; -1 means unlimited.
    """
    if swap == -1:
        return -1
    if swap == 0:
        return None
    if limit in (0, -1):
        raise CgroupError("memory.swap.max", f"cannot set swap {swap} without a memory limit")
    if swap < limit:
        raise CgroupError("memory.swap.max", f"memory+swap {swap} is lower than the memory limit {limit}")
    return swap - limit


# --- cpu --------------------------------------------------------------------------------------------


def shares_to_weight(shares: int) -> int:
    """runc's ConvertCPUSharesToCgroupV2Value: [2, 262144] → [1, 10000]; 0 stays unset."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def _cpu(c: dict[str, Any], v2: bool) -> list[Write]:
    shares = int(c.get("shares") or 0)
    quota = int(c.get("quota") or 0)
    period = int(c.get("period") or 0)
    rt_runtime = int(c.get("realtimeRuntime") or 0)
    rt_period = int(c.get("realtimePeriod") or 0)
    out: list[Write] = []
    if v2:
        key = UNIFIED
        if c.get("idle") is not None:
            out.append(Write(key, "cpu.idle", str(int(c["idle"]))))
        if shares:
            out.append(Write(key, "cpu.weight", str(shares_to_weight(shares))))
        if c.get("burst") is not None:
            out.append(Write(key, "cpu.max.burst", str(int(c["burst"]))))
        if quota or period:
            # runc: a quota <= 0 means no limit; without a period the kernel keeps its current one.
            value = str(quota) if quota > 0 else "max"
            out.append(Write(key, "cpu.max", f"{value} {period}" if period else value))
        if rt_runtime or rt_period:
            raise CgroupError("cpu.rt_runtime_us", "cgroup v2 has no realtime cpu controller; remove realtime*")
    else:
        key = "cpu"
        if shares:
            out.append(Write(key, "cpu.shares", str(shares)))
        # Period before quota (a new quota is checked against the current period); refused writes are
        # retried after the rest, so lowering both in either order works.
        if period:
            out.append(Write(key, "cpu.cfs_period_us", str(period)))
        if quota:
            out.append(Write(key, "cpu.cfs_quota_us", str(quota)))
        if c.get("burst") is not None:
            out.append(Write(key, "cpu.cfs_burst_us", str(int(c["burst"]))))
        if rt_period:
            out.append(Write(key, "cpu.rt_period_us", str(rt_period)))
        if rt_runtime:
            out.append(Write(key, "cpu.rt_runtime_us", str(rt_runtime)))
        if c.get("idle") is not None:
            out.append(Write(key, "cpu.idle", str(int(c["idle"]))))
    cpuset_key = UNIFIED if v2 else "cpuset"
    if c.get("cpus"):
        out.append(Write(cpuset_key, "cpuset.cpus", str(c["cpus"])))
    if c.get("mems"):
        out.append(Write(cpuset_key, "cpuset.mems", str(c["mems"])))
    return out


# --- pids, block I/O, hugetlb, network, rdma, unified -------------------------------------------------


def _pids(p: dict[str, Any], v2: bool) -> list[Write]:
    limit = int(p.get("limit") or 0)
    if not limit:
        return []
    return [Write(UNIFIED if v2 else "pids", "pids.max", str(limit) if limit > 0 else "max")]


def blkio_weight_to_io_weight(weight: int) -> int:
    """runc's ConvertBlkIOToIOWeightValue: [10, 1000] → [1, 10000]."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


_THROTTLE = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops"),
)


def _block_io(b: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    weight = int(b.get("weight") or 0)
    leaf = int(b.get("leafWeight") or 0)
    if v2:
        if leaf or any(d.get("leafWeight") for d in b.get("weightDevice") or []):
            raise CgroupError("io.weight", "cgroup v2 has no leaf weight; remove blockIO.leafWeight")
        if weight:
            fallback = (("io.weight", f"default {blkio_weight_to_io_weight(weight)}"),)
            out.append(Write(UNIFIED, "io.bfq.weight", str(weight), fallback))
        for d in b.get("weightDevice") or []:
            if d.get("weight"):
                dev = _dev(d)
                fallback = (("io.weight", f"{dev} {blkio_weight_to_io_weight(int(d['weight']))}"),)
                out.append(Write(UNIFIED, "io.bfq.weight", f"{dev} {int(d['weight'])}", fallback))
        for field, _v1_file, v2_name in _THROTTLE:
            for d in b.get(field) or []:
                out.append(Write(UNIFIED, "io.max", f"{_dev(d)} {v2_name}={int(d['rate'])}"))
        return out
    key = "blkio"
    # BFQ (the only proportional scheduler left in current kernels) names its files blkio.bfq.*.
    if weight:
        out.append(Write(key, "blkio.bfq.weight", str(weight), (("blkio.weight", str(weight)),)))
    if leaf:
        out.append(Write(key, "blkio.leaf_weight", str(leaf)))
    for d in b.get("weightDevice") or []:
        dev = _dev(d)
        if d.get("weight"):
            line = f"{dev} {int(d['weight'])}"
            out.append(Write(key, "blkio.bfq.weight_device", line, (("blkio.weight_device", line),)))
        if d.get("leafWeight"):
            out.append(Write(key, "blkio.leaf_weight_device", f"{dev} {int(d['leafWeight'])}"))
    for field, v1_file, _v2_name in _THROTTLE:
        for d in b.get(field) or []:
            out.append(Write(key, v1_file, f"{_dev(d)} {int(d['rate'])}"))
    return out


def _dev(d: dict[str, Any]) -> str:
    return f"{int(d['major'])}:{int(d['minor'])}"


def _hugepages(limits: list[dict[str, Any]], v2: bool) -> list[Write]:
    suffix = "max" if v2 else "limit_in_bytes"
    return [
        Write(UNIFIED if v2 else "hugetlb", f"hugetlb.{h['pageSize']}.{suffix}", str(int(h["limit"]))) for h in limits
    ]


def _network(n: dict[str, Any], v2: bool) -> list[Write]:
    if not n:
        return []
    if v2:
        raise CgroupError("net_cls.classid", "cgroup v2 has no net_cls/net_prio controllers (linux.resources.network)")
    out: list[Write] = []
    if n.get("classID") is not None:
        out.append(Write("net_cls", "net_cls.classid", str(int(n["classID"]))))
    for p in n.get("priorities") or []:
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{p['name']} {int(p['priority'])}"))
    return out


def _rdma(r: dict[str, Any], v2: bool) -> list[Write]:
    out: list[Write] = []
    for device, limits in sorted(r.items()):
        handles = limits.get("hcaHandles")
        objects = limits.get("hcaObjects")
        value = (
            f"{device} hca_handle={'max' if handles is None else int(handles)} "
            f"hca_object={'max' if objects is None else int(objects)}"
        )
        out.append(Write(UNIFIED if v2 else "rdma", "rdma.max", value))
    return out


# The only core (cgroup.*) files that are limits; cgroup.procs, .subtree_control, .kill and the rest are
# the runtime's to drive, never the config's.
_UNIFIED_CORE = ("cgroup.max.depth", "cgroup.max.descendants")


def _unified(u: dict[str, Any], v2: bool) -> list[Write]:
    if not u:
        return []
    if not v2:
        raise CgroupError(next(iter(u)), "linux.resources.unified needs cgroup v2, and this host uses cgroup v1")
    out: list[Write] = []
    for name, value in u.items():
        # A key is a file of the container's own cgroup: nothing that could walk out of it.
        if "/" in name or name in ("", ".", "..") or (name.startswith("cgroup.") and name not in _UNIFIED_CORE):
            raise CgroupError(name, "not a resource file of the container's cgroup (linux.resources.unified)")
        out.append(Write(UNIFIED, name, str(value)))
    return out


def _max_or(value: int) -> str:
    return "max" if value == -1 else str(value)
