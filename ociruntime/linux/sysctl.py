"""linux.sysctl: written under /proc/sys inside the container. Placeholder until that work lands."""

from __future__ import annotations


def apply(settings: dict[str, str]) -> None:
    del settings
