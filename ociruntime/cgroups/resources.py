"""linux.resources → cgroup files. Placeholder until the cgroups work lands."""

from __future__ import annotations

from typing import Any


def apply(paths: dict[str, str], resources: dict[str, Any] | None) -> None:
    del paths, resources
