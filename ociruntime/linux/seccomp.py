"""linux.seccomp → a BPF program compiled in the parent (libseccomp), loaded in the container process.

`build` runs in `create` before anything is forked: it parses the config (ociruntime.spec.seccomp), asks
the kernel whether it has every action and flag the config uses, lets libseccomp compile the rules to
classic BPF, and, when a rule says SCMP_ACT_NOTIFY, connects to `listenerPath` (a host path: after
pivot_root the container could not reach it). Errors therefore surface before a container exists.

`Filter.load` runs in the container process just before execve. It makes one seccomp(2) call with the
exported program, as runc's patchbpf and crun do, rather than libseccomp's seccomp_load: the child
needs no libseccomp state, libseccomp cannot set no_new_privs behind our back, and every flag the
kernel has (WAIT_KILLABLE_RECV included, which libseccomp 2.5.4 lacks) is passed as it is. With a
notify rule, the listener fd the kernel returns is sent with the container process state over the
connected socket (SCM_RIGHTS), then both are closed. Only sendmsg and close run under the filter
after it is loaded (and execve), which is why SCMP_ACT_NOTIFY on sendmsg is refused.

libseccomp is imported only here, and only when a config has a filter; this module itself is imported
only for a config with linux.seccomp.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import struct

from ociruntime import SPEC_VERSION, errors
from ociruntime.spec import seccomp as plans

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# seccomp(2) operations, <linux/seccomp.h>
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
# __NR_seccomp per machine
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "ppc64le": 358, "s390x": 348, "riscv64": 277}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp(operation: int, flags: int, arg: int | None) -> int:
    number = _SYS_SECCOMP.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"seccomp: unknown syscall number on {os.uname().machine}")
    result = _libc.syscall(ctypes.c_long(number), ctypes.c_uint(operation), ctypes.c_uint(flags), ctypes.c_void_p(arg))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
    return int(result)


def action_available(action: int) -> bool:
    """SECCOMP_GET_ACTION_AVAIL: does this kernel know the action (without its data bits)?"""
    value = ctypes.c_uint32(action)
    try:
        _seccomp(SECCOMP_GET_ACTION_AVAIL, 0, ctypes.addressof(value))
    except OSError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL):
            return False
        raise
    return True


def flag_available(flag: int) -> bool:
    """A filter flag the kernel knows fails with EFAULT on a NULL program; an unknown one with EINVAL."""
    if flag == plans.FLAGS["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]:
        flag |= plans.SECCOMP_FILTER_FLAG_NEW_LISTENER  # refused on its own
    try:
        _seccomp(SECCOMP_SET_MODE_FILTER, flag, None)
    except OSError as e:
        return e.errno == errno.EFAULT
    return False  # pragma: no cover - cannot succeed without a program


class Filter:
    """A compiled program, the flags to load it with, and the listener connection if it notifies."""

    def __init__(self, plan: plans.SeccompPlan, program: bytes, listener: socket.socket | None = None) -> None:
        if len(program) % 8 or not 0 < len(program) // 8 <= 0xFFFF:
            raise errors.RuntimeFailure(f"seccomp: libseccomp produced a program of {len(program)} bytes")
        self.plan = plan
        self.program = program
        self.listener = listener
        # Prepared now, so that loading in the child is a single syscall on ready memory.
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(len(program) // 8, ctypes.addressof(self._buffer))

    @property
    def instructions(self) -> int:
        return len(self.program) // 8

    def inherited_fds(self) -> tuple[int, ...]:
        """Fds the container process must keep until `load` (closing every other fd skips these)."""
        return (self.listener.fileno(),) if self.listener is not None else ()

    def close(self) -> None:
        """The parent's copy of the listener connection, once the container process has its own."""
        if self.listener is not None:
            self.listener.close()

    def load(self, state: Mapping[str, Any] | None = None, pid: int | None = None) -> None:
        """Install the filter on this process; with a listener, hand the notify fd over and close it.

        `state` is the container's state document; `pid` the loading process as the runtime sees it
        (default: state's pid, i.e. init's).
        """
        payload = self._process_state(state, pid) if self.listener is not None else b""
        notify_fd = _seccomp(SECCOMP_SET_MODE_FILTER, self.plan.load_flags, ctypes.addressof(self._fprog))
        if self.listener is None:
            return
        # Under the filter from here on: only sendmsg and close.
        try:
            self.listener.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", notify_fd))])
        except OSError as e:
            raise OSError(e.errno, f"seccomp listener {self.plan.listener_path}: {e.strerror}") from None
        finally:
            os.close(notify_fd)
            self.listener.close()

    def _process_state(self, state: Mapping[str, Any] | None, pid: int | None) -> bytes:
        """config-linux.md "The Container Process State"."""
        if state is None:
            raise errors.RuntimeFailure("seccomp listener: the container state was not passed to the process")
        doc: dict[str, Any] = {
            "ociVersion": SPEC_VERSION,
            "fds": ["seccompFd"],
            "pid": int(state.get("pid", 0)) if pid is None else pid,
            "state": dict(state),
        }
        if self.plan.listener_metadata:
            doc["metadata"] = self.plan.listener_metadata
        return json.dumps(doc, separators=(",", ":")).encode()


def build(doc: Mapping[str, Any] | None) -> Filter | None:
    """Parse, check against the kernel, compile; None when the config has no filter."""
    plan = plans.parse_seccomp(doc)
    if plan is None:
        return None
    check_kernel(plan)
    program = compile_program(plan)
    listener = connect_listener(plan.listener_path) if plan.uses_notify and plan.listener_path else None
    return Filter(plan, program, listener)


def check_kernel(plan: plans.SeccompPlan) -> None:
    names = {value: name for name, value in plans.ACTIONS.items()}
    for action in sorted(plan.actions):
        if not action_available(action):
            raise errors.NotSupported("linux.seccomp", f"this kernel does not support {names[action]}")
    for name, flag in plans.FLAGS.items():
        if plan.flags & flag and not flag_available(flag):
            raise errors.NotSupported("linux.seccomp.flags", f"this kernel does not support {name}")


def _signed32(value: int) -> int:
    """libseccomp's Python binding takes actions and architectures as C ints."""
    return value - (1 << 32) if value & 0x80000000 else value


def compile_program(plan: plans.SeccompPlan) -> bytes:
    """The filter as libseccomp exports it (classic BPF, `struct sock_filter` array)."""
    import seccomp as libseccomp

    flt = libseccomp.SyscallFilter(_signed32(plan.default_action))
    for arch in plan.architectures:
        try:
            if not flt.exist_arch(_signed32(arch)):
                flt.add_arch(_signed32(arch))
        except (ValueError, RuntimeError):
            name = next(n for n, v in plans.ARCHITECTURES.items() if v == arch)
            raise errors.NotSupported("linux.seccomp.architectures", f"{name} is unknown to libseccomp") from None
    if plan.optimize:
        flt.set_attr(libseccomp.Attr.CTL_OPTIMIZE, 2)
    skipped: list[str] = []
    for rule in plan.rules:
        number = libseccomp.resolve_syscall(libseccomp.Arch.NATIVE, rule.name)
        if number == -1:
            # Unknown to this libseccomp (a newer syscall, or another architecture's): skip it, like runc.
            if rule.name not in skipped:
                skipped.append(rule.name)
            continue
        args = [libseccomp.Arg(c.index, c.op, c.value, c.value_two) for c in rule.conditions]
        try:
            flt.add_rule(_signed32(rule.action), number, *args)
        except RuntimeError as e:
            raise errors.ConfigInvalid(
                "linux.seccomp.syscalls", f"libseccomp refused the rule for {rule.name}: {e}"
            ) from None
    if skipped:
        _debug(f"seccomp: syscalls unknown to libseccomp are skipped: {', '.join(skipped)}")
    memfd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
    with os.fdopen(memfd, "w+b") as out:
        flt.export_bpf(out)
        out.seek(0)
        return out.read()


def connect_listener(path: str) -> socket.socket:
    """The spec's listener: AF_UNIX, SOCK_STREAM, one connection per container process state."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise errors.RuntimeFailure(f"seccomp listener {path}: {e.strerror}") from None
    return sock


def _debug(message: str) -> None:
    try:
        from ociruntime.cli import log

        log.debug(message)
    except Exception:  # noqa: BLE001 - a debug line is never worth failing create
        pass
