"""A created container waits for `start` in the exec stub, not in the Python init.

Between `create` and `start` a container's init only waits. Waiting as the runtime's Python process
costs 9-10 MB of PSS per created container (the interpreter and create's heap, inherited at fork;
bench/RESULTS.md), where the stub's waiting mode (linux/execstub.py) holds a few pages. So, once the
container is set up and READY is sent, init does what runc's init does before its wait: process
attributes, user and groups, capabilities, no_new_privs, cwd, finding the program, the seccomp filter,
closing the runtime's fds. Then it execs the stub, which waits on exec.fifo and execs the program.

`create` waits until init's end of the channel closes: the stub closes it once it is set up, or it
closes at an exit. So a failure of any of those steps still fails `create`, as it does with runc,
where it used to fail `start`. What remains for `start` to hear about (the exec itself failed) the
stub writes to exec.result as a binary report (execstub.describe_report words it).

The seccomp filter is loaded before the stub's execve, as runc's init loads it before its wait: the
stub's own syscalls (execveat, prctl, rt_sigaction, rt_sigprocmask, read, close, fcntl, execve) run
under it. Loading it in the stub after the wait would judge fewer, but would leave the stub unfiltered
for the instant between its execve and its prctl(PR_SET_DUMPABLE, 0), when a process of the same user
and capabilities could ptrace it (and keep it): the filter must already be there. That instant does
not exist in fact: the stub's memfd is execute-only and init execs it without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH in its effective set, so the kernel makes it non-dumpable at the execve itself.

The Python init keeps waiting when the stub could not do what it would do after `start`:
- startContainer hooks run in init after `start`;
- an LSM label applies to the next execve, which would be the stub's rather than the program's;
- no stub exists for the machine (only x86-64 has one).
"""

from __future__ import annotations

import os

from ociruntime import signals
from ociruntime.linux import identity
from ociruntime.process.execute import StepFailed, close_inherited_fds

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, NoReturn

    from ociruntime.process.execute import ProcessPlan

# Signals that end a container still waiting for `start`, as they would end any program that has not
# set handlers. PID 1 of a namespace ignores signals it has no handler for, so both the Python init
# and the stub install ones (the stub's table, `ending_signals`, lists the same six).
ENDING_SIGNALS = (signals.SIGHUP, signals.SIGINT, signals.SIGQUIT, signals.SIGUSR1, signals.SIGUSR2, signals.SIGTERM)


def usable(plan: ProcessPlan, config: Mapping[str, Any]) -> bool:
    """Whether the stub can wait for this container (see the module docstring for why not)."""
    stub = plan.exec_stub
    if stub is None or not stub.can_wait or plan.labels is not None:
        return False
    return not (config.get("hooks") or {}).get("startContainer")


def exec_waiter(
    plan: ProcessPlan,
    program: str,
    env: dict[str, str],
    fifo_fd: int,
    result_fd: int,
    channel_fd: int,
    state: Mapping[str, Any],
) -> NoReturn:
    """After `execute.become`: close every fd of the runtime's but the stub's own, load the filter (with
    no_new_privileges; `become` loaded it otherwise) and exec the stub. Raises StepFailed.

    `channel_fd` is handed to the stub, which closes it once its signal handlers are in: that
    end-of-file tells `create` that the stub waits."""
    stub = plan.exec_stub
    assert stub is not None
    nnp_seccomp = plan.seccomp if plan.seccomp is not None and plan.process.no_new_privileges else None
    step = "exec"
    try:
        # Blocked until the stub has its handlers: a signal sent meanwhile waits instead of being
        # ignored (PID 1 without a handler) or ending us before the stub takes over.
        signals.pthread_sigmask(signals.SIG_BLOCK, ENDING_SIGNALS)
        keep: tuple[int, ...] = (stub.fd, channel_fd, fifo_fd, result_fd)
        if nnp_seccomp is not None:
            keep += nnp_seccomp.inherited_fds()
        close_inherited_fds(3 + plan.preserve_fds, *keep)
        for fd in (channel_fd, fifo_fd, result_fd):  # the stub's: past its execve
            os.set_inheritable(fd, True)
        argv = stub.wait_argv(channel_fd, fifo_fd, result_fd, program, list(plan.process.args))
        # execve leaves a process dumpable if it may read its program, and the stub's memfd is
        # execute-only: without these two in its effective set (execve gives them back), the stub is
        # not dumpable even for the instant before its prctl.
        identity.lower_effective((identity.CAP_DAC_OVERRIDE, identity.CAP_DAC_READ_SEARCH))
        if nnp_seccomp is not None:
            step = "seccomp"
            nnp_seccomp.load(state)
            step = "exec"
        os.execve(stub.fd, argv, env)
    except BaseException as exc:  # noqa: BLE001 - re-raised with the step that failed
        raise StepFailed(step, exc) from exc
