"""Reading facts about host processes from /proc."""

from __future__ import annotations


class ProcStat:
    """The fields of /proc/<pid>/stat the runtime needs (a plain class: no dataclasses import on the
    `state` path)."""

    __slots__ = ("state", "start_time", "ppid")

    def __init__(self, state: str, start_time: int, ppid: int) -> None:
        self.state = state
        self.start_time = start_time
        self.ppid = ppid

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProcStat) and (self.state, self.start_time, self.ppid) == (
            other.state,
            other.start_time,
            other.ppid,
        )

    def __repr__(self) -> str:
        return f"ProcStat(state={self.state!r}, start_time={self.start_time}, ppid={self.ppid})"

    @property
    def is_zombie(self) -> bool:
        return self.state in ("Z", "X", "x")


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/<pid>/stat; None when the process does not exist."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may itself contain spaces and ')', so split after the
    # last ')'. Fields after it start at field 3 (state); starttime is field 22.
    rest = raw[raw.rindex(b")") + 2 :].split()
    return ProcStat(state=rest[0].decode(), ppid=int(rest[1]), start_time=int(rest[19]))


def start_time(pid: int) -> int | None:
    stat = read_stat(pid)
    return None if stat is None else stat.start_time
