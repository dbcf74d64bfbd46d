"""Progress bars on a terminal (stderr), nothing otherwise: scripts and CI logs stay quiet."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int, *, enabled: bool) -> None:
        self.label = label[:40]
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self._last = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self.enabled and time.monotonic() - self._last > 0.1:
            self._last = time.monotonic()
            self._draw()

    def close(self) -> None:
        if self.enabled:
            self.done = self.total
            self._draw()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _draw(self) -> None:
        width = 30
        filled = min(width, width * self.done // self.total)
        mib = self.done / (1 << 20)
        sys.stderr.write(f"\r{self.label:<40} [{'#' * filled}{'.' * (width - filled)}] {mib:8.1f} MiB")
        sys.stderr.flush()


def on_terminal() -> bool:
    return sys.stderr.isatty()


def make(label: str, total: int) -> Progress:
    return Progress(label, total, enabled=on_terminal())
