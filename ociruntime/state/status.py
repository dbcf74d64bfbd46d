"""Container status, derived from what was recorded and what the kernel shows. PURE.

The recorded phase alone cannot be trusted: init may have died behind our back, or its pid may belong
to another process by now. So the status is derived each time from the recorded phase, the current
/proc facts of init (state and start time) and whether init still waits on exec.fifo.
"""

from __future__ import annotations

import enum

from ociruntime.linux.procfs import ProcStat


class Status(enum.StrEnum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Phase(enum.StrEnum):
    """What the runtime last wrote down: the furthest lifecycle step it completed."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"


def is_same_process(proc: ProcStat | None, recorded_start_time: int) -> bool:
    """True when `proc` is alive and is the very process we recorded (not a reused pid)."""
    return proc is not None and not proc.is_zombie and proc.start_time == recorded_start_time


def derive_status(
    phase: Phase,
    init: ProcStat | None,
    init_start_time: int,
    creator: ProcStat | None,
    creator_start_time: int,
    *,
    fifo_exists: bool,
    frozen: bool = False,
) -> Status:
    if phase is Phase.CREATING:
        # Only the create command that is still working on it may keep a container in `creating`;
        # if that command died (SIGKILL, OOM), what it left is a stopped container for delete to clear.
        if is_same_process(creator, creator_start_time):
            return Status.CREATING
        return Status.STOPPED
    if not is_same_process(init, init_start_time):
        return Status.STOPPED
    if frozen:
        return Status.PAUSED
    if phase is Phase.CREATED and fifo_exists:
        return Status.CREATED
    return Status.RUNNING
