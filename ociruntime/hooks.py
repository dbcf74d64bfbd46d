"""Running runtime-spec hooks: `path` with `args` and `env`, the state JSON on stdin, an optional timeout.

Which phase runs where (runtime-spec config.md "POSIX-platform Hooks"):
    prestart, createRuntime  by the runtime, in the runtime's namespaces, after init's namespaces exist
    createContainer          by init, in the container's namespaces, before pivot_root
    startContainer           by init, in the container, after `start`, before the user program
    poststart                by `start` once the user program runs; a failure kills the container
                             and fails `start` (runtime-spec v1.3.0)
    poststop                 by `delete`; a failure only warns

Hooks are started with fork and execve, not subprocess: init runs startContainer hooks after
pivot_root, where the host's Python library is out of sight and a late import would fail. For the same
reason every module this one needs is imported at its top. The state goes to hooks as JSON written by
ociruntime.jsonwriter (the text json.dumps would give), so that `start` and `delete` of a container
with hooks do not import json.
"""

from __future__ import annotations

import os
import select
import time

from ociruntime import errors, jsonwriter, signals

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def hooks_of(config: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return list((config.get("hooks") or {}).get(phase) or ())


def run_hooks(config: dict[str, Any], phase: str, state: dict[str, Any]) -> None:
    """Run every hook of `phase` in order; the first failure raises HookFailed."""
    if not hooks_of(config, phase):
        return
    payload = jsonwriter.dumps(state).encode()
    for hook in hooks_of(config, phase):
        run_hook(hook, phase, payload)


def run_hooks_best_effort(
    config: dict[str, Any], phase: str, state: dict[str, Any], warn: Callable[[str], None]
) -> None:
    """For poststop: every hook runs; each failure is a warning (runtime-spec)."""
    if not hooks_of(config, phase):
        return
    payload = jsonwriter.dumps(state).encode()
    for hook in hooks_of(config, phase):
        try:
            run_hook(hook, phase, payload)
        except errors.HookFailed as e:
            warn(str(e))


def run_hook(hook: dict[str, Any], phase: str, payload: bytes) -> None:
    path = hook["path"]
    args = list(hook.get("args") or [path])
    env = dict(entry.split("=", 1) for entry in hook.get("env") or () if "=" in entry)
    timeout = hook.get("timeout")
    stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        _exec_hook(path, args, env, stdin_r, err_w)
    os.close(stdin_r)
    os.close(err_w)
    try:
        _feed(stdin_w, payload)
        status, stderr = _wait(pid, err_r, timeout)
    finally:
        os.close(err_r)
    if status is None:
        raise errors.HookFailed(phase, path, f"timed out after {timeout}s")
    if status == 127 and stderr.startswith(b"exec:"):
        raise errors.HookFailed(phase, path, stderr[5:].decode(errors="replace").strip())
    if status != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise errors.HookFailed(phase, path, f"exit status {status}{tail}")


def _exec_hook(path: str, args: list[str], env: dict[str, str], stdin_fd: int, stderr_fd: int) -> None:
    try:
        os.dup2(stdin_fd, 0)
        null = os.open("/dev/null", os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(stderr_fd, 2)
        os.closerange(3, 65536)
        os.chdir("/")
        signals.set_handler(signals.SIGPIPE, signals.SIG_DFL)
        os.execve(path, args, env)
    except OSError as e:
        os.write(2, f"exec: {e.strerror}".encode())
    finally:
        os._exit(127)


def _feed(fd: int, payload: bytes) -> None:
    """Write the state; a hook that does not read its stdin is fine (EPIPE ignored)."""
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _wait(pid: int, err_fd: int, timeout: float | None) -> tuple[int | None, bytes]:
    """(exit status or None on timeout, the hook's stderr); a timed-out hook is killed and reaped.

    Waits on a pidfd and the stderr pipe together, so there is no polling delay either way.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = os.pidfd_open(pid)
    chunks: list[bytes] = []
    watched = [pidfd, err_fd]
    try:
        while pidfd in watched:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(watched, [], [], remaining)
            if not ready:
                os.kill(pid, signals.SIGKILL)
                os.waitpid(pid, 0)
                return None, b"".join(chunks)
            if err_fd in ready:
                data = os.read(err_fd, 65536)
                if data:
                    chunks.append(data[-4096:])
                else:
                    watched.remove(err_fd)
            if pidfd in ready:
                watched.remove(pidfd)
    finally:
        os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    if err_fd in watched:
        chunks.append(_drain(err_fd))
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except (BlockingIOError, OSError):
        return b""
