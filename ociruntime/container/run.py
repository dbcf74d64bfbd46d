"""`run`: create and start in one call; in the foreground, wait and exit with the container's status."""

from __future__ import annotations

import os
import signal
import socket

from ociruntime.container import lifecycle
from ociruntime.container.create import CreateOptions, create
from ociruntime.process import spawn
from ociruntime.state.store import Store

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


def run(store: Store, container_id: str, options: CreateOptions, *, detach: bool, keep: bool = False) -> int:
    # As a subreaper, init (orphaned when the intermediate exits) becomes our child and we can wait.
    spawn.become_subreaper()
    ours: socket.socket | None = None
    theirs: socket.socket | None = None
    if options.console_socket is None and not detach:
        # Used only if the config asks for a terminal: then we are the console socket's receiver.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        record = create(store, container_id, options, console_sock=theirs)
        master = receive_master(ours) if record.config.get("process", {}).get("terminal") else None
    finally:
        if ours is not None:
            ours.close()
    if master is not None:
        # The program must see the caller's window from its first instruction, so before `start`.
        from ociruntime.container.relay import copy_window_size

        copy_window_size(0, master)
    try:
        lifecycle.start(store, container_id)
    except BaseException:
        if master is not None:
            os.close(master)
        lifecycle.delete(store, container_id, force=True)
        raise
    if detach:
        return 0
    if master is not None:
        from ociruntime.container.relay import relay

        status = relay(master, record.pid)
    else:
        status = wait_forwarding_signals(record.pid)
    if not keep:
        lifecycle.delete(store, container_id, force=True)
    return status


def receive_master(sock: socket.socket | None) -> int | None:
    if sock is None:
        return None
    _, fds, _, _ = socket.recv_fds(sock, 1024, 1)
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
