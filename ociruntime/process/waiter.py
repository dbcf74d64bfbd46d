"""A created container waits for `start` in the exec stub, not in the Python init.

Between `create` and `start` a container's init only waits. Waiting as the runtime's Python process
costs 9-10 MB of PSS per created container (the interpreter and create's heap, inherited at fork;
bench/RESULTS.md), where the stub's waiting mode (linux/execstub.py) holds a few pages. So init does
what runc's init does before its wait (process attributes, user and groups, capabilities,
no_new_privs, cwd, finding the program), reports READY, and execs the stub, which waits on exec.fifo,
loads the seccomp filter if there is one (as late as the Python init would), and execs the program.

Failures of those steps therefore fail `create`, as they do with runc, not `start`. What remains for
`start` to hear about (the filter refused, the exec itself failed) the stub writes to exec.result as a
binary report (execstub.describe_report words it).

A seccomp filter is loaded as late as each case allows, as the Python init does: with
no_new_privileges, by the stub after `start`'s byte, so only the program's execve runs under it;
without, it needs CAP_SYS_ADMIN, so init loads it before dropping capabilities and the stub then
waits under it, as runc's init does in both cases. The filter then judges the stub's syscalls (prctl,
rt_sigaction, rt_sigprocmask, read, close, fcntl, execve) as it judged init's steps after loading it
(ids, capabilities, cwd, reading /etc/passwd, closing fds, execveat); a profile that refuses them
stops the container before `start` can release it, as it stops runc's.

The Python init keeps waiting when the stub could not do what it would do after `start`:
- startContainer hooks run in init after `start`;
- a seccomp notify listener must be sent the listener fd when the filter is loaded;
- an LSM label applies to the next execve, which would be the stub's rather than the program's;
- no stub exists for the machine (only x86-64 has one).

Between the execve of the stub and its first instruction, prctl(PR_SET_DUMPABLE, 0), the process is
dumpable again: for that moment a process of the same user with at least its capabilities could
open its fds (exec.fifo, exec.result) through /proc. Neither leads anywhere on the host (both are
fifos in the 0700 state directory); tests/integration/test_security.py checks the waiting process
is not dumpable.
"""

from __future__ import annotations

import os

from ociruntime import signals
from ociruntime.process.execute import close_inherited_fds, report_failure

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
    if (config.get("hooks") or {}).get("startContainer"):
        return False
    return plan.seccomp is None or not plan.seccomp.notifies


class Waiter:
    """The stub's exec, prepared before READY (so that a failure still fails `create`)."""

    def __init__(self, plan: ProcessPlan, program: str, env: dict[str, str], fifo_fd: int, result_fd: int) -> None:
        from ociruntime.linux.execstub import sealed_memfd

        assert plan.exec_stub is not None
        self.plan = plan
        self.env = env
        self.result_fd = result_fd
        # The fds the stub is handed: everything else of the runtime's is closed before its exec.
        self.passed = [fifo_fd, result_fd]
        seccomp = None
        if plan.seccomp is not None and plan.process.no_new_privileges:  # else `become` loaded it
            memfd = sealed_memfd("ociruntime-seccomp", plan.seccomp.program)
            self.passed.append(memfd)
            seccomp = (memfd, plan.seccomp.instructions, plan.seccomp.flags)
        self.argv = plan.exec_stub.wait_argv(fifo_fd, result_fd, seccomp, program, list(plan.process.args))

    def exec(self) -> NoReturn:
        """Close every fd of the runtime's but the stub's, and exec it; never returns."""
        stub = self.plan.exec_stub
        assert stub is not None
        try:
            # Blocked until the stub has its handlers: a signal sent meanwhile waits instead of being
            # ignored (PID 1 without a handler) or ending us before the stub takes over.
            signals.pthread_sigmask(signals.SIG_BLOCK, ENDING_SIGNALS)
            close_inherited_fds(3 + self.plan.preserve_fds, stub.fd, *self.passed)
            for fd in self.passed:
                os.set_inheritable(fd, True)
            os.execve(stub.fd, self.argv, self.env)
        except OSError as exc:
            report_failure(self.result_fd, f"exec: {exc}")
        os._exit(127)
