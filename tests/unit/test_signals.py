"""ociruntime.signals, the runtime's own signal table, against Python's signal module on this machine."""

from __future__ import annotations

import signal

from ociruntime import signals


def test_table_is_pythons_signal_table() -> None:
    """Every name signal.Signals knows (aliases included), with the same number, and nothing else."""
    expected = {name: int(number) for name, number in signal.Signals.__members__.items()}
    assert signals.SIGNALS == expected


def test_named_constants() -> None:
    assert signals.SIGKILL == signal.SIGKILL == 9
    assert (signals.SIGRTMIN, signals.SIGRTMAX) == (signal.SIGRTMIN, signal.SIGRTMAX) == (34, 64)


def test_numbers_are_plain_ints() -> None:
    assert all(type(number) is int for number in signals.SIGNALS.values())
    assert all(name.startswith("SIG") and name.isupper() for name in signals.SIGNALS)
