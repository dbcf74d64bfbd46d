"""A foreground `run` or `exec`: the runtime waits for the container's process, passes on the signals
it gets, and exits with the process's status. Apart from `run` so that `exec` need not load `create`."""

from __future__ import annotations

import os

from ociruntime.linux.sockets import recv_fds

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    import signal

    from ociruntime.linux.sockets import Socket
else:
    # `signal` is the built-in `_signal` wrapped in enums: 3 ms of `import enum` on every call.
    import _signal as signal

# Signals a foreground `run` passes on to the container, as runc's signal proxy does.
FORWARDED_SIGNALS = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGALRM,
)


def receive_master(sock: Socket | None) -> int | None:
    """The pty master a container process sent over our end of the console socket pair."""
    if sock is None:
        return None
    _, fds = recv_fds(sock, 1024, 1)
    return fds[0] if fds else None


def wait_forwarding_signals(pid: int) -> int:
    """Wait for our child `pid`, passing on the signals we get, as runc's signal proxy does."""
    previous = {sig: signal.signal(sig, lambda s, _f: _forward(pid, s)) for sig in FORWARDED_SIGNALS}
    try:
        return _wait(pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
