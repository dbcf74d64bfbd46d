"""Mount options → mount(2) flags, propagation and data. PURE.

A config.json mount is planned into a `MountPlan` (what to call mount(2) with, in which order) before
anything touches the kernel; `ociruntime.linux.rootfs` executes plans. The option names are the ones
mount(8) and runc accept.
"""

from __future__ import annotations

from ociruntime import abi as F
from ociruntime.values import Value

# option → (flags to clear, flags to set)
FLAG_OPTIONS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (0, F.MS_RDONLY),
    "rw": (F.MS_RDONLY, 0),
    "suid": (F.MS_NOSUID, 0),
    "nosuid": (0, F.MS_NOSUID),
    "dev": (F.MS_NODEV, 0),
    "nodev": (0, F.MS_NODEV),
    "exec": (F.MS_NOEXEC, 0),
    "noexec": (0, F.MS_NOEXEC),
    "sync": (0, F.MS_SYNCHRONOUS),
    "async": (F.MS_SYNCHRONOUS, 0),
    "dirsync": (0, F.MS_DIRSYNC),
    "remount": (0, F.MS_REMOUNT),
    "mand": (0, F.MS_MANDLOCK),
    "nomand": (F.MS_MANDLOCK, 0),
    "atime": (F.MS_NOATIME, 0),
    "noatime": (0, F.MS_NOATIME),
    "diratime": (F.MS_NODIRATIME, 0),
    "nodiratime": (0, F.MS_NODIRATIME),
    "relatime": (0, F.MS_RELATIME),
    "norelatime": (F.MS_RELATIME, 0),
    "strictatime": (0, F.MS_STRICTATIME),
    "nostrictatime": (F.MS_STRICTATIME, 0),
    "lazytime": (0, F.MS_LAZYTIME),
    "nolazytime": (F.MS_LAZYTIME, 0),
    "symfollow": (F.MS_NOSYMFOLLOW, 0),
    "nosymfollow": (0, F.MS_NOSYMFOLLOW),
    "iversion": (0, F.MS_I_VERSION),
    "noiversion": (F.MS_I_VERSION, 0),
    "silent": (0, F.MS_SILENT),
    "loud": (F.MS_SILENT, 0),
    "bind": (0, F.MS_BIND),
    "rbind": (0, F.MS_BIND | F.MS_REC),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": F.MS_PRIVATE,
    "rprivate": F.MS_PRIVATE | F.MS_REC,
    "shared": F.MS_SHARED,
    "rshared": F.MS_SHARED | F.MS_REC,
    "slave": F.MS_SLAVE,
    "rslave": F.MS_SLAVE | F.MS_REC,
    "unbindable": F.MS_UNBINDABLE,
    "runbindable": F.MS_UNBINDABLE | F.MS_REC,
}

# Recursive attributes, applied with mount_setattr(2) AT_RECURSIVE to the mount and everything below
# it: option → (clear the attribute instead of setting it, MOUNT_ATTR_* bit). Same names as runc.
RECURSIVE_OPTIONS: dict[str, tuple[bool, int]] = {
    "rro": (False, F.MOUNT_ATTR_RDONLY),
    "rrw": (True, F.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, F.MOUNT_ATTR_NOSUID),
    "rsuid": (True, F.MOUNT_ATTR_NOSUID),
    "rnodev": (False, F.MOUNT_ATTR_NODEV),
    "rdev": (True, F.MOUNT_ATTR_NODEV),
    "rnoexec": (False, F.MOUNT_ATTR_NOEXEC),
    "rexec": (True, F.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, F.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, F.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, F.MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, F.MOUNT_ATTR_RELATIME),
    "rnoatime": (False, F.MOUNT_ATTR_NOATIME),
    "ratime": (True, F.MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, F.MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, F.MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, F.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, F.MOUNT_ATTR_NOSYMFOLLOW),
}

# Options that are not mount(2) flags or data but instructions to the runtime.
IDMAP_OPTIONS = frozenset({"idmap", "ridmap"})
TMPCOPYUP = "tmpcopyup"

# Applied by the runtime itself rather than mount(2): listed by `features` with the tables above.
EXTRA_OPTIONS = IDMAP_OPTIONS | {TMPCOPYUP}

# Options that only make sense to tools above the runtime; runc drops them silently too.
IGNORED_OPTIONS = frozenset({"_netdev", "nofail", "x-systemd.automount"})

# Flags that a bind mount only gets through a second, MS_REMOUNT call.
BIND_REMOUNT_FLAGS = (
    F.MS_RDONLY
    | F.MS_NOSUID
    | F.MS_NODEV
    | F.MS_NOEXEC
    | F.MS_NOATIME
    | F.MS_NODIRATIME
    | F.MS_RELATIME
    | F.MS_STRICTATIME
    | F.MS_NOSYMFOLLOW
)


class MountPlan(Value):
    """One config.json mount, resolved to syscall arguments (destination still relative to the rootfs)."""

    __slots__ = (
        "destination", "source", "fstype", "flags", "data", "propagation", "recursive_set", "recursive_clear",
        "idmap", "tmpcopyup",
    )  # fmt: skip

    def __init__(
        self,
        destination: str,
        source: str | None,
        fstype: str | None,
        flags: int,
        data: str,
        propagation: tuple[int, ...],
        recursive_set: int = 0,
        recursive_clear: int = 0,
        idmap: str | None = None,
        tmpcopyup: bool = False,
    ) -> None:
        self.destination = destination
        self.source = source
        self.fstype = fstype
        self.flags = flags
        self.data = data
        self.propagation = propagation
        self.recursive_set = recursive_set
        self.recursive_clear = recursive_clear
        self.idmap = idmap  # "idmap" or "ridmap"
        self.tmpcopyup = tmpcopyup

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & F.MS_BIND)

    @property
    def remount_flags(self) -> int:
        """Flags a bind mount needs applied by a remount (0 when none)."""
        return self.flags & BIND_REMOUNT_FLAGS if self.is_bind else 0


def parse_options(options: tuple[str, ...] | list[str]) -> tuple[int, tuple[int, ...], str]:
    """Split mount options into (flags, propagation flags in order, comma-joined data).

    Recursive, idmap and tmpcopyup options are not mount(2) material and are left out here; see
    `plan_mount`.
    """
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for option in options:
        if option in FLAG_OPTIONS:
            clear, set_ = FLAG_OPTIONS[option]
            flags = (flags & ~clear) | set_
        elif option in PROPAGATION_OPTIONS:
            propagation.append(PROPAGATION_OPTIONS[option])
        elif option in IGNORED_OPTIONS or option in RECURSIVE_OPTIONS or option in IDMAP_OPTIONS:
            continue
        elif option == TMPCOPYUP:
            continue
        else:
            data.append(option)
    return flags, tuple(propagation), ",".join(data)


def recursive_attributes(options: tuple[str, ...] | list[str]) -> tuple[int, int]:
    """(attr_set, attr_clr) for mount_setattr(2). Setting an atime mode clears the whole atime field
    first, as the kernel requires."""
    attr_set = attr_clear = 0
    for option in options:
        if option not in RECURSIVE_OPTIONS:
            continue
        clear, bit = RECURSIVE_OPTIONS[option]
        if clear:
            attr_set &= ~bit
            # The kernel takes the atime mode as one field: clearing any of it clears all (→ relatime).
            attr_clear |= F.MOUNT_ATTR__ATIME if bit and bit & F.MOUNT_ATTR__ATIME == bit else bit
        else:
            attr_set |= bit
            attr_clear &= ~bit
            if bit & F.MOUNT_ATTR__ATIME == bit:
                attr_clear |= F.MOUNT_ATTR__ATIME
    return attr_set, attr_clear


def is_idmapped(options: tuple[str, ...]) -> bool:
    """Whether a mount asks for an idmapped tree (ociruntime.linux.idmap is imported only then)."""
    return any(option in IDMAP_OPTIONS for option in options)


def plan_mount(destination: str, fstype: str | None, source: str | None, options: tuple[str, ...]) -> MountPlan:
    flags, propagation, data = parse_options(options)
    if fstype == "bind":
        flags |= F.MS_BIND
    recursive_set, recursive_clear = recursive_attributes(options)
    idmap = next((o for o in reversed(options) if o in IDMAP_OPTIONS), None)
    return MountPlan(
        destination=destination,
        source=source,
        fstype=None if flags & F.MS_BIND else fstype,
        flags=flags,
        data=data,
        propagation=propagation,
        recursive_set=recursive_set,
        recursive_clear=recursive_clear,
        idmap=idmap,
        tmpcopyup=TMPCOPYUP in options,
    )


PROPAGATION_VALUES: dict[str, int] = {
    "shared": F.MS_SHARED | F.MS_REC,
    "slave": F.MS_SLAVE | F.MS_REC,
    "private": F.MS_PRIVATE | F.MS_REC,
    "unbindable": F.MS_UNBINDABLE | F.MS_REC,
}


def root_propagation(value: str | None) -> int:
    """linux.rootfsPropagation → flags for "/" (runc's default: recursive slave)."""
    if value is None:
        return F.MS_SLAVE | F.MS_REC
    return PROPAGATION_VALUES[value]
