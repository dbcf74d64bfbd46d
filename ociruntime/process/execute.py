"""The last steps every container process takes, init and each `exec`'d process alike: become the
configured user with the configured capabilities and limits, then exec the program (or, for an init
whose wait the exec stub takes over, process/waiter.py, hand over to the stub).

The order is the kernel's: attributes that need privilege first, the bounding set while still
privileged, ids with capabilities kept across setuid, the final capability sets, no_new_privs, then the
seccomp filter as late as possible (with no_new_privs only the exec itself runs under it; without, it
needs CAP_SYS_ADMIN and is loaded before the capabilities drop), and execve. A failure raises; the
caller decides who hears about it (init: `create` over the channel, or `start` through exec.result;
exec: the waiting runtime).
"""

from __future__ import annotations

import os
import stat

from ociruntime import errors, signals
from ociruntime.linux import identity, libc
from ociruntime.spec.model import DEFAULT_PATH

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    # The optional parts of a plan, as this module uses them. Their modules (linux/seccomp, lsm,
    # attributes) are imported by `create` and `exec` only for a config that needs them, and never here.
    from collections.abc import Mapping
    from typing import Any, NoReturn, Protocol

    from ociruntime.linux.execstub import ExecStub
    from ociruntime.spec.capabilities import CapabilitySets
    from ociruntime.spec.model import Process

    class SeccompProgram(Protocol):
        """A filter compiled in the parent before forking (ociruntime.linux.seccomp); only loaded here."""

        def load(self, state: Mapping[str, Any] | None = None, pid: int | None = None) -> None:
            """Install the filter; with a notify listener, send it `state` and the notify fd (`pid`: the
            loading process as the runtime sees it, default the state's pid)."""

        def inherited_fds(self) -> tuple[int, ...]:
            """Fds (the listener connection) that must survive closing the runtime's fds until `load`."""

        def close(self) -> None:
            """Close the parent's copies of those fds once the container process has been forked."""

    class ProcessLabels(Protocol):
        """AppArmor profile and SELinux label for the next execve (ociruntime.linux.lsm)."""

        def apply(self) -> None: ...

    class ProcessAttributes(Protocol):
        """rlimits, oom_score_adj, scheduler, I/O priority, personality, CPU affinity and memory policy."""

        def apply(self) -> None: ...

        def before_exec(self) -> None:
            """What must come last (execCPUAffinity.final)."""


class ProcessPlan:
    """Everything `become_and_exec` needs, resolved in the parent."""

    __slots__ = (
        "process", "capabilities", "last_cap", "preserve_fds", "seccomp", "attributes", "labels", "exec_stub",
    )  # fmt: skip

    def __init__(
        self,
        process: Process,
        capabilities: CapabilitySets | None,
        last_cap: int,
        preserve_fds: int = 0,
        seccomp: SeccompProgram | None = None,
        attributes: ProcessAttributes | None = None,
        labels: ProcessLabels | None = None,
        exec_stub: ExecStub | None = None,
    ) -> None:
        self.process = process
        self.capabilities = capabilities
        self.last_cap = last_cap
        self.preserve_fds = preserve_fds
        self.seccomp = seccomp
        self.attributes = attributes
        self.labels = labels
        self.exec_stub = exec_stub  # made in the parent; see linux/execstub.py


class StepFailed(Exception):
    """An exception from a named step, so the report can say where it happened."""

    def __init__(self, step: str, cause: BaseException) -> None:
        self.step = step
        self.cause = cause
        super().__init__(f"{step}: {describe(cause)}")


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename else reason
    return str(exc)


def become_and_exec(
    plan: ProcessPlan,
    *,
    keep_fd: int | None = None,
    console_fd: int | None = None,
    state: Mapping[str, Any] | None = None,
) -> NoReturn:
    """`keep_fd` (close-on-exec) stays open until execve: the caller's way to learn that exec happened.
    `console_fd`, a pty slave, becomes stdio and the controlling terminal of a new session.
    `state`, the container's state document, goes to a seccomp notify listener."""
    program, env = become(plan, console_fd=console_fd, state=state)
    step = "exec"
    try:
        keep: tuple[int, ...] = (keep_fd,) if keep_fd is not None else ()
        if plan.exec_stub is not None:
            keep += (plan.exec_stub.fd,)
        if plan.seccomp is not None and plan.process.no_new_privileges:
            keep += plan.seccomp.inherited_fds()
        close_inherited_fds(3 + plan.preserve_fds, *keep)
        if plan.seccomp is not None and plan.process.no_new_privileges:
            step = "seccomp"
            plan.seccomp.load(state)
            step = "exec"
        args = list(plan.process.args)
        if plan.exec_stub is not None:
            os.execve(plan.exec_stub.fd, plan.exec_stub.argv(program, args), env)
        os.execve(program, args, env)
    except BaseException as exc:  # noqa: BLE001 - re-raised with the step that failed
        raise StepFailed(step, exc) from exc


def become(
    plan: ProcessPlan, *, console_fd: int | None = None, state: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, str]]:
    """Every step before closing the runtime's fds and exec: returns the program's path and environment.

    A seccomp filter is loaded here only without no_new_privileges (the caller loads it otherwise, as
    late as it can). Raises StepFailed."""
    process = plan.process
    caps = plan.capabilities
    step = "terminal"
    try:
        if console_fd is not None:
            from ociruntime.linux import console  # loaded before the fork (spawn.preload_modules)

            console.make_controlling_terminal(console_fd)
        step = "process attributes"
        if plan.attributes is not None:
            plan.attributes.apply()
        if plan.labels is not None:
            step = "LSM labels"
            plan.labels.apply()
        if plan.seccomp is not None and not process.no_new_privileges:
            # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before dropping it.
            step = "seccomp"
            plan.seccomp.load(state)
        if caps is not None:
            step = "capabilities"
            identity.drop_bounding(caps, plan.last_cap)
        step = "user"
        identity.set_user(process.user, set_groups=may_set_groups(), keep_caps=caps is not None)
        if caps is not None:
            step = "capabilities"
            identity.apply_capabilities(caps)
        if process.no_new_privileges:
            step = "noNewPrivileges"
            identity.set_no_new_privs()
        if process.user.umask is not None:
            os.umask(process.user.umask)
        step = "cwd"
        os.chdir(process.cwd)
        step = "exec"
        program = find_program(process)
        env = env_dict(process.env)
        if "HOME" not in env:
            env["HOME"] = home_of(process.user.uid)
        # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive exec, handled ones do not.
        signals.set_handler(signals.SIGPIPE, signals.SIG_DFL)
        signals.set_handler(signals.SIGXFSZ, signals.SIG_DFL)
        if plan.attributes is not None:
            step = "process attributes"
            plan.attributes.before_exec()
    except BaseException as exc:  # noqa: BLE001 - re-raised with the step that failed
        raise StepFailed(step, exc) from exc
    return program, env


def close_inherited_fds(first: int, *keep: int) -> None:
    """Close every fd from `first` up, except those in `keep` (all close-on-exec): nothing of the
    runtime reaches the program."""
    for fd in sorted(k for k in set(keep) if k >= first):
        if fd > first:
            libc.close_range(first, fd - 1)
        first = fd + 1
    libc.close_range(first)


def report_failure(fd: int, message: str) -> None:
    """Best effort: tell whoever waits on `fd` why the program did not start."""
    try:
        os.write(fd, message.encode(errors="replace")[:4000])
    except OSError:
        pass


def home_of(uid: int) -> str:
    """HOME for a process whose env lacks it: its /etc/passwd entry in the container, else "/" (runc's rule)."""
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f:
                fields = line.decode(errors="replace").rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def find_program(process: Process) -> str:
    """args[0] resolved like execvp would, with the container's PATH (or the usual default)."""
    name = process.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(process.cwd, name)]
    else:
        search = process.env_value("PATH")
        directories = (search if search is not None else DEFAULT_PATH).split(":")
        candidates = [os.path.join(d or ".", name) for d in directories]
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return path
    where = "" if "/" in name else " in $PATH"
    raise errors.RuntimeFailure(f'"{name}": executable file not found{where}')


def may_set_groups() -> bool:
    """setgroups(2) is refused in a user namespace whose setgroups file says deny (rootless maps)."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            result[key] = value
    return result
