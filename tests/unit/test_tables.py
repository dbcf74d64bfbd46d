"""Signal parsing and namespace tables (ociruntime.spec.tables)."""

from __future__ import annotations

import signal

import pytest

from ociruntime.spec.tables import JOIN_ORDER, NAMESPACES, TIME_CLOCKS, parse_signal

# --- parse_signal ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("9", 9),
        ("15", 15),
        ("64", 64),
        (" 9 ", 9),
        ("KILL", 9),
        ("SIGKILL", 9),
        ("kill", 9),
        ("sigkill", 9),
        ("SigTerm", 15),
        ("TERM", 15),
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("USR1", 10),
        ("SIGUSR2", 12),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("WINCH", 28),
        ("SIGSYS", 31),
        ("RTMIN", 34),
        ("SIGRTMIN", 34),
        ("RTMIN+1", 35),
        ("SIGRTMIN+3", 37),
        ("rtmin+30", 64),
        ("RTMAX", 64),
        ("SIGRTMAX", 64),
        ("RTMAX-1", 63),
        ("sigrtmax-2", 62),
        ("RTMAX-30", 34),
        ("RTMIN+0", 34),
        ("RTMAX-0", 64),
    ],
)
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


def test_signal_zero_is_a_liveness_probe() -> None:
    # runc and engines send 0 to ask whether init is alive; it must parse, not be refused.
    assert parse_signal("0") == 0


def test_glibc_realtime_bounds() -> None:
    # The table above assumes glibc's SIGRTMIN 34 and the kernel's _NSIG 65.
    assert int(signal.SIGRTMIN) == 34
    assert int(signal.SIGRTMAX) == 64


@pytest.mark.parametrize(
    "text",
    [
        "65",
        "100",
        "-9",
        "",
        "FOO",
        "SIGFOO",
        "SIG",
        "SIGRTMIN+40",
        "RTMIN+31",
        "RTMAX-31",
        "RTMIN-1",
        "RTMAX+1",
        "RTMIN+",
        "RTMIN+x",
        "9x",
        "SIGKILL9",
    ],
)
def test_invalid_signals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_signal(text)


def test_invalid_number_message() -> None:
    with pytest.raises(ValueError, match=r"^invalid signal number: 65$"):
        parse_signal("65")


def test_unknown_name_message() -> None:
    with pytest.raises(ValueError, match=r"^unknown signal 'FOO'$"):
        parse_signal("FOO")


def test_returns_plain_int() -> None:
    assert type(parse_signal("KILL")) is int
    assert type(parse_signal("RTMIN+1")) is int


# --- NAMESPACES ----------------------------------------------------------------------------------


def test_namespace_values_match_kernel() -> None:
    # <linux/sched.h> literal values (os.CLONE_* exists only in Python 3.12+).
    assert NAMESPACES == {
        "user": (0x10000000, "user"),
        "mount": (0x00020000, "mnt"),
        "cgroup": (0x02000000, "cgroup"),
        "uts": (0x04000000, "uts"),
        "ipc": (0x08000000, "ipc"),
        "network": (0x40000000, "net"),
        "pid": (0x20000000, "pid"),
        "time": (0x00000080, "time"),
    }


def test_namespace_flags_are_distinct_single_bits() -> None:
    flags = [flag for flag, _ in NAMESPACES.values()]
    assert len(set(flags)) == len(flags)
    for flag in flags:
        assert flag & (flag - 1) == 0


def test_join_order_covers_every_namespace_once() -> None:
    assert sorted(JOIN_ORDER) == sorted(NAMESPACES)
    assert JOIN_ORDER[0] == "user"
    assert JOIN_ORDER[-1] == "mount"


def test_time_clocks() -> None:
    assert TIME_CLOCKS == {"monotonic": "monotonic", "boottime": "boottime"}
