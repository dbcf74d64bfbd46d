"""Terminals: a pty from the container's own devpts, its master handed over --console-socket.

runc's protocol, which conmon and containerd's shim speak: connect to the unix socket the caller gave
(a stream socket; a seqpacket one is accepted too), send one message whose payload is the pty's name
and which carries the master fd with SCM_RIGHTS. The slave becomes the process's stdio and controlling
terminal; for init it is also bind-mounted on /dev/console.

Imported only for a process with a terminal (see ociruntime.process.spawn.preload_modules).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import struct
import termios

from ociruntime import abi, errors
from ociruntime.linux import libc

_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_TIOCSCTTY = 0x540E


class Pty:
    __slots__ = ("master", "slave", "slave_path")

    def __init__(self, master: int, slave: int, slave_path: str) -> None:
        self.master = master
        self.slave = slave
        self.slave_path = slave_path


def connect_socket(path: str) -> socket.socket:
    """Connect early, in the parent, so that a missing or dead socket fails before anything is made."""
    last: OSError | None = None
    for kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
        sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
            return sock
        except OSError as e:
            sock.close()
            last = e
            if e.errno != errno.EPROTOTYPE:
                break
    reason = last.strerror if last is not None and last.strerror else str(last)
    raise errors.RuntimeFailure(f"--console-socket {path}: cannot connect: {reason}")


def open_pty(ptmx_path: str, pts_dir: str) -> Pty:
    """Allocate a pty from the devpts instance that `ptmx_path` belongs to."""
    master = os.open(ptmx_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0\0\0\0"))[0]
        slave_path = os.path.join(pts_dir, str(number))
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except BaseException:
        os.close(master)
        raise
    return Pty(master, slave, slave_path)


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def send_master(sock: socket.socket, master: int) -> None:
    socket.send_fds(sock, [b"/dev/ptmx"], [master])


def hand_over(sock_fd: int, ptmx_path: str, pts_dir: str, size: dict[str, int] | None) -> Pty:
    """Allocate a pty, size it, send its master over the (connected) console socket; the caller keeps
    the slave. The master and the socket are closed here: the receiver owns the terminal now."""
    pty = open_pty(ptmx_path, pts_dir)
    try:
        if size:
            set_size(pty.master, size.get("height", 0), size.get("width", 0))
        with socket.socket(fileno=sock_fd) as sock:
            send_master(sock, pty.master)
    finally:
        os.close(pty.master)
    return pty


def bind_console(slave_path: str, console_path: str) -> None:
    """Make /dev/console the container's terminal (the slave bind-mounted on an existing file)."""
    libc.mount(slave_path, console_path, None, abi.MS_BIND)


def make_controlling_terminal(slave: int) -> None:
    """New session with the slave as controlling terminal and as fds 0, 1 and 2."""
    os.setsid()
    fcntl.ioctl(slave, _TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)
