"""Process attributes of config.json → numbers for the syscalls that set them. PURE.

Covers `process.rlimits`, `process.oomScoreAdj`, `process.scheduler`, `process.ioPriority`,
`process.execCPUAffinity`, `linux.personality` and `linux.memoryPolicy`. Every name is mapped here,
before anything is forked, so a name the kernel has no number for fails `create` with the field's path
(config.md: "Runtimes MUST generate an error for any values which cannot be mapped to a relevant
kernel interface"). `ociruntime.linux.attributes` applies the resulting `AttributePlan`.
"""

from __future__ import annotations

from ociruntime.errors import ConfigInvalid
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any
else:
    # The very class collections.abc exports, without importing `collections` (~1.5 ms per create).
    from _collections_abc import Mapping

# <asm-generic/resource.h> (the same numbers on x86_64 and aarch64)
RLIMITS: dict[str, int] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
RLIM_INFINITY = 2**64 - 1

# <linux/ioprio.h>
IOPRIO_CLASSES: dict[str, int] = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS = 1

# <linux/sched.h>; SCHED_ISO is reserved in the header but no mainline kernel implements it.
SCHED_POLICIES: dict[str, int] = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
UNIMPLEMENTED_POLICIES = frozenset({"SCHED_ISO"})
SCHED_FLAGS: dict[str, int] = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}

# <linux/personality.h>: the spec's domains, and the flag names the header defines (the spec defines
# no flag values; these are the kernel's, accepted by their header names).
PERSONALITY_DOMAINS: dict[str, int] = {"LINUX": 0x0000, "LINUX32": 0x0008}
PERSONALITY_FLAGS: dict[str, int] = {
    "UNAME26": 0x0020000,
    "ADDR_NO_RANDOMIZE": 0x0040000,
    "FDPIC_FUNCPTRS": 0x0080000,
    "MMAP_PAGE_ZERO": 0x0100000,
    "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000,
    "ADDR_LIMIT_32BIT": 0x0800000,
    "SHORT_INODE": 0x1000000,
    "WHOLE_SECONDS": 0x2000000,
    "STICKY_TIMEOUTS": 0x4000000,
    "ADDR_LIMIT_3GB": 0x8000000,
}

# <linux/mempolicy.h>
MPOL_MODES: dict[str, int] = {
    "MPOL_DEFAULT": 0,
    "MPOL_PREFERRED": 1,
    "MPOL_BIND": 2,
    "MPOL_INTERLEAVE": 3,
    "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5,
    "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MPOL_FLAGS: dict[str, int] = {
    "MPOL_F_NUMA_BALANCING": 1 << 13,
    "MPOL_F_RELATIVE_NODES": 1 << 14,
    "MPOL_F_STATIC_NODES": 1 << 15,
}
# A CPU or node list longer than this is a typo, not a machine (the kernel's NR_CPUS tops out at 8192).
MAX_CPU_OR_NODE = 8191


class Rlimit(Value):
    __slots__ = ("where", "name", "resource", "soft", "hard")

    def __init__(self, where: str, name: str, resource: int, soft: int, hard: int) -> None:
        self.where = where  # process.rlimits[i]
        self.name = name
        self.resource = resource
        self.soft = soft
        self.hard = hard


class Scheduler(Value):
    __slots__ = ("policy_name", "policy", "flags", "nice", "priority", "runtime", "deadline", "period")

    def __init__(
        self,
        policy_name: str,
        policy: int,
        flags: int,
        nice: int,
        priority: int,
        runtime: int,
        deadline: int,
        period: int,
    ) -> None:
        self.policy_name = policy_name
        self.policy = policy
        self.flags = flags
        self.nice = nice
        self.priority = priority
        self.runtime = runtime
        self.deadline = deadline
        self.period = period


class IoPriority(Value):
    __slots__ = ("class_name", "priority")

    def __init__(self, class_name: str, priority: int) -> None:
        self.class_name = class_name
        self.priority = priority

    @property
    def value(self) -> int:
        """The ioprio_set(2) argument: IOPRIO_PRIO_VALUE(class, data)."""
        return (IOPRIO_CLASSES[self.class_name] << IOPRIO_CLASS_SHIFT) | self.priority


class MemoryPolicy(Value):
    __slots__ = ("mode_name", "mode", "nodes")

    def __init__(self, mode_name: str, mode: int, nodes: frozenset[int]) -> None:
        self.mode_name = mode_name  # the mode and its flags, as the config names them: for messages
        self.mode = mode  # with the flags or'ed in, as set_mempolicy(2) takes it
        self.nodes = nodes


class CpuAffinity(Value):
    """execCPUAffinity: `initial` for the runtime's child before it joins the cgroup, `final` before exec."""

    __slots__ = ("initial", "final")

    def __init__(self, initial: frozenset[int] | None, final: frozenset[int] | None) -> None:
        self.initial = initial
        self.final = final


class AttributePlan(Value):
    """Everything planned for one process; ociruntime.spec.model lists the config fields it reads."""

    __slots__ = (
        "rlimits", "oom_score_adj", "scheduler", "io_priority", "personality", "memory_policy", "cpu_affinity",
    )  # fmt: skip

    def __init__(
        self,
        rlimits: tuple[Rlimit, ...] = (),
        oom_score_adj: int | None = None,
        scheduler: Scheduler | None = None,
        io_priority: IoPriority | None = None,
        personality: int | None = None,
        memory_policy: MemoryPolicy | None = None,
        cpu_affinity: CpuAffinity | None = None,
    ) -> None:
        self.rlimits = rlimits
        self.oom_score_adj = oom_score_adj
        self.scheduler = scheduler
        self.io_priority = io_priority
        self.personality = personality
        self.memory_policy = memory_policy
        self.cpu_affinity = cpu_affinity

    @property
    def empty(self) -> bool:
        return self == AttributePlan()


def parse_cpu_list(text: str) -> frozenset[int]:
    """`0-3,7` → {0, 1, 2, 3, 7} (cpuset list format); ValueError on anything else."""
    result: set[int] = set()
    if not text.strip():
        return frozenset()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"{text!r} is not a list like 0-3,7")
        low, high = int(first), int(last) if dash else int(first)
        if low > high:
            raise ValueError(f"range {part!r} runs backwards")
        if high > MAX_CPU_OR_NODE:
            raise ValueError(f"{high} is larger than {MAX_CPU_OR_NODE}")
        result.update(range(low, high + 1))
    return frozenset(result)


def bitmask_words(ids: frozenset[int], word_bits: int = 64) -> list[int]:
    """A set of ids as the unsigned long array the kernel takes (nodemask, cpumask)."""
    words = [0] * ((max(ids, default=0) // word_bits) + 1)
    for i in ids:
        words[i // word_bits] |= 1 << (i % word_bits)
    return words


def plan_attributes(process: Mapping[str, Any], linux: Mapping[str, Any], *, is_init: bool = True) -> AttributePlan:
    """The attributes of one container process; `is_init` False for an `exec`'d process.

    execCPUAffinity is not applicable to the container's init (config.md), so it is only planned
    for exec'd processes. The fields read here are listed in ociruntime.spec.model, which decides
    whether this module is needed at all: a new one goes there too (a unit test checks the two agree).
    """
    affinity = plan_cpu_affinity(process.get("execCPUAffinity")) if not is_init else None
    return AttributePlan(
        rlimits=plan_rlimits(process.get("rlimits")),
        oom_score_adj=process.get("oomScoreAdj"),
        scheduler=plan_scheduler(process.get("scheduler")),
        io_priority=plan_io_priority(process.get("ioPriority")),
        personality=plan_personality(linux.get("personality")),
        memory_policy=plan_memory_policy(linux.get("memoryPolicy")),
        cpu_affinity=affinity,
    )


def plan_rlimits(items: object, where: str = "process.rlimits") -> tuple[Rlimit, ...]:
    planned: list[Rlimit] = []
    seen: set[str] = set()
    for i, item in enumerate(items if isinstance(items, list) else ()):
        name = item.get("type")
        if name not in RLIMITS:
            raise ConfigInvalid(f"{where}[{i}].type", f"unknown resource limit {name!r}")
        if name in seen:
            raise ConfigInvalid(f"{where}[{i}].type", f"{name} is given more than once")
        seen.add(name)
        soft, hard = int(item.get("soft", 0)), int(item.get("hard", 0))
        if soft > hard:
            raise ConfigInvalid(f"{where}[{i}].soft", "the soft limit is larger than the hard limit")
        planned.append(Rlimit(f"{where}[{i}]", name, RLIMITS[name], soft, hard))
    return tuple(planned)


def plan_scheduler(doc: object, where: str = "process.scheduler") -> Scheduler | None:
    if not isinstance(doc, Mapping):
        return None
    name = doc.get("policy")
    if name not in SCHED_POLICIES:
        raise ConfigInvalid(f"{where}.policy", f"unknown scheduling policy {name!r}")
    if name in UNIMPLEMENTED_POLICIES:
        raise ConfigInvalid(f"{where}.policy", f"{name} is not implemented by Linux")
    flags = 0
    for i, flag in enumerate(doc.get("flags") or ()):
        if flag not in SCHED_FLAGS:
            raise ConfigInvalid(f"{where}.flags[{i}]", f"unknown scheduler flag {flag!r}")
        flags |= SCHED_FLAGS[flag]
    priority = int(doc.get("priority", 0))
    if priority and name not in ("SCHED_FIFO", "SCHED_RR"):
        raise ConfigInvalid(f"{where}.priority", "only SCHED_FIFO and SCHED_RR take a priority")
    if name in ("SCHED_FIFO", "SCHED_RR") and not 1 <= priority <= 99:
        raise ConfigInvalid(f"{where}.priority", f"{name} needs a priority from 1 to 99, got {priority}")
    times = {field: int(doc.get(field, 0)) for field in ("runtime", "deadline", "period")}
    for field, value in times.items():
        if value and name != "SCHED_DEADLINE":
            raise ConfigInvalid(f"{where}.{field}", "only SCHED_DEADLINE takes runtime, deadline and period")
    if name == "SCHED_DEADLINE":
        _check_deadline(times, where)
    return Scheduler(name, SCHED_POLICIES[name], flags, int(doc.get("nice", 0)), priority, **times)


def _check_deadline(times: dict[str, int], where: str) -> None:
    """sched(7): runtime <= deadline <= period (period 0 means "same as deadline"), runtime >= 1024 ns."""
    runtime, deadline, period = times["runtime"], times["deadline"], times["period"]
    if runtime < 1024:
        raise ConfigInvalid(f"{where}.runtime", "SCHED_DEADLINE needs a runtime of at least 1024 ns")
    if deadline < runtime:
        raise ConfigInvalid(f"{where}.deadline", "the deadline must not be shorter than the runtime")
    if period and period < deadline:
        raise ConfigInvalid(f"{where}.period", "the period must not be shorter than the deadline")


def plan_io_priority(doc: object, where: str = "process.ioPriority") -> IoPriority | None:
    if not isinstance(doc, Mapping):
        return None
    name = doc.get("class")
    if name not in IOPRIO_CLASSES:
        raise ConfigInvalid(f"{where}.class", f"unknown I/O scheduling class {name!r}")
    priority = int(doc.get("priority", 0))
    if not 0 <= priority <= 7:
        raise ConfigInvalid(f"{where}.priority", f"must be from 0 to 7, got {priority}")
    return IoPriority(name, priority)


def plan_personality(doc: object, where: str = "linux.personality") -> int | None:
    if not isinstance(doc, Mapping):
        return None
    domain = doc.get("domain")
    if domain not in PERSONALITY_DOMAINS:
        raise ConfigInvalid(f"{where}.domain", f"unknown execution domain {domain!r}")
    persona = PERSONALITY_DOMAINS[domain]
    for i, flag in enumerate(doc.get("flags") or ()):
        if flag not in PERSONALITY_FLAGS:
            raise ConfigInvalid(f"{where}.flags[{i}]", f"unknown personality flag {flag!r}")
        persona |= PERSONALITY_FLAGS[flag]
    return persona


def plan_memory_policy(doc: object, where: str = "linux.memoryPolicy") -> MemoryPolicy | None:
    if not isinstance(doc, Mapping):
        return None
    name = doc.get("mode")
    if name not in MPOL_MODES:
        raise ConfigInvalid(f"{where}.mode", f"unknown memory policy mode {name!r}")
    mode = MPOL_MODES[name]
    flags = list(doc.get("flags") or ())
    for i, flag in enumerate(flags):
        if flag not in MPOL_FLAGS:
            raise ConfigInvalid(f"{where}.flags[{i}]", f"unknown memory policy flag {flag!r}")
        mode |= MPOL_FLAGS[flag]
    if {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"} <= set(flags):
        raise ConfigInvalid(f"{where}.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES are exclusive")
    try:
        nodes = parse_cpu_list(str(doc.get("nodes") or ""))
    except ValueError as e:
        raise ConfigInvalid(f"{where}.nodes", str(e)) from None
    if name in ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY") and not nodes:
        raise ConfigInvalid(f"{where}.nodes", f"{name} requires a node set")
    if name in ("MPOL_DEFAULT", "MPOL_LOCAL") and nodes:
        raise ConfigInvalid(f"{where}.nodes", f"{name} does not take a node set")
    if name in ("MPOL_DEFAULT", "MPOL_LOCAL") and flags:
        raise ConfigInvalid(f"{where}.flags", f"{name} does not take flags")
    # The kernel accepts each flag with some modes only (MPOL_F_NUMA_BALANCING: MPOL_BIND, and since 6.x
    # MPOL_PREFERRED_MANY) and says EINVAL otherwise: its refusal names the flags with the mode.
    return MemoryPolicy("|".join([name, *flags]), mode, nodes)


def plan_cpu_affinity(doc: object, where: str = "process.execCPUAffinity") -> CpuAffinity | None:
    if not isinstance(doc, Mapping):
        return None
    lists: dict[str, frozenset[int] | None] = {}
    for field in ("initial", "final"):
        text = doc.get(field)
        try:
            lists[field] = parse_cpu_list(text) or None if text else None
        except ValueError as e:
            raise ConfigInvalid(f"{where}.{field}", str(e)) from None
    if lists["initial"] is None and lists["final"] is None:
        return None
    return CpuAffinity(lists["initial"], lists["final"])
