"""Whether a container's cgroup is frozen (v1 freezer.state, v2 cgroup.freeze)."""

from __future__ import annotations

import os

from ociruntime.cgroups.hierarchy import UNIFIED


def is_frozen(paths: dict[str, str]) -> bool:
    v1 = paths.get("freezer")
    if v1 is not None:
        return _read(os.path.join(v1, "freezer.state")) in ("FROZEN", "FREEZING")
    v2 = paths.get(UNIFIED)
    if v2 is not None:
        return _read(os.path.join(v2, "cgroup.freeze")) == "1"
    return False


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
