"""A console-socket receiver, as conmon and containerd's shim are: a unix STREAM socket server that
accepts one connection and receives the pty master sent with SCM_RIGHTS, then talks to the terminal."""

from __future__ import annotations

import os
import re
import select
import socket
import time
from pathlib import Path


class ConsoleReceiver:
    """Listens on `path` (the runtime connects while it runs; the message waits in the backlog)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.payload = b""

    def receive(self, timeout: float = 10) -> Terminal:
        """Accept one connection, receive one message with one fd: the pty master."""
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            payload, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        assert len(fds) == 1, f"expected one fd with the console message, got {fds} (payload {payload!r})"
        self.payload = payload
        return Terminal(fds[0])

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


class Terminal:
    """The master side of a pty: write what a user would type, read what the screen shows."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = b""

    def write(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """Read until `pattern` (a regex) matches what was shown since the last match; return the match."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.seen.decode(errors="replace")
            found = regex.search(text)
            if found:
                self.seen = self.seen[len(text[: found.end()].encode()) :]
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"terminal never showed {pattern!r}; it showed {text!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the last slave fd closed
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before showing {pattern!r}; it showed {text!r}")
                self.seen += chunk

    def ask(self, command: str, tag: str, answer: str = r"(.*?)\r?$") -> str:
        """Type `echo "@@tag $(command)"` and return what follows the tag on the output line. The echo of
        the typed line shows `$(`, so a pattern that cannot match `$(` only matches the answer."""
        self.write(f'echo "@@{tag} $({command})"\n')
        return self.read_until(rf"^@@{tag} (?!\$\(){answer}").group(1).strip()

    def close(self) -> None:
        os.close(self.master)
