"""ociruntime.spec.attributes: names → numbers, and every bad input refused with its field's path."""

from __future__ import annotations

from typing import Any

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec import attributes as A


def test_cpu_list() -> None:
    assert A.parse_cpu_list("0-3,7") == frozenset({0, 1, 2, 3, 7})
    assert A.parse_cpu_list("5") == frozenset({5})
    assert A.parse_cpu_list("") == frozenset()
    for bad in ("3-1", "a", "1,,2", "-1", "0-", "1-2-3", "9000"):
        with pytest.raises(ValueError):
            A.parse_cpu_list(bad)


def test_bitmask_words() -> None:
    assert A.bitmask_words(frozenset({0})) == [1]
    assert A.bitmask_words(frozenset({1, 64, 130})) == [2, 1, 4]
    assert A.bitmask_words(frozenset()) == [0]


def test_tables_match_the_kernel_headers() -> None:
    assert A.RLIMITS["RLIMIT_NOFILE"] == 7 and A.RLIMITS["RLIMIT_RTTIME"] == 15 and len(A.RLIMITS) == 16
    assert A.SCHED_POLICIES["SCHED_DEADLINE"] == 6 and A.SCHED_FLAGS["SCHED_FLAG_UTIL_CLAMP_MAX"] == 0x40
    assert A.IoPriority("IOPRIO_CLASS_BE", 4).value == (2 << 13) | 4
    assert A.PERSONALITY_DOMAINS["LINUX32"] == 8
    assert A.MPOL_MODES["MPOL_WEIGHTED_INTERLEAVE"] == 6 and A.MPOL_FLAGS["MPOL_F_STATIC_NODES"] == 1 << 15


def test_whole_plan() -> None:
    process = {
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
        "oomScoreAdj": 5,
        "scheduler": {"policy": "SCHED_RR", "priority": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
        "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0},
        "execCPUAffinity": {"initial": "0", "final": "1"},
    }
    linux = {"personality": {"domain": "LINUX32"}, "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "0-1"}}
    plan = A.plan_attributes(process, linux)
    assert plan.rlimits == (A.Rlimit("process.rlimits[0]", "RLIMIT_NOFILE", 7, 10, 20),)
    assert plan.oom_score_adj == 5
    assert plan.scheduler == A.Scheduler("SCHED_RR", 2, 1, 0, 3, 0, 0, 0)
    assert plan.io_priority == A.IoPriority("IOPRIO_CLASS_IDLE", 0)
    assert plan.personality == 8
    assert plan.memory_policy == A.MemoryPolicy("MPOL_INTERLEAVE", 3, frozenset({0, 1}))
    assert plan.cpu_affinity is None  # not applicable to init
    exec_plan = A.plan_attributes(process, linux, is_init=False)
    assert exec_plan.cpu_affinity == A.CpuAffinity(frozenset({0}), frozenset({1}))
    assert A.plan_attributes({}, {}).empty


@pytest.mark.parametrize(
    ("process", "linux", "path"),
    [
        ({"rlimits": [{"type": "RLIMIT_X", "soft": 1, "hard": 1}]}, {}, "process.rlimits[0].type"),
        ({"rlimits": [{"type": "RLIMIT_AS", "soft": 2, "hard": 1}]}, {}, "process.rlimits[0].soft"),
        ({"scheduler": {"policy": "SCHED_ISO"}}, {}, "process.scheduler.policy"),
        ({"scheduler": {"policy": "SCHED_FIFO"}}, {}, "process.scheduler.priority"),
        ({"scheduler": {"policy": "SCHED_FIFO", "priority": 100}}, {}, "process.scheduler.priority"),
        ({"scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_X"]}}, {}, "process.scheduler.flags[0]"),
        ({"scheduler": {"policy": "SCHED_OTHER", "deadline": 5}}, {}, "process.scheduler.deadline"),
        ({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 3000, "period": 2500}}, {},
         "process.scheduler.period"),
        ({"ioPriority": {"class": "IOPRIO_CLASS_NONE", "priority": 0}}, {}, "process.ioPriority.class"),
        ({"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 8}}, {}, "process.ioPriority.priority"),
        ({}, {"personality": {"domain": "LINUX", "flags": ["X"]}}, "linux.personality.flags[0]"),
        ({}, {"personality": {"domain": "BSD"}}, "linux.personality.domain"),
        ({}, {"memoryPolicy": {"mode": "MPOL_BIND"}}, "linux.memoryPolicy.nodes"),
        ({}, {"memoryPolicy": {"mode": "MPOL_DEFAULT", "nodes": "0"}}, "linux.memoryPolicy.nodes"),
        ({}, {"memoryPolicy": {"mode": "MPOL_LOCAL", "flags": ["MPOL_F_STATIC_NODES"]}}, "linux.memoryPolicy.flags"),
        ({}, {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_X"]}},
         "linux.memoryPolicy.flags[0]"),
        ({}, {"memoryPolicy": {"mode": "MPOL_X"}}, "linux.memoryPolicy.mode"),
    ],
)  # fmt: skip
def test_bad_inputs_name_their_field(process: dict[str, Any], linux: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        A.plan_attributes(process, linux)
    assert info.value.path == path


def test_bad_exec_affinity() -> None:
    with pytest.raises(ConfigInvalid) as info:
        A.plan_attributes({"execCPUAffinity": {"final": "2-1"}}, {}, is_init=False)
    assert info.value.path == "process.execCPUAffinity.final"
