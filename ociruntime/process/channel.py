"""Typed messages between the runtime (parent), the intermediate process and the container's init.

They talk over one AF_UNIX SOCK_SEQPACKET socketpair (message boundaries kept, fds by SCM_RIGHTS).
Every message is a small JSON object with a `type` from `Msg`; the exchange, in order:

    sender        message            payload             meaning / what the receiver does
    ------------  -----------------  ------------------  ----------------------------------------------
    parent        GO                 -                   intermediate is in the container's cgroups
    intermediate  USERNS_READY       -                   new user ns made: parent writes the id maps
    parent        MAPS_WRITTEN       -                   intermediate may use its new ids
    intermediate  INIT_PID           pid                 init forked (host pid); intermediate exits
    init          CREATE_RUNTIME     -                   namespaces and mounts are set up: parent runs
                                                         prestart and createRuntime hooks
    parent        CONTINUE           state               init goes on: createContainer hooks (reading
                                                         `state` on stdin), pivot_root, ...
    init          READY              -                   the container is set up: the Python init waits
                                                         on exec.fifo, create may return; or (stub
                                                         waits) init takes its last steps, see below
    any child     ERROR              step, errno, msg    setup failed at `step`; the parent rolls back

After READY nothing more is said on the socket but a possible ERROR. The Python init closes its end
and waits on exec.fifo. Where the exec stub waits in init's place (process/waiter.py), init keeps
its end (close-on-exec) through its last steps: the parent waits for end-of-file, which the stub's
execve brings, and only then may create return. Any child that hits an exception sends ERROR and
exits; the parent turns ERROR (or the socket closing without READY, or without the stub running)
into `errors.InitFailed`.
"""

from __future__ import annotations

import os

from ociruntime import errors, jsonreader, jsonwriter
from ociruntime.linux import sockets

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

_MAX = 65536
# Characters of a failure report: even with every one escaped as \uXXXX it stays well under _MAX.
_MAX_REPORT = 4096


class Msg:
    """Message types: plain strings rather than an enum, which would cost ~3 ms of import per create."""

    GO = "go"
    USERNS_READY = "userns_ready"
    MAPS_WRITTEN = "maps_written"
    INIT_PID = "init_pid"
    CREATE_RUNTIME = "create_runtime"
    CONTINUE = "continue"
    READY = "ready"
    ERROR = "error"


class Channel:
    def __init__(self, sock: sockets.Socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = sockets.socketpair(sockets.SOCK_SEQPACKET)
        return cls(a), cls(b)

    def send(self, kind: str, fds: list[int] | None = None, **payload: Any) -> None:
        data = jsonwriter.dumps({"type": kind, **payload}).encode()
        if fds:
            sockets.send_fds(self.sock, data, fds)
        else:
            self.sock.send(data)

    def recv(self) -> tuple[str, dict[str, Any], list[int]]:
        """The next message; a closed peer reads as an ERROR saying so."""
        got = self.recv_or_eof()
        if got is None:
            return Msg.ERROR, {"step": "setup", "message": "container process exited during setup", "errno": 0}, []
        return got

    def recv_or_eof(self) -> tuple[str, dict[str, Any], list[int]] | None:
        """The next message, or None once every peer has closed its end (or exec'd, closing it)."""
        data, fds = sockets.recv_fds(self.sock, _MAX, 4)
        if not data:
            return None
        doc = jsonreader.loads(data)
        return str(doc.pop("type")), doc, fds

    def expect(self, kind: str) -> tuple[dict[str, Any], list[int]]:
        """Receive one message that must be `kind`; an ERROR from the child is raised as InitFailed."""
        got, payload, fds = self.recv()
        if got == Msg.ERROR:
            raise errors.InitFailed(
                payload.get("step", "setup"), payload.get("message", "failed"), payload.get("errno", 0)
            )
        if got != kind:
            raise errors.InitFailed("protocol", f"expected {kind}, got {got}")
        return payload, fds

    def report(self, step: str, exc: BaseException) -> None:
        """Tell the parent why setup failed (best effort: the parent may be gone)."""
        code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        message = _describe(exc)
        if len(message) > _MAX_REPORT:
            # A message naming a huge path (a config can hold one) would not fit in one datagram,
            # and the parent could only say that setup died: keep the start, which says what failed.
            message = message[:_MAX_REPORT] + " [...]"
        try:
            self.send(Msg.ERROR, step=step, message=message, errno=code)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()


def failure(payload: dict[str, Any]) -> errors.InitFailed:
    """The parent's exception for an ERROR message."""
    return errors.InitFailed(payload.get("step", "setup"), payload.get("message", "failed"), payload.get("errno", 0))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename else reason
    if isinstance(exc, errors.RuntimeFailure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def wait_for_gate(gate_fd: int) -> None:
    """The intermediate closes the gate once it has announced our pid: only then may we talk.

    No death signal is armed: our parent changes twice during create. If `create` dies, the socket
    tells us at the next exchange (recv reads EOF) and we exit.
    """
    while os.read(gate_fd, 1):
        pass
    os.close(gate_fd)
