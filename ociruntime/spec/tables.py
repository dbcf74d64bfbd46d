"""Name → number tables shared by the planner, the executor and `features`. PURE: no syscalls.

Numbers come from the kernel headers named beside them; they are the same on every Linux architecture
this runtime supports (x86_64, aarch64) except where noted.
"""

from __future__ import annotations

from ociruntime import abi
from ociruntime.signals import SIGNALS, SIGRTMAX, SIGRTMIN

# runtime-spec namespace type → (CLONE_* flag, /proc/<pid>/ns/ file name)
NAMESPACES: dict[str, tuple[int, str]] = {
    "user": (abi.CLONE_NEWUSER, "user"),
    "mount": (abi.CLONE_NEWNS, "mnt"),
    "cgroup": (abi.CLONE_NEWCGROUP, "cgroup"),
    "uts": (abi.CLONE_NEWUTS, "uts"),
    "ipc": (abi.CLONE_NEWIPC, "ipc"),
    "network": (abi.CLONE_NEWNET, "net"),
    "pid": (abi.CLONE_NEWPID, "pid"),
    "time": (abi.CLONE_NEWTIME, "time"),
}

# The order namespaces are entered by path: the user namespace first (it grants the rights to join the
# others), mount last among those that change what paths mean, pid and time only affect children.
JOIN_ORDER = ("user", "ipc", "uts", "network", "cgroup", "pid", "time", "mount")

# <linux/time.h> clock ids accepted in linux.timeOffsets and /proc/self/timens_offsets
TIME_CLOCKS = {"monotonic": "monotonic", "boottime": "boottime"}


def parse_signal(text: str) -> int:
    """A signal as runc's `kill` takes it: a number, a name (KILL) or a SIG-name (SIGKILL), any case."""
    value = text.strip()
    if value.isdigit():
        number = int(value)
        # 0 sends nothing but tells whether init is alive: engines probe with it, as with runc.
        if not 0 <= number <= SIGRTMAX:
            raise ValueError(f"invalid signal number: {value}")
        return number
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    rt = _parse_realtime(name)
    if rt is not None:
        return rt
    try:
        return SIGNALS[name]
    except KeyError:
        raise ValueError(f"unknown signal {text!r}") from None


def _parse_realtime(name: str) -> int | None:
    """SIGRTMIN+3 and SIGRTMAX-2 forms."""
    for base_name, base, sign in (("SIGRTMIN", SIGRTMIN, 1), ("SIGRTMAX", SIGRTMAX, -1)):
        if name == base_name:
            return base
        for op in ("+", "-"):
            prefix = base_name + op
            if name.startswith(prefix) and name[len(prefix) :].isdigit():
                offset = int(name[len(prefix) :]) * (1 if op == "+" else -1)
                number = base + offset
                if sign * offset >= 0 and SIGRTMIN <= number <= SIGRTMAX:
                    return number
    return None
