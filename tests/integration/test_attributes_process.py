"""ociruntime.linux.attributes.Attributes applied to a forked child of the test (root, no container):
the parts a container cannot show yet - execCPUAffinity (for `exec`, not init) and a real-time policy
outside an RT-starved cgroup."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from ociruntime.linux import attributes
from ociruntime.spec.attributes import plan_attributes

pytestmark = pytest.mark.root


def in_child(body: Callable[[], Any]) -> Any:
    """Run `body` in a forked child; return what it returned (JSON), or raise what it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            result = {"ok": body()}
        except BaseException as e:  # noqa: BLE001
            result = {"error": str(e)}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = json.loads(f.read())
    os.waitpid(pid, 0)
    if "error" in data:
        raise RuntimeError(data["error"])
    return data["ok"]


def two_cpus() -> None:
    if (os.cpu_count() or 1) < 2 or len(os.sched_getaffinity(0)) < 2:
        pytest.fail("these tests need two CPUs")


def test_exec_affinity_initial_then_final() -> None:
    two_cpus()
    plan = plan_attributes({"execCPUAffinity": {"initial": "0", "final": "1"}}, {}, is_init=False)
    attrs = attributes.Attributes(plan)

    def body() -> list[list[int]]:
        attrs.apply()
        initial = sorted(os.sched_getaffinity(0))
        attrs.before_exec()
        return [initial, sorted(os.sched_getaffinity(0))]

    assert in_child(body) == [[0], [1]]


def test_exec_affinity_initial_only_is_undone_before_exec() -> None:
    two_cpus()
    attrs = attributes.Attributes(plan_attributes({"execCPUAffinity": {"initial": "1"}}, {}, is_init=False))

    def body() -> list[list[int]]:
        attrs.apply()
        initial = sorted(os.sched_getaffinity(0))
        attrs.before_exec()
        return [initial, sorted(os.sched_getaffinity(0))]

    assert in_child(body) == [[1], sorted(os.sched_getaffinity(0))]


def test_exec_affinity_on_a_missing_cpu_is_refused_by_plan_exec() -> None:
    from ociruntime import errors
    from ociruntime.spec.model import parse_config

    spec = parse_config({"ociVersion": "1.3.0", "root": {"path": "/"}, "process": {"cwd": "/"}}, "/tmp")
    with pytest.raises(errors.NotSupported, match=r"process.execCPUAffinity.final: CPU 4000 does not exist"):
        attributes.plan_exec({"execCPUAffinity": {"final": "4000"}}, spec)


def test_fifo_scheduler_and_its_getter() -> None:
    plan = plan_attributes({"scheduler": {"policy": "SCHED_FIFO", "priority": 7}}, {})
    attrs = attributes.Attributes(plan)

    def body() -> list[int]:
        attrs.apply()
        got = attributes.sched_getattr()
        return [got.sched_policy, got.sched_priority]

    assert in_child(body) == [1, 7]


def test_io_priority_and_memory_policy_getters() -> None:
    plan = plan_attributes(
        {"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6}},
        {"memoryPolicy": {"mode": "MPOL_PREFERRED", "nodes": "0"}},
    )
    attrs = attributes.Attributes(plan)

    def body() -> list[Any]:
        attrs.apply()
        mode, nodes = attributes.get_mempolicy()
        return [attributes.ioprio_get(), mode, sorted(nodes)]

    assert in_child(body) == [(2 << 13) | 6, 1, [0]]
