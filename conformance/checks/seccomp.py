"""config-linux.md Seccomp: invalid profiles, and the listener (SCMP_ACT_NOTIFY) protocol."""

from __future__ import annotations

import array
import json
import os
import socket
import threading
from typing import Any

from conformance.harness import Ctx, check, expect, fail


def profile(**extra: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", **extra}


@check("seccomp.errnoret-unsupported")
def errnoret_unsupported(ctx: Ctx) -> None:
    """defaultErrnoRet / errnoRet on an action that takes no errno fails create."""
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(defaultErrnoRet=1)
    ctx.expect_create_error(c, "defaultErrnoRet with SCMP_ACT_ALLOW")
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(syscalls=[{"names": ["acct"], "action": "SCMP_ACT_LOG", "errnoRet": 1}])
    ctx.expect_create_error(c, "errnoRet with SCMP_ACT_LOG")


@check("seccomp.names-empty")
def names_empty(ctx: Ctx) -> None:
    """A syscalls entry with an empty names list fails create."""
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(syscalls=[{"names": [], "action": "SCMP_ACT_ERRNO"}])
    ctx.expect_create_error(c, "syscalls[].names empty")


@check("seccomp.metadata-without-listener")
def metadata_without_listener(ctx: Ctx) -> None:
    """listenerMetadata without listenerPath fails create."""
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(
        listenerMetadata="x", syscalls=[{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]
    )
    ctx.expect_create_error(c, "listenerMetadata without listenerPath")


class Agent:
    """A seccomp agent on an AF_UNIX SOCK_STREAM socket recording every connection it gets."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(15)
        self.connections: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            while True:
                conn, _ = self.sock.accept()
                self.connections.append(self.read(conn))
        except OSError:
            return

    @staticmethod
    def read(conn: socket.socket) -> dict[str, Any]:
        conn.settimeout(10)
        chunks: list[bytes] = []
        fds_per_message: list[int] = []
        fd_size = array.array("i").itemsize
        while True:
            data, ancdata, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(16 * fd_size))
            fds = array.array("i")
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fd_size])
            fds_per_message.append(len(fds))
            for fd in fds:
                os.close(fd)
            if not data:
                break
            chunks.append(data)
        conn.close()
        return {"payload": b"".join(chunks), "fds": fds_per_message}

    def close(self) -> None:
        self.sock.close()


@check("seccomp.listener")
def listener(ctx: Ctx) -> None:
    """With SCMP_ACT_NOTIFY, the runtime connects to listenerPath once and sends one JSON state plus the fd."""
    path = str(ctx.dir / "agent.sock")
    agent = Agent(path)
    ctx.cleanups.append(agent.close)
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(
        listenerPath=path,
        listenerMetadata="conformance-meta",
        syscalls=[{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}],
    )
    c.create()
    c.start()
    c.probe()
    expect(len(agent.connections) == 1, f"{len(agent.connections)} connections to the listener, not 1")
    conn = agent.connections[0]
    try:
        message = json.loads(conn["payload"])
    except ValueError:
        fail(f"the payload is not one JSON document: {conn['payload'][:200]!r}")
    for key in ("ociVersion", "pid", "state"):
        expect(key in message, f"the container process state has no {key!r}")
    expect(message.get("fds") == ["seccompFd"], f"fds is {message.get('fds')!r}, not ['seccompFd']")
    expect(message.get("metadata") == "conformance-meta", f"metadata is {message.get('metadata')!r}")
    expect(message["state"].get("id") == c.id, "the embedded state is not this container's")
    expect(
        conn["fds"] and conn["fds"][0] == 1 and sum(conn["fds"]) == 1,
        f"file descriptors per message: {conn['fds']} (want exactly one, in the first message)",
    )


@check("seccomp.listener-unreachable")
def listener_unreachable(ctx: Ctx) -> None:
    """If the listener cannot be reached, create fails and leaves nothing."""
    c = ctx.container()
    c.config["linux"]["seccomp"] = profile(
        listenerPath=str(ctx.dir / "nobody-listens.sock"),
        syscalls=[{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}],
    )
    ctx.expect_create_error(c, "a listenerPath nobody listens on")
