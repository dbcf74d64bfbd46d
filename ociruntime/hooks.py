"""Running runtime-spec hooks: `path` with `args` and `env`, the state JSON on stdin, an optional timeout.

Which phase runs where (runtime-spec config.md "POSIX-platform Hooks"):
    prestart, createRuntime  by the runtime, in the runtime's namespaces, after init's namespaces exist
    createContainer          in the container's namespaces, before pivot_root   (issue: exec/hooks)
    startContainer           in the container, before the user program            (issue: exec/hooks)
    poststart                by the runtime after the user program started
    poststop                 by the runtime at delete; failures only warn
"""

from __future__ import annotations

import json
from typing import Any

from ociruntime import errors


def hooks_of(config: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return list((config.get("hooks") or {}).get(phase) or ())


def run_hooks(config: dict[str, Any], phase: str, state: dict[str, Any]) -> None:
    """Run every hook of `phase` in order; the first failure raises HookFailed."""
    if not hooks_of(config, phase):
        return
    payload = json.dumps(state).encode()
    for hook in hooks_of(config, phase):
        run_hook(hook, phase, payload)


def run_hook(hook: dict[str, Any], phase: str, payload: bytes) -> None:
    import subprocess  # only paid for by containers that have hooks

    path = hook["path"]
    args = list(hook.get("args") or [path])
    env = dict(entry.split("=", 1) for entry in hook.get("env") or () if "=" in entry)
    timeout = hook.get("timeout")
    try:
        proc = subprocess.Popen(
            args,
            executable=path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
            cwd="/",
        )
    except OSError as e:
        raise errors.HookFailed(phase, path, e.strerror or str(e)) from None
    try:
        _, stderr = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise errors.HookFailed(phase, path, f"timed out after {timeout}s") from None
    except BrokenPipeError:
        stderr = proc.stderr.read() if proc.stderr else b""
        proc.wait()
    if proc.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise errors.HookFailed(phase, path, f"exit status {proc.returncode}{tail}")
