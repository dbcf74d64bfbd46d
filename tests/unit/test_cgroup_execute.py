"""resources.execute: the order of device rules survives a refused write; other refusals are retried last.

The kernel's refusals are simulated here (a directory of plain files stands for the cgroup); the real
race, a just-removed child cgroup still counted as online, is met by
tests/integration/test_cgroups.py::test_delete_removes_only_what_it_created.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest

from ociruntime import errors
from ociruntime.cgroups import resources
from ociruntime.cgroups.plan import Write

DEVICE_WRITES = [
    Write("devices", "devices.deny", "a"),
    Write("devices", "devices.allow", "c 1:3 rwm"),
    Write("devices", "devices.allow", "c 1:5 rwm"),
]


def refusing(times: int, errno_value: int, value: str) -> tuple[list[tuple[str, str]], Callable[[str, str], None]]:
    """A _write that refuses `value` `times` times, and the list of the writes that went through."""
    written: list[tuple[str, str]] = []
    left = [times]

    def write(path: str, v: str) -> None:
        if v == value and left[0] > 0:
            left[0] -= 1
            raise OSError(errno_value, "refused")
        written.append((Path(path).name, v))

    return written, write


def test_a_refused_all_devices_rule_is_retried_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written, write = refusing(3, errno.EINVAL, "a")
    monkeypatch.setattr(resources, "_write", write)
    resources.execute({"devices": str(tmp_path)}, DEVICE_WRITES)
    # Deferred to the end, the deny-all would have erased both allows.
    assert written == [("devices.deny", "a"), ("devices.allow", "c 1:3 rwm"), ("devices.allow", "c 1:5 rwm")]


def test_with_a_child_cgroup_the_refusal_is_final(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "child").mkdir()
    written, write = refusing(1, errno.EINVAL, "a")
    monkeypatch.setattr(resources, "_write", write)
    with pytest.raises(errors.CgroupError, match="devices.deny: cannot write 'a': refused"):
        resources.execute({"devices": str(tmp_path)}, DEVICE_WRITES)
    assert written == []


def test_a_refused_device_rule_is_not_deferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written, write = refusing(1, errno.EINVAL, "c 1:3 rwm")
    monkeypatch.setattr(resources, "_write", write)
    with pytest.raises(errors.CgroupError, match="cannot write 'c 1:3 rwm'"):
        resources.execute({"devices": str(tmp_path)}, DEVICE_WRITES)
    assert written == [("devices.deny", "a")]


def test_other_refusals_are_retried_after_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # memory.limit_in_bytes below memsw would be refused until memsw is lowered: retried last.
    writes = [Write("memory", "memory.limit_in_bytes", "100"), Write("memory", "memory.memsw.limit_in_bytes", "100")]
    written, write = refusing(1, errno.EINVAL, "100")
    monkeypatch.setattr(resources, "_write", write)
    resources.execute({"memory": str(tmp_path)}, writes)
    assert written == [("memory.memsw.limit_in_bytes", "100"), ("memory.limit_in_bytes", "100")]
