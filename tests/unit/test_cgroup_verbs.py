"""Pure parts of the cgroup verbs and stats: flags → resources, durations, ps filtering, stats parsers."""

from __future__ import annotations

import pytest

from ociruntime import errors
from ociruntime.cgroups import stats
from ociruntime.container.events import event, parse_duration
from ociruntime.container.ps import filter_table
from ociruntime.container.update import UpdateFlags, merge, parse_bytes, read_resources, resources_from_flags


@pytest.mark.parametrize(
    ("text", "value"),
    [("1024", 1024), ("512k", 512 << 10), ("100m", 100 << 20), ("1G", 1 << 30), ("2mb", 2 << 20), ("-1", -1)],
)
def test_parse_bytes(text: str, value: int) -> None:
    assert parse_bytes(text) == value


def test_parse_bytes_refuses_garbage() -> None:
    with pytest.raises(errors.UsageError):
        parse_bytes("lots")


def test_flags_to_resources() -> None:
    doc = resources_from_flags(
        UpdateFlags(memory="64m", memory_swap="-1", cpu_quota=20000, pids_limit=9, blkio_weight=300)
    )
    assert doc == {
        "memory": {"limit": 64 << 20, "swap": -1},
        "cpu": {"quota": 20000},
        "pids": {"limit": 9},
        "blockIO": {"weight": 300},
    }
    assert resources_from_flags(UpdateFlags()) == {}


def test_merge_keeps_what_is_not_changed() -> None:
    base = {"memory": {"limit": 1, "swap": 2}, "devices": [{"allow": False}]}
    assert merge(base, {"memory": {"limit": 5}, "pids": {"limit": 3}}) == {
        "memory": {"limit": 5, "swap": 2},
        "devices": [{"allow": False}],
        "pids": {"limit": 3},
    }
    assert base["memory"] == {"limit": 1, "swap": 2}


def test_read_resources() -> None:
    assert read_resources('{"pids": {"limit": 4}}', "-") == {"pids": {"limit": 4}}
    with pytest.raises(errors.ConfigInvalid):
        read_resources("[1]", "-")
    with pytest.raises(errors.NotSupported):
        read_resources('{"devices": []}', "-")


@pytest.mark.parametrize(("text", "seconds"), [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("1.5s", 1.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "0s", "s", "5x", "-1s"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(errors.UsageError):
        parse_duration(text)


def test_event_json_like_runc() -> None:
    assert event("oom", "c1") == '{"type":"oom","id":"c1"}\n'
    assert (
        event("stats", "c1", {"pids": {"current": 1}}) == '{"type":"stats","id":"c1","data":{"pids":{"current":1}}}\n'
    )


PS_EF = """UID        PID  PPID  C STIME TTY          TIME CMD
root         1     0  0 06:00 ?        00:00:01 /sbin/init
root       200     1  0 06:00 ?        00:00:00 sleep 100
root       201   200  0 06:00 ?        00:00:00 sleep 1
"""


def test_ps_table_keeps_header_and_container_lines() -> None:
    assert filter_table(PS_EF, {200, 201}) == "".join(PS_EF.splitlines(keepends=True)[i] for i in (0, 2, 3))
    assert filter_table("  PID COMMAND\n  201 sleep\n    1 init\n", {201}) == "  PID COMMAND\n  201 sleep\n"
    with pytest.raises(errors.RuntimeFailure, match="PID field"):
        filter_table("USER COMMAND\n", {1})


def test_stats_parsers() -> None:
    assert stats.parse_cpu_list("0-2,5\n") == [0, 1, 2, 5]
    assert stats.parse_flat_keyed("cache 4096\nrss 8\nbad line here\n") == {"cache": 4096, "rss": 8}
    assert stats.parse_blkio("254:0 Read 4096\n254:0 Write 0\nTotal 4096\n") == [
        {"major": 254, "op": "Read", "value": 4096},
        {"major": 254, "op": "Write"},
    ]


def test_cgroup_pure_modules_import_nothing_impure() -> None:
    from tests.unit.test_purity import import_closure, is_forbidden

    for name in ("ociruntime.cgroups.plan", "ociruntime.cgroups.devices"):
        closure = import_closure(name)
        assert {m for m in closure if is_forbidden(m) or m.startswith(("ociruntime.linux", "os"))} == set(), name
