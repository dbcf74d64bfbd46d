"""Container status, derived from what was recorded and what the kernel shows. PURE.

The recorded phase alone cannot be trusted: init may have died behind our back, or its pid may belong
to another process by now. So the status is derived each time from the recorded phase, the current
/proc facts of init (state and start time) and whether init still waits on exec.fifo.

Statuses and phases are plain string constants, not enums: `enum` costs about 3 ms of import on every
`state`, `kill`, `start` and `delete` (-X importtime). The closed set is kept where a value enters the
runtime: a recorded phase is checked against `Phase.ALL` when the state file is read (`parse_phase`).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.linux.procfs import ProcStat


class Status:
    """What `state` reports (runtime-spec state.md "status")."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    ALL = (CREATING, CREATED, RUNNING, PAUSED, STOPPED)


class Phase:
    """What the runtime last wrote down: the furthest lifecycle step it completed."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    ALL = (CREATING, CREATED, RUNNING)


def parse_phase(value: object) -> str:
    """The recorded `value` as one of Phase's constants; ValueError for anything else."""
    for phase in Phase.ALL:
        if value == phase:
            return phase
    raise ValueError(f"{value!r} is not a valid Phase")


def is_same_process(proc: ProcStat | None, recorded_start_time: int) -> bool:
    """True when `proc` is alive and is the very process we recorded (not a reused pid)."""
    return proc is not None and not proc.is_zombie and proc.start_time == recorded_start_time


def derive_status(
    phase: str,
    init: ProcStat | None,
    init_start_time: int,
    creator: ProcStat | None,
    creator_start_time: int,
    *,
    fifo_exists: bool,
    frozen: bool = False,
) -> str:
    """One of Status's constants."""
    if phase == Phase.CREATING:
        # Only the create command that is still working on it may keep a container in `creating`;
        # if that command died (SIGKILL, OOM), what it left is a stopped container for delete to clear.
        if is_same_process(creator, creator_start_time):
            return Status.CREATING
        return Status.STOPPED
    if not is_same_process(init, init_start_time):
        return Status.STOPPED
    if frozen:
        return Status.PAUSED
    if phase == Phase.CREATED and fifo_exists:
        return Status.CREATED
    return Status.RUNNING
