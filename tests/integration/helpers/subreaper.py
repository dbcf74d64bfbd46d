#!/usr/bin/python3
"""Become a child subreaper, run a command (a detached `exec --pid-file F`), then wait for the pid in F.

    subreaper.py PIDFILE COMMAND...

Prints one JSON line: {"command_rc", "subreaper" (own pid), "pid", "ppid" (the pid's parent once the
command returned), "waited", "exit" (or null), "signal" (or null)}.
Run as its own process so the pytest process never becomes a subreaper (orphans of other tests would
pile up as its zombies).
"""

import ctypes
import json
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def main() -> None:
    pid_file, command = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    rc = subprocess.run(command, stdin=subprocess.DEVNULL, check=False).returncode
    result = {"command_rc": rc, "subreaper": os.getpid(), "pid": None, "waited": False, "exit": None, "signal": None}
    if rc == 0:
        pid = int(open(pid_file).read())
        result["pid"] = pid
        with open(f"/proc/{pid}/status") as f:
            result["ppid"] = int(next(line for line in f if line.startswith("PPid:")).split()[1])
        waited, status = os.waitpid(pid, 0)
        result["waited"] = waited == pid
        if os.WIFEXITED(status):
            result["exit"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
