"""Capability tables and parsed sets (ociruntime.spec.capabilities): PURE."""

from __future__ import annotations

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec.capabilities import CAPABILITIES, SETS, CapabilitySets, parse_capabilities

LAST_CAP = 40


def bit(name: str) -> int:
    return 1 << CAPABILITIES[name]


# --- numbering ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("CAP_CHOWN", 0),
        ("CAP_DAC_OVERRIDE", 1),
        ("CAP_KILL", 5),
        ("CAP_SETUID", 7),
        ("CAP_SETPCAP", 8),
        ("CAP_NET_BIND_SERVICE", 10),
        ("CAP_NET_ADMIN", 12),
        ("CAP_NET_RAW", 13),
        ("CAP_SYS_CHROOT", 18),
        ("CAP_SYS_PTRACE", 19),
        ("CAP_SYS_ADMIN", 21),
        ("CAP_MKNOD", 27),
        ("CAP_AUDIT_WRITE", 29),
        ("CAP_SETFCAP", 31),
        ("CAP_MAC_OVERRIDE", 32),
        ("CAP_SYSLOG", 34),
        ("CAP_AUDIT_READ", 37),
        ("CAP_PERFMON", 38),
        ("CAP_BPF", 39),
        ("CAP_CHECKPOINT_RESTORE", 40),
    ],
)
def test_numbers_match_kernel(name: str, number: int) -> None:
    assert CAPABILITIES[name] == number


def test_table_is_dense() -> None:
    assert len(CAPABILITIES) == 41
    assert sorted(CAPABILITIES.values()) == list(range(41))


def test_sets() -> None:
    assert SETS == ("bounding", "effective", "permitted", "inheritable", "ambient")


# --- parse_capabilities --------------------------------------------------------------------------


def test_none_means_untouched() -> None:
    assert parse_capabilities(None, LAST_CAP) is None


def test_empty_doc_gives_empty_masks() -> None:
    assert parse_capabilities({}, LAST_CAP) == CapabilitySets(0, 0, 0, 0, 0, ())


def test_masks() -> None:
    doc = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    }
    caps = parse_capabilities(doc, LAST_CAP)
    assert caps == CapabilitySets(
        bounding=(1 << 0) | (1 << 5) | (1 << 21),
        effective=1 << 5,
        permitted=(1 << 5) | (1 << 10),
        inheritable=1 << 10,
        ambient=1 << 10,
        unknown_to_host=(),
    )
    assert caps.bounding == 0x200021


def test_duplicates_and_null_set() -> None:
    caps = parse_capabilities({"bounding": ["CAP_KILL", "CAP_KILL"], "effective": None}, LAST_CAP)
    assert caps is not None
    assert (caps.bounding, caps.effective) == (1 << 5, 0)


def test_highest_cap_when_host_has_it() -> None:
    caps = parse_capabilities({"bounding": ["CAP_CHECKPOINT_RESTORE"]}, LAST_CAP)
    assert caps is not None
    assert caps.bounding == 1 << 40
    assert caps.unknown_to_host == ()


@pytest.mark.parametrize(
    ("set_name", "index", "name"),
    [
        ("bounding", 1, "CAP_NOPE"),
        ("effective", 0, "cap_chown"),
        ("ambient", 2, "CHOWN"),
        ("inheritable", 0, ""),
    ],
)
def test_unknown_name_is_config_invalid(set_name: str, index: int, name: str) -> None:
    doc = {set_name: ["CAP_KILL", "CAP_CHOWN"][:index] + [name]}
    with pytest.raises(ConfigInvalid) as info:
        parse_capabilities(doc, LAST_CAP)
    assert info.value.path == f"process.capabilities.{set_name}[{index}]"
    assert info.value.reason == f"unknown capability {name!r}"
    assert str(info.value) == f"process.capabilities.{set_name}[{index}]: unknown capability {name!r}"


def test_where_prefix_is_used() -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_capabilities({"bounding": ["CAP_X"]}, LAST_CAP, where="capabilities")
    assert info.value.path == "capabilities.bounding[0]"


def test_beyond_last_cap_goes_to_unknown_to_host() -> None:
    doc = {
        "bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE", "CAP_BPF", "CAP_PERFMON"],
        "effective": ["CAP_CHECKPOINT_RESTORE"],
        "permitted": ["CAP_BPF", "CAP_KILL"],
    }
    caps = parse_capabilities(doc, 37)  # a kernel older than 5.8
    assert caps == CapabilitySets(
        bounding=1 << 0,
        effective=0,
        permitted=1 << 5,
        inheritable=0,
        ambient=0,
        unknown_to_host=("CAP_CHECKPOINT_RESTORE", "CAP_BPF", "CAP_PERFMON"),
    )


def test_last_cap_is_inclusive() -> None:
    caps = parse_capabilities({"bounding": ["CAP_BPF", "CAP_CHECKPOINT_RESTORE"]}, 39)
    assert caps is not None
    assert caps.bounding == 1 << 39
    assert caps.unknown_to_host == ("CAP_CHECKPOINT_RESTORE",)


def test_unknown_name_checked_even_after_host_unknown() -> None:
    with pytest.raises(ConfigInvalid) as info:
        parse_capabilities({"bounding": ["CAP_CHECKPOINT_RESTORE", "CAP_BOGUS"]}, 37)
    assert info.value.path == "process.capabilities.bounding[1]"


# --- ambient ---------------------------------------------------------------------------------------


def test_raisable_and_unraisable_ambient() -> None:
    doc = {
        "permitted": ["CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
        "inheritable": ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_CHOWN"],
        "ambient": ["CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_CHOWN", "CAP_KILL", "CAP_MKNOD"],
    }
    caps = parse_capabilities(doc, LAST_CAP)
    assert caps is not None
    assert caps.raisable_ambient == (1 << 5) | (1 << 21)
    # ordered by capability number, not by config order
    assert caps.unraisable_ambient() == ["CAP_CHOWN", "CAP_NET_RAW", "CAP_MKNOD"]


def test_all_ambient_raisable() -> None:
    caps = CapabilitySets(
        bounding=0, effective=0, permitted=bit("CAP_KILL"), inheritable=bit("CAP_KILL"), ambient=bit("CAP_KILL")
    )
    assert caps.raisable_ambient == 1 << 5
    assert caps.unraisable_ambient() == []


def test_no_ambient() -> None:
    caps = CapabilitySets(bounding=0, effective=0, permitted=~0, inheritable=~0, ambient=0)
    assert caps.raisable_ambient == 0
    assert caps.unraisable_ambient() == []
