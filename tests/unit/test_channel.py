"""The parent/child channel: typed messages round-trip, and a failure report always reaches the parent."""

from __future__ import annotations

import pytest

from ociruntime import errors
from ociruntime.process.channel import Channel, Msg


@pytest.fixture
def pair() -> tuple[Channel, Channel]:
    return Channel.pair()


def test_a_message_and_its_payload_round_trip(pair: tuple[Channel, Channel]) -> None:
    parent, child = pair
    child.send(Msg.INIT_PID, pid=4242)
    payload, fds = parent.expect(Msg.INIT_PID)
    assert payload == {"pid": 4242} and fds == []


def test_an_unexpected_message_is_a_protocol_error(pair: tuple[Channel, Channel]) -> None:
    parent, child = pair
    child.send(Msg.READY)
    with pytest.raises(errors.InitFailed, match="expected init_pid, got ready"):
        parent.expect(Msg.INIT_PID)


@pytest.mark.parametrize("filler", ["x", "\u00e9", "\U0001f600"])
def test_a_report_naming_a_huge_path_still_arrives(pair: tuple[Channel, Channel], filler: str) -> None:
    """A config may hold a 300 kB mount destination; the child's error names it. Unbounded, the
    report did not fit in one datagram, was dropped, and the parent could only say setup died."""
    parent, child = pair
    path = filler * 300_000
    child.report("mounts", OSError(36, "File name too long", path))
    child.close()  # as the child exits after reporting: a lost report reads as end-of-file
    with pytest.raises(errors.InitFailed) as caught:
        parent.expect(Msg.READY)
    message = str(caught.value)
    assert "mounts" in message and "File name too long" not in message  # cut inside the path
    assert message.endswith("[...]") and len(message) < 5000


def test_a_short_report_is_whole(pair: tuple[Channel, Channel]) -> None:
    parent, child = pair
    child.report("pivot_root", OSError(22, "Invalid argument", "/rootfs"))
    with pytest.raises(errors.InitFailed, match=r"pivot_root.*/rootfs: Invalid argument$"):
        parent.expect(Msg.READY)
