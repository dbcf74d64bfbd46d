"""`events`: runc's JSON event stream, one object per line: periodic `stats` and `oom` events.

With --stats one stats event is printed and the command ends. Otherwise stats come every --interval and
an `oom` event whenever the container's memory cgroup counts a new OOM kill; the stream ends when the
container stops. OOM kills are noticed by polling the kernel's counter (memory.oom_control `oom_kill` on
v1, memory.events `oom_kill` on v2) every 100 ms: no threads, no eventfd bookkeeping, and nothing is
missed between polls because the counter only grows.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any, TextIO

from ociruntime import errors
from ociruntime.cgroups import stats
from ociruntime.state.status import Status
from ociruntime.state.store import Store

_POLL = 0.1
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration subset runc users pass: "5s", "100ms", "1m30s"; seconds as a float."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise errors.UsageError(f"invalid duration {text!r}")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise errors.UsageError("duration interval must be greater than 0")
    return seconds


def event(kind: str, container_id: str, data: dict[str, Any] | None = None) -> str:
    doc: dict[str, Any] = {"type": kind, "id": container_id}
    if data is not None:
        doc["data"] = data
    return json.dumps(doc, separators=(",", ":")) + "\n"


def events(store: Store, container_id: str, *, stats_only: bool, interval: float, out: TextIO = sys.stdout) -> None:
    observed = store.observe(container_id)
    if observed.status == Status.STOPPED:
        raise errors.RuntimeFailure(f"container with id {container_id} is not running")  # runc's wording
    paths = observed.record.cgroup_paths
    if stats_only:
        out.write(event("stats", container_id, stats.collect(paths)))
        out.flush()
        return
    seen_ooms = stats.oom_kills(paths)
    next_stats = time.monotonic()
    while True:
        now = time.monotonic()
        ooms = stats.oom_kills(paths)
        if ooms > seen_ooms:
            out.write(event("oom", container_id))
            seen_ooms = ooms
        if now >= next_stats:
            out.write(event("stats", container_id, stats.collect(paths)))
            next_stats = now + interval
        out.flush()
        try:
            if store.status_of(store.load(container_id)) == Status.STOPPED:
                return
        except errors.ContainerNotFound:
            return
        time.sleep(_POLL)
