"""Foreground `run`/`exec` with a terminal and no --console-socket: the runtime itself holds the pty
master and relays between it and the caller's stdio (raw mode and window size when that is a tty)."""

from __future__ import annotations

import contextlib
import os
import select
import termios
import tty

from ociruntime import signals
from ociruntime.container.foreground import FORWARDED_SIGNALS, exit_status
from ociruntime.linux import console

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Iterator


def relay(master: int, pid: int) -> int:
    """Copy stdin → master and master → stdout until the terminal closes; return pid's exit status."""
    with _raw_stdin(master), _forwarding(pid, master):
        _copy_loop(master)
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return exit_status(status)


def _copy_loop(master: int) -> None:
    sources = [master, 0]
    while True:
        try:
            ready, _, _ = select.select(sources, [], [])
        except InterruptedError:
            continue
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave fd is closed, the container is done with the terminal
                return
            if not data:
                return
            _write_all(1, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                sources.remove(0)  # stdin closed; keep showing output until the program is done
                continue
            _write_all(master, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def copy_window_size(tty: int, master: int) -> None:
    """Give the pty the caller's window size, when the caller has a terminal."""
    if os.isatty(tty):
        with contextlib.suppress(OSError):
            console.set_size(master, *console.get_size(tty))


@contextlib.contextmanager
def _raw_stdin(master: int) -> Iterator[None]:
    if not os.isatty(0):
        yield
        return
    saved = termios.tcgetattr(0)
    with contextlib.suppress(OSError):
        console.set_size(master, *console.get_size(0))
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _forwarding(pid: int, master: int) -> Iterator[None]:
    def forward(sig: int, _frame: object) -> None:
        if sig == signals.SIGWINCH and os.isatty(0):
            with contextlib.suppress(OSError):
                console.set_size(master, *console.get_size(0))
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    previous = {sig: signals.set_handler(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signals.set_handler(sig, handler)
