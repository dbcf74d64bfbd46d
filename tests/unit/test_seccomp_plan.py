"""linux.seccomp → SeccompPlan (ociruntime.spec.seccomp): PURE."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec import seccomp as S
from ociruntime.spec.seccomp import Condition, Rule, parse_seccomp

ENGINE_CONFIGS = Path(__file__).resolve().parents[1] / "fixtures" / "engine-configs"
SCHEMA_DEFS = Path(__file__).resolve().parents[2] / "specs" / "defs.json"


def plan(**doc: Any) -> S.SeccompPlan:
    result = parse_seccomp({"defaultAction": "SCMP_ACT_ALLOW", **doc})
    assert result is not None
    return result


def test_none_means_no_filter() -> None:
    assert parse_seccomp(None) is None


def test_unknown_default_action() -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_seccomp({"defaultAction": "SCMP_ACT_MAYBE"})
    assert info.value.path == "linux.seccomp.defaultAction"


# --- tables -----------------------------------------------------------------------------------------


def test_tables_cover_every_name_the_schema_allows() -> None:
    defs = json.loads(SCHEMA_DEFS.read_text())["$defs"]
    assert set(S.ACTIONS) == set(defs["SeccompAction"]["enum"])
    assert set(S.OPERATORS) == set(defs["SeccompOperator"]["enum"])
    assert set(S.ARCHITECTURES) == set(defs["SeccompArch"]["enum"])
    assert set(S.FLAGS) == set(defs["SeccompFlag"]["enum"])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCMP_ACT_KILL", 0),
        ("SCMP_ACT_KILL_THREAD", 0),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_LOG", 0x7FFC0000),
        ("SCMP_ACT_ALLOW", 0x7FFF0000),
        ("SCMP_ACT_NOTIFY", 0x7FC00000),
    ],
)
def test_action_values_are_the_kernels(name: str, value: int) -> None:
    assert S.action_value(name, None, "x") == value


def test_errno_and_trace_default_to_eperm() -> None:
    assert S.action_value("SCMP_ACT_ERRNO", None, "x") == 0x00050000 | errno.EPERM
    assert S.action_value("SCMP_ACT_TRACE", None, "x") == 0x7FF00000 | errno.EPERM
    assert S.action_value("SCMP_ACT_ERRNO", 0, "x") == 0x00050000
    assert S.action_value("SCMP_ACT_ERRNO", 38, "x") == 0x00050026


def test_errno_must_fit_16_bits() -> None:
    with pytest.raises(ConfigInvalid) as info:
        S.action_value("SCMP_ACT_ERRNO", 65536, "linux.seccomp.defaultErrnoRet")
    assert info.value.path == "linux.seccomp.defaultErrnoRet"


def test_errno_on_action_without_errno_is_an_error() -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_seccomp({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1})
    assert info.value.path == "linux.seccomp.defaultErrnoRet"
    with pytest.raises(ConfigInvalid) as info:
        plan(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 5}])
    assert info.value.path == "linux.seccomp.syscalls[0].errnoRet"


def test_architectures_flags_and_defaults() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ERRNO",
        defaultErrnoRet=38,
        architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X86"],
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    )
    assert p.default_action == 0x00050026
    assert p.architectures == (0xC000003E, 0x40000003)
    assert p.flags == 2 | 4 == p.load_flags


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("architectures", ["SCMP_ARCH_VAX"], "linux.seccomp.architectures[0]"),
        ("flags", ["SECCOMP_FILTER_FLAG_NEW_LISTENER"], "linux.seccomp.flags[0]"),
        ("syscalls", [{"names": ["a"], "action": "SCMP_ACT_NOPE"}], "linux.seccomp.syscalls[0].action"),
        ("syscalls", [{"names": [], "action": "SCMP_ACT_LOG"}], "linux.seccomp.syscalls[0].names"),
        ("syscalls", [{"names": [""], "action": "SCMP_ACT_LOG"}], "linux.seccomp.syscalls[0].names[0]"),
        (
            "syscalls",
            [{"names": ["a"], "action": "SCMP_ACT_LOG", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}],
            "linux.seccomp.syscalls[0].args[0].index",
        ),
        (
            "syscalls",
            [{"names": ["a"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}]}],
            "linux.seccomp.syscalls[0].args[0].op",
        ),
        (
            "syscalls",
            [{"names": ["a"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 1 << 64, "op": "SCMP_CMP_EQ"}]}],
            "linux.seccomp.syscalls[0].args[0].value",
        ),
    ],
)
def test_bad_values_name_their_path(field: str, value: Any, path: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        plan(**{field: value})
    assert info.value.path == path


def test_rule_equal_to_default_is_dropped() -> None:
    p = plan(
        defaultAction="SCMP_ACT_ERRNO",
        syscalls=[
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
        ],
    )
    assert p.rules == (Rule("rmdir", 0x00050002),)


def test_conditions_on_different_args_form_one_rule() -> None:
    args = [
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 0xFF, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
    ]
    p = plan(syscalls=[{"names": ["socket", "socketpair"], "action": "SCMP_ACT_LOG", "args": args}])
    conditions = (Condition(0, 4, 2, 0), Condition(1, 7, 0xFF, 3))
    assert p.rules == (Rule("socket", 0x7FFC0000, conditions), Rule("socketpair", 0x7FFC0000, conditions))


def test_repeated_arg_index_splits_into_one_rule_per_condition() -> None:
    args = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 7, "op": "SCMP_CMP_GT"},
        {"index": 2, "value": 0, "op": "SCMP_CMP_NE"},
    ]
    p = plan(syscalls=[{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": args}])
    assert [r.conditions for r in p.rules] == [
        (Condition(0, 4, 1),),
        (Condition(0, 6, 7),),
        (Condition(2, 1, 0),),
    ]


def test_notify_needs_listener_and_adds_new_listener_flag() -> None:
    with pytest.raises(ConfigInvalid) as info:
        plan(syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])
    assert info.value.path == "linux.seccomp.listenerPath"
    p = plan(
        listenerPath="/run/agent.sock",
        listenerMetadata="m",
        flags=["SECCOMP_FILTER_FLAG_TSYNC"],
        syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    )
    assert p.uses_notify
    assert p.load_flags == S.FLAGS["SECCOMP_FILTER_FLAG_TSYNC"] | S.SECCOMP_FILTER_FLAG_NEW_LISTENER | (
        S.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    )
    assert (p.listener_path, p.listener_metadata) == ("/run/agent.sock", "m")


def test_notify_refused_where_the_runtime_needs_the_syscall() -> None:
    with pytest.raises(ConfigInvalid) as info:
        plan(listenerPath="/x", syscalls=[{"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}])
    assert info.value.path == "linux.seccomp.syscalls[0].names[1]"
    with pytest.raises(ConfigInvalid):
        parse_seccomp({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"})


def test_actions_without_data_bits() -> None:
    p = plan(defaultAction="SCMP_ACT_ERRNO", syscalls=[{"names": ["a"], "action": "SCMP_ACT_TRACE", "errnoRet": 9}])
    assert p.actions == {0x00050000, 0x7FF00000}
    assert not p.uses_notify


@pytest.mark.parametrize("path", sorted(ENGINE_CONFIGS.glob("*-create-*.json")), ids=lambda p: p.name)
def test_engine_profiles_parse(path: Path) -> None:
    doc = json.loads(path.read_text()).get("linux", {}).get("seccomp")
    p = parse_seccomp(doc)
    if doc is None:
        assert p is None
        return
    assert p is not None
    assert p.architectures == (0xC000003E, 0x40000003, 0x4000003E)
    assert len(p.rules) > 300
    assert p.optimize
    assert not p.uses_notify
