"""`run`: create and start in one call; in the foreground, wait and exit with the container's status."""

from __future__ import annotations

import os

from ociruntime.container import lifecycle
from ociruntime.container.create import create
from ociruntime.container.foreground import receive_master, wait_forwarding_signals
from ociruntime.linux import sockets
from ociruntime.process import spawn

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.container.create import CreateOptions
    from ociruntime.state.store import Store


def run(store: Store, container_id: str, options: CreateOptions, *, detach: bool, keep: bool = False) -> int:
    # As a subreaper, init (orphaned when the intermediate exits) becomes our child and we can wait.
    spawn.become_subreaper()
    ours: sockets.Socket | None = None
    theirs: sockets.Socket | None = None
    if options.console_socket is None and not detach:
        # Used only if the config asks for a terminal: then we are the console socket's receiver.
        ours, theirs = sockets.socketpair(sockets.SOCK_STREAM)
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
