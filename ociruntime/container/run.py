"""`run`: create and start in one call; in the foreground, wait and exit with the container's status."""

from __future__ import annotations

import os
import signal

from ociruntime.container import lifecycle
from ociruntime.container.create import CreateOptions, create
from ociruntime.process import spawn
from ociruntime.state.store import Store

# Signals a foreground `run` passes on to the container, as runc's signal proxy does.
_FORWARDED = (
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


def run(store: Store, container_id: str, options: CreateOptions, *, detach: bool, keep: bool = False) -> int:
    # As a subreaper, init (orphaned when the intermediate exits) becomes our child and we can wait.
    spawn.become_subreaper()
    record = create(store, container_id, options)
    try:
        lifecycle.start(store, container_id)
    except BaseException:
        lifecycle.delete(store, container_id, force=True)
        raise
    if detach:
        return 0
    previous = {sig: signal.signal(sig, lambda s, _f: _forward(record.pid, s)) for sig in _FORWARDED}
    try:
        status = _wait(record.pid)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not keep:
        lifecycle.delete(store, container_id, force=True)
    return status


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait(pid: int) -> int:
    """Exit status the shell way: the code, or 128 + the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
