"""Unix socket pairs and fd passing (SCM_RIGHTS), on the C `_socket` module.

The `socket` module is a Python layer over `_socket`; importing it costs every `create`, `run` and
`exec` ~2 ms (selectors, and enum classes built from every AF_*, SOCK_* and MSG_* constant) for the
two helpers below, which are a few lines each. The sockets are `_socket.socket` objects, the base class
of `socket.socket`: the same methods, without `with` support and `makefile`. Like every socket Python
makes, they are close-on-exec.
"""

from __future__ import annotations

import _socket
import struct

AF_UNIX = _socket.AF_UNIX
AF_INET = _socket.AF_INET
SOCK_STREAM = _socket.SOCK_STREAM
SOCK_DGRAM = _socket.SOCK_DGRAM
SOCK_SEQPACKET = _socket.SOCK_SEQPACKET

Socket = _socket.socket
_FD = struct.Struct("i")


def socketpair(kind: int) -> tuple[Socket, Socket]:
    """A connected pair of AF_UNIX sockets of type `kind` (SOCK_STREAM, SOCK_SEQPACKET)."""
    return _socket.socketpair(AF_UNIX, kind)


def send_fds(sock: Socket, data: bytes, fds: list[int]) -> None:
    """One message carrying `fds` (what socket.send_fds does)."""
    sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, b"".join(_FD.pack(fd) for fd in fds))])


def recv_fds(sock: Socket, bufsize: int, maxfds: int) -> tuple[bytes, list[int]]:
    """One message and the fds it carries, at most `maxfds` (what socket.recv_fds does)."""
    data, ancillary, _flags, _address = sock.recvmsg(bufsize, _socket.CMSG_LEN(maxfds * _FD.size))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            whole = len(payload) - len(payload) % _FD.size
            fds += (fd for (fd,) in _FD.iter_unpack(payload[:whole]))
    return data, fds
