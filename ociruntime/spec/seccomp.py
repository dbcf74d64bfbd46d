"""linux.seccomp → a SeccompPlan: numbers, flags and one entry per libseccomp rule. PURE.

The tables below give every name the spec allows its kernel value (<linux/seccomp.h>, <linux/audit.h>,
libseccomp's <seccomp.h>); `features` reports them as they are. Turning syscall names into numbers
needs libseccomp and is done later, in `ociruntime.linux.seccomp`; names it does not know are skipped
there, as runc does.

Rule shapes follow runc (libcontainer/seccomp/seccomp_linux.go):
- a rule whose action equals the default action is dropped (libseccomp refuses it, and it changes nothing);
- all conditions of one rule must hold together (libseccomp ANDs them), but libseccomp refuses two
  conditions on the same argument in one rule, so when an index repeats, each condition becomes a rule of
  its own (runc's "old behaviour": the conditions are then ORed);
- SCMP_CMP_MASKED_EQ takes `value` as the mask and `valueTwo` as the datum: (arg & value) == valueTwo.
"""

from __future__ import annotations

import errno

from ociruntime.errors import ConfigInvalid
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# <linux/seccomp.h> SECCOMP_RET_* (libseccomp's SCMP_ACT_* have the same values); the low 16 bits of
# ERRNO and TRACE carry the errno / the tracer's message.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_DATA = 0x0000FFFF

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SECCOMP_RET_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_TRAP": SECCOMP_RET_TRAP,
    "SCMP_ACT_ERRNO": SECCOMP_RET_ERRNO,
    "SCMP_ACT_TRACE": SECCOMP_RET_TRACE,
    "SCMP_ACT_ALLOW": SECCOMP_RET_ALLOW,
    "SCMP_ACT_LOG": SECCOMP_RET_LOG,
    "SCMP_ACT_NOTIFY": SECCOMP_RET_USER_NOTIF,
}
# Actions whose low 16 bits carry errnoRet (default EPERM, config-linux.md and runc).
ACTIONS_WITH_ERRNO = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})

# libseccomp's enum scmp_compare
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# libseccomp's SCMP_ARCH_* are <linux/audit.h> AUDIT_ARCH_* values.
ARCHITECTURES: dict[str, int] = {
    "SCMP_ARCH_X86": 0x40000003,
    "SCMP_ARCH_X86_64": 0xC000003E,
    "SCMP_ARCH_X32": 0x4000003E,
    "SCMP_ARCH_ARM": 0x40000028,
    "SCMP_ARCH_AARCH64": 0xC00000B7,
    "SCMP_ARCH_MIPS": 0x00000008,
    "SCMP_ARCH_MIPS64": 0x80000008,
    "SCMP_ARCH_MIPS64N32": 0xA0000008,
    "SCMP_ARCH_MIPSEL": 0x40000008,
    "SCMP_ARCH_MIPSEL64": 0xC0000008,
    "SCMP_ARCH_MIPSEL64N32": 0xE0000008,
    "SCMP_ARCH_PPC": 0x00000014,
    "SCMP_ARCH_PPC64": 0x80000015,
    "SCMP_ARCH_PPC64LE": 0xC0000015,
    "SCMP_ARCH_S390": 0x00000016,
    "SCMP_ARCH_S390X": 0x80000016,
    "SCMP_ARCH_PARISC": 0x0000000F,
    "SCMP_ARCH_PARISC64": 0x8000000F,
    "SCMP_ARCH_RISCV64": 0xC00000F3,
    "SCMP_ARCH_LOONGARCH64": 0xC0000102,
    "SCMP_ARCH_M68K": 0x00000004,
    "SCMP_ARCH_SH": 0x4000002A,
    "SCMP_ARCH_SHEB": 0x0000002A,
}

# <linux/seccomp.h> SECCOMP_FILTER_FLAG_*: the ones config.json may ask for ...
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1 << 0,
    "SECCOMP_FILTER_FLAG_LOG": 1 << 1,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 1 << 2,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 1 << 5,
}
# ... and the ones the runtime adds itself.
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4

# seccomp_data.args has six entries.
MAX_ARGS = 6
# The syscall the runtime itself needs, under the filter, to hand the notify fd to the listener.
NOTIFY_FORBIDDEN = frozenset({"sendmsg"})
# runc's threshold for libseccomp's binary-tree optimisation (SCMP_FLTATR_CTL_OPTIMIZE = 2).
OPTIMIZE_ABOVE = 32


class Condition(Value):
    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, op: int, value: int, value_two: int = 0) -> None:
        self.index = index
        self.op = op
        self.value = value
        self.value_two = value_two


class Rule(Value):
    """One libseccomp rule: `action` when syscall `name` is made and every condition holds."""

    __slots__ = ("name", "action", "conditions")

    def __init__(self, name: str, action: int, conditions: tuple[Condition, ...] = ()) -> None:
        self.name = name
        self.action = action
        self.conditions = conditions


class SeccompPlan(Value):
    __slots__ = ("default_action", "architectures", "flags", "rules", "listener_path", "listener_metadata")

    def __init__(
        self,
        default_action: int,
        architectures: tuple[int, ...],
        flags: int,
        rules: tuple[Rule, ...],
        listener_path: str | None = None,
        listener_metadata: str | None = None,
    ) -> None:
        self.default_action = default_action
        self.architectures = architectures
        self.flags = flags
        self.rules = rules
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata

    @property
    def actions(self) -> frozenset[int]:
        """Every action the filter can return, without its data bits (to ask the kernel about)."""
        used = {self.default_action, *(r.action for r in self.rules)}
        return frozenset(a & ~SECCOMP_RET_DATA for a in used)

    @property
    def uses_notify(self) -> bool:
        return SECCOMP_RET_USER_NOTIF in self.actions

    @property
    def load_flags(self) -> int:
        """The flags for seccomp(SECCOMP_SET_MODE_FILTER): the configured ones plus what notify needs."""
        flags = self.flags
        if not self.uses_notify:
            # The kernel accepts WAIT_KILLABLE_RECV only with a listener; without one it means nothing.
            flags &= ~FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        else:
            flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER
            if flags & FLAGS["SECCOMP_FILTER_FLAG_TSYNC"]:
                # The kernel refuses TSYNC with NEW_LISTENER unless told to report failure as ESRCH.
                flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        return flags

    @property
    def optimize(self) -> bool:
        return len(self.rules) > OPTIMIZE_ABOVE


def action_value(name: str, errno_ret: int | None, where: str, where_action: str | None = None) -> int:
    """The 32-bit return value for action `name`; errno_ret applies to ERRNO and TRACE only.

    `where` is the errno field's path, `where_action` the action's (errors name the field at fault)."""
    base = ACTIONS.get(name)
    if base is None:
        raise ConfigInvalid(where_action or where, f"unknown seccomp action {name!r}")
    if name not in ACTIONS_WITH_ERRNO:
        if errno_ret is not None:
            raise ConfigInvalid(where, f"{name} does not take an errno")
        return base
    value = errno.EPERM if errno_ret is None else errno_ret
    if not 0 <= value <= SECCOMP_RET_DATA:
        # The kernel keeps only 16 bits: 65536 would silently become 0, a fake success.
        raise ConfigInvalid(where, f"errno {value} does not fit the 16 bits seccomp returns")
    return base | value


def parse_seccomp(doc: Mapping[str, Any] | None, where: str = "linux.seccomp") -> SeccompPlan | None:
    """None when there is no filter to load."""
    if doc is None:
        return None
    default_name = doc.get("defaultAction")
    if not isinstance(default_name, str):
        raise ConfigInvalid(f"{where}.defaultAction", "required")
    if default_name == "SCMP_ACT_NOTIFY":
        # libseccomp refuses it, and the runtime could not even send the notify fd under it.
        raise ConfigInvalid(f"{where}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    default = action_value(
        default_name, doc.get("defaultErrnoRet"), f"{where}.defaultErrnoRet", f"{where}.defaultAction"
    )
    architectures = tuple(
        _lookup(ARCHITECTURES, name, f"{where}.architectures[{i}]", "architecture")
        for i, name in enumerate(doc.get("architectures") or ())
    )
    flags = 0
    for i, name in enumerate(doc.get("flags") or ()):
        flags |= _lookup(FLAGS, name, f"{where}.flags[{i}]", "flag")
    rules: list[Rule] = []
    for i, entry in enumerate(doc.get("syscalls") or ()):
        rules.extend(_rules_of(entry, default, f"{where}.syscalls[{i}]"))
    plan = SeccompPlan(
        default_action=default,
        architectures=tuple(dict.fromkeys(architectures)),
        flags=flags,
        rules=tuple(rules),
        listener_path=doc.get("listenerPath") or None,
        listener_metadata=doc.get("listenerMetadata"),
    )
    if plan.uses_notify and not plan.listener_path:
        raise ConfigInvalid(f"{where}.listenerPath", "SCMP_ACT_NOTIFY requires listenerPath")
    return plan


def _lookup(table: Mapping[str, int], name: Any, where: str, what: str) -> int:
    if not isinstance(name, str) or name not in table:
        raise ConfigInvalid(where, f"unknown seccomp {what} {name!r}")
    return table[name]


def _rules_of(entry: Mapping[str, Any], default: int, where: str) -> list[Rule]:
    action_name = entry.get("action")
    if not isinstance(action_name, str):
        raise ConfigInvalid(f"{where}.action", "required")
    action = action_value(action_name, entry.get("errnoRet"), f"{where}.errnoRet", f"{where}.action")
    conditions = [_condition(arg, f"{where}.args[{j}]") for j, arg in enumerate(entry.get("args") or ())]
    names: Sequence[Any] = entry.get("names") or ()
    if not names:
        raise ConfigInvalid(f"{where}.names", "must name at least one syscall")
    for k, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ConfigInvalid(f"{where}.names[{k}]", "a syscall name must be a non-empty string")
        if action_name == "SCMP_ACT_NOTIFY" and name in NOTIFY_FORBIDDEN:
            raise ConfigInvalid(
                f"{where}.names[{k}]", f"SCMP_ACT_NOTIFY cannot be used for {name}: the runtime needs it to send the fd"
            )
    if action == default:
        return []
    indexes = [c.index for c in conditions]
    if len(set(indexes)) == len(indexes):
        groups = [tuple(conditions)]
    else:
        groups = [(c,) for c in conditions]
    return [Rule(name, action, group) for name in names for group in groups]


def _condition(arg: Mapping[str, Any], where: str) -> Condition:
    index = arg.get("index")
    if not isinstance(index, int) or not 0 <= index < MAX_ARGS:
        raise ConfigInvalid(f"{where}.index", f"{index} is not a syscall argument index (0-5)")
    op = _lookup(OPERATORS, arg.get("op"), f"{where}.op", "operator")
    value, value_two = arg.get("value", 0), arg.get("valueTwo", 0)
    for key, number in (("value", value), ("valueTwo", value_two)):
        if not isinstance(number, int) or not 0 <= number < 1 << 64:
            raise ConfigInvalid(f"{where}.{key}", f"{number!r} is not a 64-bit unsigned value")
    return Condition(index, op, value, value_two)
