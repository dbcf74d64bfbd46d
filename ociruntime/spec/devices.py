"""Device nodes a container gets: the spec's default set plus linux.devices. PURE."""

from __future__ import annotations

import stat

from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any


class Device(Value):
    __slots__ = ("path", "kind", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, path: str, kind: str, major: int, minor: int, file_mode: int, uid: int, gid: int) -> None:
        self.path = path
        self.kind = kind  # c, b, u (unbuffered char) or p (fifo)
        self.major = major
        self.minor = minor
        self.file_mode = file_mode
        self.uid = uid
        self.gid = gid

    @property
    def mode_bits(self) -> int:
        kind = stat.S_IFIFO if self.kind == "p" else stat.S_IFBLK if self.kind == "b" else stat.S_IFCHR
        return kind | (self.file_mode & 0o7777)


# runtime-spec config-linux.md "Default Devices": the runtime MUST supply these.
DEFAULT_DEVICES: tuple[Device, ...] = tuple(
    Device(f"/dev/{name}", "c", major, minor, 0o666, 0, 0)
    for name, major, minor in (
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    )
)

# Links every /dev has (runtime-spec runtime-linux.md "Dev symbolic links").
DEFAULT_LINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)


def parse_devices(items: list[dict[str, Any]] | None, uid: int = 0, gid: int = 0) -> tuple[Device, ...]:
    """linux.devices, with the defaults the spec gives (mode 0666 is runc's choice for a missing fileMode)."""
    return tuple(
        Device(
            path=d["path"],
            kind=d["type"],
            major=d.get("major", 0),
            minor=d.get("minor", 0),
            file_mode=d.get("fileMode", 0o666),
            uid=d.get("uid", uid),
            gid=d.get("gid", gid),
        )
        for d in items or ()
    )


def plan_devices(items: list[dict[str, Any]] | None) -> tuple[Device, ...]:
    """Defaults first, then the config's own; a config entry for the same path replaces the default."""
    configured = parse_devices(items)
    paths = {d.path for d in configured}
    return tuple(d for d in DEFAULT_DEVICES if d.path not in paths) + configured
