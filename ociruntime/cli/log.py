"""Where messages go: one line on stderr for errors, and --log FILE in runc's text or JSON format.

containerd reads the last `"level":"error"` line of the log file; podman reads stderr. So an error is
written exactly once to each, as one line.
"""

from __future__ import annotations

import os
import sys
import time

_state = {"path": "", "format": "text", "debug": False}


def configure(path: str | None, fmt: str, debug: bool) -> None:
    _state["path"] = path or ""
    _state["format"] = fmt
    _state["debug"] = debug


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _format(level: str, message: str) -> str:
    from ociruntime import jsonwriter  # json.dumps's text without importing json (5.6 ms)

    if _state["format"] == "json":
        return jsonwriter.dumps({"level": level, "msg": message, "time": _timestamp()}) + "\n"
    return f"time={jsonwriter.dumps(_timestamp())} level={level} msg={jsonwriter.dumps(message)}\n"


def _to_file(level: str, message: str) -> bool:
    path = str(_state["path"])
    if not path:
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        return False
    try:
        os.write(fd, _format(level, message).encode())
    finally:
        os.close(fd)
    return True


def error(message: str) -> None:
    one_line = " ".join(message.split("\n"))
    _to_file("error", one_line)
    sys.stderr.write(f"ociruntime: {one_line}\n")
    sys.stderr.flush()


def warning(message: str) -> None:
    if not _to_file("warning", message):
        sys.stderr.write(f"ociruntime: warning: {message}\n")


def debug(message: str) -> None:
    if _state["debug"] and not _to_file("debug", message):
        sys.stderr.write(f"ociruntime: debug: {message}\n")
