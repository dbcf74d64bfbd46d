"""Status derivation (ociruntime.state.status.derive_status): every branch, exact results."""

from __future__ import annotations

import pytest

from ociruntime.linux.procfs import ProcStat
from ociruntime.state.status import Phase, Status, derive_status, is_same_process, parse_phase

INIT_START = 1000
CREATOR_START = 500


def alive(start: int = INIT_START, state: str = "S") -> ProcStat:
    return ProcStat(state=state, start_time=start, ppid=1)


# --- creating --------------------------------------------------------------------------------------


def test_creating_with_live_creator() -> None:
    creator = alive(CREATOR_START)
    assert derive_status(Phase.CREATING, None, 0, creator, CREATOR_START, fifo_exists=True) is Status.CREATING


def test_creating_ignores_init_and_fifo_while_creator_lives() -> None:
    creator = alive(CREATOR_START, "R")
    status = derive_status(Phase.CREATING, alive(), INIT_START, creator, CREATOR_START, fifo_exists=False)
    assert status is Status.CREATING


def test_creating_with_dead_creator_is_stopped() -> None:
    assert derive_status(Phase.CREATING, alive(), INIT_START, None, CREATOR_START, fifo_exists=True) is Status.STOPPED


def test_creating_with_reused_creator_pid_is_stopped() -> None:
    other = alive(CREATOR_START + 1)
    assert derive_status(Phase.CREATING, None, 0, other, CREATOR_START, fifo_exists=True) is Status.STOPPED


def test_creating_with_zombie_creator_is_stopped() -> None:
    zombie = alive(CREATOR_START, "Z")
    assert derive_status(Phase.CREATING, None, 0, zombie, CREATOR_START, fifo_exists=True) is Status.STOPPED


def test_creating_frozen_is_still_creating() -> None:
    creator = alive(CREATOR_START)
    status = derive_status(Phase.CREATING, None, 0, creator, CREATOR_START, fifo_exists=True, frozen=True)
    assert status is Status.CREATING


# --- created ---------------------------------------------------------------------------------------


def test_created_with_fifo() -> None:
    assert derive_status(Phase.CREATED, alive(), INIT_START, None, 0, fifo_exists=True) is Status.CREATED


def test_created_without_fifo_is_running() -> None:
    # init already opened the fifo and went on (start raced with us, or start died after releasing it).
    assert derive_status(Phase.CREATED, alive(), INIT_START, None, 0, fifo_exists=False) is Status.RUNNING


def test_created_with_dead_init_is_stopped() -> None:
    assert derive_status(Phase.CREATED, None, INIT_START, None, 0, fifo_exists=True) is Status.STOPPED


def test_created_frozen_is_paused() -> None:
    status = derive_status(Phase.CREATED, alive(), INIT_START, None, 0, fifo_exists=True, frozen=True)
    assert status is Status.PAUSED


# --- running ---------------------------------------------------------------------------------------


def test_running() -> None:
    assert derive_status(Phase.RUNNING, alive(), INIT_START, None, 0, fifo_exists=False) is Status.RUNNING


def test_running_with_stray_fifo_is_still_running() -> None:
    assert derive_status(Phase.RUNNING, alive(), INIT_START, None, 0, fifo_exists=True) is Status.RUNNING


@pytest.mark.parametrize("state", ["Z", "X", "x"])
def test_running_dead_or_zombie_init_is_stopped(state: str) -> None:
    init = alive(INIT_START, state)
    assert derive_status(Phase.RUNNING, init, INIT_START, None, 0, fifo_exists=False) is Status.STOPPED


@pytest.mark.parametrize("state", ["R", "S", "D", "T", "t", "I"])
def test_running_live_states(state: str) -> None:
    init = alive(INIT_START, state)
    assert derive_status(Phase.RUNNING, init, INIT_START, None, 0, fifo_exists=False) is Status.RUNNING


def test_running_gone_is_stopped() -> None:
    assert derive_status(Phase.RUNNING, None, INIT_START, None, 0, fifo_exists=False) is Status.STOPPED


def test_start_time_mismatch_is_stopped() -> None:
    reused = alive(INIT_START + 7)
    assert derive_status(Phase.RUNNING, reused, INIT_START, None, 0, fifo_exists=False) is Status.STOPPED
    assert derive_status(Phase.CREATED, reused, INIT_START, None, 0, fifo_exists=True) is Status.STOPPED


def test_frozen_running_is_paused() -> None:
    status = derive_status(Phase.RUNNING, alive(), INIT_START, None, 0, fifo_exists=False, frozen=True)
    assert status is Status.PAUSED


def test_frozen_but_dead_is_stopped() -> None:
    status = derive_status(Phase.RUNNING, None, INIT_START, None, 0, fifo_exists=False, frozen=True)
    assert status is Status.STOPPED


# --- helpers and constants --------------------------------------------------------------------------


def test_is_same_process() -> None:
    assert is_same_process(alive(5), 5) is True
    assert is_same_process(alive(5), 6) is False
    assert is_same_process(alive(5, "Z"), 5) is False
    assert is_same_process(None, 5) is False


def test_proc_stat_is_zombie() -> None:
    assert [ProcStat(s, 0, 0).is_zombie for s in ("Z", "X", "x", "R", "S", "D")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_status_values() -> None:
    assert Status.ALL == ("creating", "created", "running", "paused", "stopped")
    assert (Status.CREATING, Status.CREATED, Status.RUNNING) == ("creating", "created", "running")
    assert (Status.PAUSED, Status.STOPPED) == ("paused", "stopped")
    assert Phase.ALL == ("creating", "created", "running") == (Phase.CREATING, Phase.CREATED, Phase.RUNNING)


@pytest.mark.parametrize("value", ["creating", "created", "running"])
def test_parse_phase_gives_the_constant(value: str) -> None:
    # A phase read from a file is a new str object: parse_phase returns the module's own constant.
    fresh = "".join(value)
    phase = parse_phase(fresh)
    assert phase == value
    assert phase is getattr(Phase, value.upper())


@pytest.mark.parametrize("value", ["paused", "stopped", "checkpointed", "", "RUNNING", None, 1, ["running"]])
def test_parse_phase_rejects_unknown(value: object) -> None:
    with pytest.raises(ValueError, match=r"is not a valid Phase$"):
        parse_phase(value)
