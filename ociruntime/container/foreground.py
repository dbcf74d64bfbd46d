"""A foreground `run` or `exec`: the runtime waits for the container's process, passes on the signals
it gets, and exits with the process's status. Apart from `run` so that `exec` need not load `create`."""

from __future__ import annotations

import os

from ociruntime import signals
from ociruntime.linux.sockets import recv_fds

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.linux.sockets import Socket

# Signals a foreground `run` passes on to the container, as runc's signal proxy does.
FORWARDED_SIGNALS = (
    signals.SIGHUP,
    signals.SIGINT,
    signals.SIGQUIT,
    signals.SIGTERM,
    signals.SIGUSR1,
    signals.SIGUSR2,
    signals.SIGWINCH,
    signals.SIGCONT,
    signals.SIGALRM,
)


def receive_master(sock: Socket | None) -> int | None:
    """The pty master a container process sent over our end of the console socket pair."""
    if sock is None:
        return None
    _, fds = recv_fds(sock, 1024, 1)
    return fds[0] if fds else None


def wait_forwarding_signals(pid: int) -> int:
    """Wait for our child `pid`, passing on the signals we get, as runc's signal proxy does."""
    previous = {sig: signals.set_handler(sig, lambda s, _f: _forward(pid, s)) for sig in FORWARDED_SIGNALS}
    try:
        return _wait(pid)
    finally:
        for sig, handler in previous.items():
            signals.set_handler(sig, handler)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return exit_status(status)


def exit_status(status: int) -> int:
    """Exit status the shell way: the code, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
