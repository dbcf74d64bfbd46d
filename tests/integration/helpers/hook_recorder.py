#!/usr/bin/python3
"""A runtime-spec hook that records what it saw, one JSON line appended to a log file.

Run on the host (every hook path but startContainer's is a host path). It records:
  phase      $HOOK_PHASE (or "unknown")
  argv       its argv exactly as exec'd (/proc/self/cmdline, so argv[0] survives)
  env        its environment exactly as exec'd (/proc/self/environ)
  stdin      what it read on stdin, and `state`, that parsed as JSON (or null)
  ns         inode of each /proc/self/ns/* it can see
  pid, ppid, cwd, time (CLOCK_MONOTONIC, comparable between processes)
  target     for the state's pid: its exe link and cmdline (is the user program exec'd yet?)
The log is $HOOK_LOG, else <state.bundle>/hooks.log. Then it behaves as told: $HOOK_STDERR is written
to stderr, $HOOK_SLEEP seconds are slept, and it exits with $HOOK_EXIT (default 0).
"""

import json
import os
import sys
import time

NAMESPACES = ("mnt", "net", "pid", "uts", "ipc", "cgroup", "user", "time")


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def describe_target(pid: object) -> dict | None:
    if not isinstance(pid, int) or pid <= 0:
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError as e:
        exe = f"error: {e.strerror}"
    cmdline = read(f"/proc/{pid}/cmdline")
    return {"exe": exe, "cmdline": cmdline.decode(errors="replace").split("\0")[:-1] if cmdline else None}


def main() -> int:
    started = time.monotonic()
    stdin = sys.stdin.buffer.read().decode(errors="replace")
    try:
        state = json.loads(stdin)
    except ValueError:
        state = None
    ns = {}
    for name in NAMESPACES:
        try:
            ns[name] = os.stat(f"/proc/self/ns/{name}").st_ino
        except OSError:
            pass
    raw_env = read("/proc/self/environ") or b""
    record = {
        "phase": os.environ.get("HOOK_PHASE", "unknown"),
        "argv": (read("/proc/self/cmdline") or b"").decode(errors="replace").split("\0")[:-1],
        "env": [entry.decode(errors="replace") for entry in raw_env.split(b"\0")[:-1]],
        "stdin": stdin,
        "state": state,
        "ns": ns,
        "pid": int(os.readlink("/proc/self")),  # as the host sees it (/proc is the host's, even in createContainer)
        "nspid": os.getpid(),
        "ppid": os.getppid(),
        "cwd": os.getcwd(),
        "time": started,
        "target": describe_target(state.get("pid") if isinstance(state, dict) else None),
    }
    log = os.environ.get("HOOK_LOG")
    if log is None and isinstance(state, dict):
        log = os.path.join(state.get("bundle", "/nonexistent"), "hooks.log")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)
    if os.environ.get("HOOK_STDERR"):
        sys.stderr.write(os.environ["HOOK_STDERR"] + "\n")
        sys.stderr.flush()
    if os.environ.get("HOOK_SLEEP"):
        time.sleep(float(os.environ["HOOK_SLEEP"]))
    return int(os.environ.get("HOOK_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
