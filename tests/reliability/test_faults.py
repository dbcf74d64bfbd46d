"""Fault injection: the runtime (or its intermediate, or init) is SIGKILLed at each named step of create,
start, exec and delete (ociruntime/faults.py, OCIRUNTIME_FAULT=<point>). Afterwards `state` must tell
the truth and `delete --force` must remove every trace: state dir and fifo, processes, mounts, cgroups.

Every `faults.point("...")` in the source must have a row in SCENARIOS: a new point without a test fails.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from ociruntime.state.store import STATE_FILE
from tests.conftest import REPO, Bundle, BundleFactory, Runtime, new_id
from tests.reliability.conftest import (
    assert_clean_exit,
    assert_no_trace,
    cgroup_pids,
    process_alive,
    read_state_file,
    wait_status,
)

pytestmark = [pytest.mark.root, pytest.mark.reliability]

KILLED = -9  # the faulted runtime command dies by SIGKILL


@dataclass(frozen=True)
class Scenario:
    command: str  # the command that runs with the fault armed: create, start, exec or delete
    status: str | None  # what `state` must say afterwards; None: "container does not exist"
    child: bool = False  # the point is in a child process: the command itself reports one error line


SCENARIOS: dict[str, Scenario] = {
    "create.after-claim": Scenario("create", None),
    "create.after-fifos": Scenario("create", "stopped"),
    "create.after-cgroups": Scenario("create", "stopped"),
    "create.after-cgroups-saved": Scenario("create", "stopped"),
    "create.intermediate.after-namespaces": Scenario("create", None, child=True),
    "create.after-init-pid": Scenario("create", "stopped"),
    "create.before-ready": Scenario("create", "stopped"),
    "create.init.before-ready": Scenario("create", None, child=True),
    "create.init.before-stub": Scenario("create", None, child=True),
    "create.after-ready": Scenario("create", "stopped"),
    "create.after-save": Scenario("create", "created"),
    "start.before-fifo-write": Scenario("start", "created"),
    "start.after-fifo-write": Scenario("start", "running"),
    "start.after-save": Scenario("start", "running"),
    "exec.after-fork": Scenario("exec", "running"),
    "exec.intermediate.after-namespaces": Scenario("exec", "running", child=True),
    "exec.after-pid": Scenario("exec", "running"),
    "delete.after-kill": Scenario("delete", "stopped"),
    "delete.after-cgroup-removal": Scenario("delete", "stopped"),
    "delete.after-state-removal": Scenario("delete", None),
}

BUGS: dict[str, str] = {}  # every fault point now recovers; a new bug goes here with its reason


def fault_points() -> list[str]:
    names: set[str] = set()
    for path in (REPO / "ociruntime").rglob("*.py"):
        names.update(re.findall(r'faults\.point\("([^"]+)"\)', path.read_text()))
    return sorted(names)


def test_every_fault_point_has_a_scenario() -> None:
    assert set(fault_points()) == set(SCENARIOS)


def armed(point: str) -> dict[str, str]:
    return {**os.environ, "OCIRUNTIME_FAULT": point}


def test_points_cost_nothing_when_unarmed() -> None:
    """Unarmed, `point` is a function that returns at once (the figure is in RELIABILITY.md)."""
    import timeit

    from ociruntime import faults

    assert faults.point is faults._no_fault or os.environ.get(faults.ENV)
    per_call = min(timeit.repeat(lambda: faults.point("x"), number=20000, repeat=5)) / 20000
    assert per_call < 2e-6


def _params() -> list[object]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=BUGS[name], strict=True)) if name in BUGS else name
        for name in SCENARIOS
    ]


@pytest.mark.parametrize("point", _params())
def test_kill_at_point(
    point: str,
    runtime: Runtime,
    make_bundle: BundleFactory,
    devnull: object,
    count: Callable[[str, int], None],
    no_trace: None,
) -> None:
    scenario = SCENARIOS[point]
    if point == "create.init.before-stub" and os.uname().machine != "x86_64":
        pytest.skip("only reached where the exec stub waits (x86-64)")
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    if scenario.command != "create":
        runtime.ok("create", "-b", str(bundle.path), cid, stdin=devnull)
    if scenario.command in ("exec", "delete"):
        runtime.ok("start", cid)
    args = {
        "create": ("create", "-b", str(bundle.path), cid),
        "start": ("start", cid),
        "exec": ("exec", "-d", cid, "sleep", "100"),
        "delete": ("delete", "--force", cid),
    }[scenario.command]
    result = runtime(*args, env=armed(point), stdin=devnull, timeout=30)
    count("faults injected", 1)
    if scenario.child:
        assert result.returncode == 1, result
        assert_clean_exit(result)
    else:
        assert result.returncode == KILLED, f"the fault did not fire: {result}"
    _check_state_tells_truth(runtime, bundle, cid, scenario.status)
    _check_still_usable(runtime, cid, scenario, devnull)
    _delete_and_check(runtime, bundle, cid)


def _check_state_tells_truth(runtime: Runtime, bundle: Bundle, cid: str, expected: str | None) -> None:
    result = runtime("state", cid)
    assert_clean_exit(result)
    if expected is None:
        assert result.returncode == 1 and "container does not exist" in result.stderr, result
        return
    assert result.returncode == 0, result
    state = runtime.state(cid)
    assert state["status"] == expected, state
    if expected in ("created", "running"):
        assert process_alive(state["pid"])
    if expected == "created":
        assert (runtime.root / cid / "exec.fifo").exists()
    assert runtime("list").returncode == 0


def _check_still_usable(runtime: Runtime, cid: str, scenario: Scenario, devnull: object) -> None:
    """The commands that make sense next still work (the killed command held no lock forever)."""
    if scenario.status == "created":
        runtime.ok("start", cid, timeout=30)
        wait_status(runtime, cid, "running")
    if scenario.status in ("created", "running"):
        runtime.ok("exec", cid, "true", stdin=devnull, timeout=30)


def _delete_and_check(runtime: Runtime, bundle: Bundle, cid: str) -> None:
    pids = set(cgroup_pids(bundle))
    if (runtime.root / cid / STATE_FILE).exists():
        pid = read_state_file(runtime, cid).get("pid", 0)
        if pid:
            pids.add(pid)
    result = runtime("delete", "--force", cid, timeout=30)
    assert_clean_exit(result, allowed=(0,))
    assert_no_trace(runtime, bundle, cid, tuple(pids))
    assert runtime("delete", "--force", cid).returncode == 0  # idempotent


def test_kill_during_create_then_same_id_again(
    runtime: Runtime, make_bundle: BundleFactory, devnull: object, no_trace: None
) -> None:
    """After a killed create and `delete --force`, the id can be used again."""
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    assert runtime("create", "-b", str(bundle.path), cid, env=armed("create.before-ready")).returncode == KILLED
    runtime.ok("delete", "--force", cid)
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=devnull)
    runtime.ok("start", cid)
    wait_status(runtime, cid, "running")
    runtime.ok("delete", "--force", cid)
    assert_no_trace(runtime, bundle, cid)
