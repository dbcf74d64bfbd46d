"""Process attributes applied in the container process just before the identity switch: CPU affinity,
personality, oom_score_adj, rlimits, scheduler, I/O priority and the memory policy.

`plan(spec)` runs in the parent during `create`: it maps every name to a number (ociruntime.spec.attributes)
and refuses what this host cannot do before anything is forked (a hard limit above ours without
CAP_SYS_RESOURCE, CPUs or NUMA nodes the machine does not have). `Attributes.apply()` runs in the
container process as root in its namespaces, after `start`; `before_exec()` right before execve.

The syscalls Python's os module lacks are one small ctypes wrapper each, raising OSError.

Imported only for a config that sets one of these attributes (ociruntime.spec.model lists the fields).
"""

from __future__ import annotations

import ctypes
import os

from ociruntime import errors
from ociruntime.linux import procfiles
from ociruntime.spec import attributes as spec_attributes
from ociruntime.spec.attributes import RLIM_INFINITY, AttributePlan, CpuAffinity, Rlimit, bitmask_words

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from ociruntime.process.execute import ProcessAttributes
    from ociruntime.spec.model import Spec

CAP_SYS_RESOURCE = 24

# Syscall numbers per architecture (<asm/unistd.h>): sched_setattr, sched_getattr, ioprio_set, ioprio_get,
# set_mempolicy, get_mempolicy.
_SYSCALLS = {
    "x86_64": {"sched_setattr": 314, "sched_getattr": 315, "ioprio_set": 251, "ioprio_get": 252,
               "set_mempolicy": 238, "get_mempolicy": 239},
    "aarch64": {"sched_setattr": 274, "sched_getattr": 275, "ioprio_set": 30, "ioprio_get": 31,
                "set_mempolicy": 237, "get_mempolicy": 236},
}  # fmt: skip
_NR = _SYSCALLS.get(os.uname().machine, _SYSCALLS["x86_64"])

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.personality.argtypes = [ctypes.c_ulong]
_libc.personality.restype = ctypes.c_int


class _RLimit64(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


_libc.prlimit.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_RLimit64), ctypes.POINTER(_RLimit64)]


class SchedAttr(ctypes.Structure):
    """struct sched_attr, SCHED_ATTR_SIZE_VER1 (with the utilization clamps)."""

    _fields_ = [
        ("size", ctypes.c_uint32),
        ("sched_policy", ctypes.c_uint32),
        ("sched_flags", ctypes.c_uint64),
        ("sched_nice", ctypes.c_int32),
        ("sched_priority", ctypes.c_uint32),
        ("sched_runtime", ctypes.c_uint64),
        ("sched_deadline", ctypes.c_uint64),
        ("sched_period", ctypes.c_uint64),
        ("sched_util_min", ctypes.c_uint32),
        ("sched_util_max", ctypes.c_uint32),
    ]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), what)
    return result


# --- syscall wrappers -------------------------------------------------------------------------------


def setrlimit(resource: int, soft: int, hard: int) -> None:
    new = _RLimit64(soft, hard)
    _check(_libc.prlimit(0, resource, ctypes.byref(new), None), "prlimit")


def getrlimit(resource: int) -> tuple[int, int]:
    old = _RLimit64()
    _check(_libc.prlimit(0, resource, None, ctypes.byref(old)), "prlimit")
    return old.cur, old.max


def sched_setattr(attr: SchedAttr) -> None:
    _check(_libc.syscall(_NR["sched_setattr"], 0, ctypes.byref(attr), 0), "sched_setattr")


def sched_getattr() -> SchedAttr:
    attr = SchedAttr()
    _check(_libc.syscall(_NR["sched_getattr"], 0, ctypes.byref(attr), ctypes.sizeof(attr), 0), "sched_getattr")
    return attr


def ioprio_set(value: int) -> None:
    _check(_libc.syscall(_NR["ioprio_set"], spec_attributes.IOPRIO_WHO_PROCESS, 0, value), "ioprio_set")


def ioprio_get() -> int:
    return _check(_libc.syscall(_NR["ioprio_get"], spec_attributes.IOPRIO_WHO_PROCESS, 0), "ioprio_get")


def personality(persona: int) -> int:
    return _check(_libc.personality(persona), "personality")


def set_mempolicy(mode: int, nodes: frozenset[int]) -> None:
    if nodes:
        words = bitmask_words(nodes)
        mask = (ctypes.c_ulong * len(words))(*words)
        # The kernel reads maxnode - 1 bits (a historical off-by-one every caller, numactl too, adds 1 for).
        result = _libc.syscall(_NR["set_mempolicy"], mode, mask, ctypes.c_ulong(len(words) * 64 + 1))
    else:
        result = _libc.syscall(_NR["set_mempolicy"], mode, None, ctypes.c_ulong(0))
    _check(result, "set_mempolicy")


def get_mempolicy() -> tuple[int, frozenset[int]]:
    """(mode with flags, nodes) of the calling thread."""
    mode = ctypes.c_int()
    mask = (ctypes.c_ulong * 16)()
    _check(_libc.syscall(_NR["get_mempolicy"], ctypes.byref(mode), mask, ctypes.c_ulong(16 * 64 + 1), None, 0),
           "get_mempolicy")  # fmt: skip
    nodes = frozenset(w * 64 + b for w in range(16) for b in range(64) if mask[w] >> b & 1)
    return mode.value, nodes


# --- applying ---------------------------------------------------------------------------------------


class Attributes:
    """A ProcessAttributes for ociruntime.process.execute: everything resolved, only syscalls left."""

    __slots__ = ("plan",)

    def __init__(self, plan: AttributePlan) -> None:
        self.plan = plan

    def apply(self) -> None:
        """In the container process, still root: each step's error names its config field."""
        p = self.plan
        if p.cpu_affinity is not None and p.cpu_affinity.initial is not None:
            set_affinity(p.cpu_affinity.initial, "process.execCPUAffinity.initial")
        if p.personality is not None:
            _named("linux.personality", personality, p.personality)
        if p.oom_score_adj is not None:
            set_oom_score_adj(p.oom_score_adj)
        for rlimit in p.rlimits:
            apply_rlimit(rlimit)
        if p.scheduler is not None:
            apply_scheduler(p.scheduler)
        if p.io_priority is not None:
            _named(f"process.ioPriority {p.io_priority.class_name}", ioprio_set, p.io_priority.value)
        if p.memory_policy is not None:
            policy = p.memory_policy
            _named(f"linux.memoryPolicy {policy.mode_name}", set_mempolicy, policy.mode, policy.nodes)

    def before_exec(self) -> None:
        """execCPUAffinity.final; without it, an `initial` affinity is undone (config.md: the cgroup's CPUs)."""
        affinity = self.plan.cpu_affinity
        if affinity is None:
            return
        if affinity.final is not None:
            set_affinity(affinity.final, "process.execCPUAffinity.final")
        elif affinity.initial is not None:
            # The kernel intersects the request with the cgroup's cpuset: "all" means "the cgroup's".
            set_affinity(frozenset(range(os.cpu_count() or 1)), "process.execCPUAffinity")


def _named(field: str, call: Any, *args: Any) -> None:
    try:
        call(*args)
    except OSError as e:
        raise OSError(e.errno, f"{e.filename}: {e.strerror}", field) from None


def set_affinity(cpus: frozenset[int], field: str) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        listed = ",".join(map(str, sorted(cpus)))
        raise OSError(e.errno, f"sched_setaffinity({listed}): {e.strerror}", field) from None


def set_oom_score_adj(value: int) -> None:
    try:
        # Through the real procfs only (a mount over /proc cannot redirect it); our pid, not "self",
        # because the self symlink is a link that the safe open refuses to follow.
        procfiles.write_proc_file(f"{os.getpid()}/oom_score_adj", str(value))
    except OSError as e:
        reason = e.strerror
        if e.errno in (1, 13):  # EPERM, EACCES
            reason = f"lowering it below the runtime's ({_own_oom_score_adj()}) needs CAP_SYS_RESOURCE: {e.strerror}"
        raise OSError(e.errno, f"cannot set {value}: {reason}", "process.oomScoreAdj") from None


def _own_oom_score_adj() -> str:
    try:
        with open("/proc/self/oom_score_adj") as f:
            return f.read().strip()
    except OSError:
        return "?"


def apply_rlimit(rlimit: Rlimit) -> None:
    try:
        setrlimit(rlimit.resource, rlimit.soft, rlimit.hard)
    except OSError as e:
        _, current_hard = getrlimit(rlimit.resource)
        if rlimit.hard > current_hard:
            reason = f"cannot raise hard limit above {_limit_text(current_hard)}: {e.strerror}"
        else:
            reason = f"cannot set soft {_limit_text(rlimit.soft)}, hard {_limit_text(rlimit.hard)}: {e.strerror}"
        raise OSError(e.errno, reason, f"{rlimit.where} {rlimit.name}") from None


def _limit_text(value: int) -> str:
    return "unlimited" if value == RLIM_INFINITY else str(value)


def apply_scheduler(s: spec_attributes.Scheduler) -> None:
    attr = SchedAttr(
        size=ctypes.sizeof(SchedAttr),
        sched_policy=s.policy,
        sched_flags=s.flags,
        sched_nice=s.nice,
        sched_priority=s.priority,
        sched_runtime=s.runtime,
        sched_deadline=s.deadline,
        sched_period=s.period,
    )
    try:
        sched_setattr(attr)
    except OSError as e:
        hint = ""
        if e.errno == 1 and s.policy_name in ("SCHED_FIFO", "SCHED_RR"):
            hint = " (real-time policies need CAP_SYS_NICE and real-time runtime in the container's cgroup)"
        raise OSError(e.errno, f"sched_setattr({s.policy_name}): {e.strerror}{hint}", "process.scheduler") from None


# --- planning, in the parent -------------------------------------------------------------------------


def plan(spec: Spec) -> ProcessAttributes | None:
    """The container init's attributes, after every host check that can fail `create` early."""
    process = spec.process.raw if spec.process is not None else {}
    linux = spec.raw.get("linux") or {}
    attribute_plan = spec_attributes.plan_attributes(process, linux, is_init=True)
    check_plan(attribute_plan, in_user_namespace=spec.namespace("user") is not None)
    return None if attribute_plan.empty else Attributes(attribute_plan)


def plan_exec(process: dict[str, Any], spec: Spec) -> ProcessAttributes | None:
    """For an `exec`'d process: the same, plus execCPUAffinity (not applicable to init)."""
    attribute_plan = spec_attributes.plan_attributes(process, spec.raw.get("linux") or {}, is_init=False)
    check_plan(attribute_plan, in_user_namespace=spec.namespace("user") is not None)
    return None if attribute_plan.empty else Attributes(attribute_plan)


def check_plan(p: AttributePlan, *, in_user_namespace: bool) -> None:
    """What the container process could not do on this host, said now rather than after `start`."""
    can_raise = has_capability(CAP_SYS_RESOURCE) and not in_user_namespace
    for rlimit in p.rlimits:
        _, hard = getrlimit(rlimit.resource)
        if rlimit.hard > hard and not can_raise:
            raise errors.NotSupported(
                f"{rlimit.where} {rlimit.name}",
                f"cannot raise hard limit above {_limit_text(hard)}: {os.strerror(1)}",
            )
    cpus = os.cpu_count() or 1
    if p.cpu_affinity is not None:
        for field in ("initial", "final"):
            chosen = getattr(p.cpu_affinity, field)
            if chosen is not None and max(chosen) >= cpus:
                raise errors.NotSupported(
                    f"process.execCPUAffinity.{field}", f"CPU {max(chosen)} does not exist (this host has {cpus})"
                )
    if p.memory_policy is not None and p.memory_policy.nodes:
        possible = possible_nodes()
        missing = sorted(p.memory_policy.nodes - possible)
        if missing and not p.memory_policy.mode & spec_attributes.MPOL_FLAGS["MPOL_F_RELATIVE_NODES"]:
            raise errors.NotSupported(
                "linux.memoryPolicy.nodes",
                f"NUMA node {missing[0]} does not exist (nodes here: {_list_text(possible)})",
            )


def possible_nodes() -> frozenset[int]:
    try:
        with open("/sys/devices/system/node/possible") as f:
            return spec_attributes.parse_cpu_list(f.read().strip())
    except (OSError, ValueError):
        return frozenset({0})


def _list_text(ids: frozenset[int]) -> str:
    return ",".join(map(str, sorted(ids))) or "none"


def has_capability(number: int) -> bool:
    """Whether the runtime itself has `number` in its effective set (root may lack some)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> number & 1)
    except OSError:
        pass
    return False


__all__ = ["Attributes", "CpuAffinity", "plan", "plan_exec"]
