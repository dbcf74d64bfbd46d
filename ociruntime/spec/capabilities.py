"""Capability names → numbers (<linux/capability.h>) and the parsed capability sets. PURE."""

from __future__ import annotations

from ociruntime import errors
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

CAPABILITIES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_DAC_READ_SEARCH",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETPCAP",
            "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST",
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_IPC_LOCK",
            "CAP_IPC_OWNER",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG",
            "CAP_MKNOD",
            "CAP_LEASE",
            "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN",
            "CAP_SYSLOG",
            "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND",
            "CAP_AUDIT_READ",
            "CAP_PERFMON",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        )
    )
}

SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


class CapabilitySets(Value):
    """Bit masks per set; `unknown_to_host` names the caps this kernel lacks (dropped with a warning)."""

    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient", "unknown_to_host")

    def __init__(
        self,
        bounding: int,
        effective: int,
        permitted: int,
        inheritable: int,
        ambient: int,
        unknown_to_host: tuple[str, ...] = (),
    ) -> None:
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient
        self.unknown_to_host = unknown_to_host

    @property
    def raisable_ambient(self) -> int:
        """The kernel raises an ambient capability only if it is both permitted and inheritable."""
        return self.ambient & self.permitted & self.inheritable

    def unraisable_ambient(self) -> list[str]:
        """Ambient names the kernel would refuse; runc skips them silently, we skip them with a warning."""
        lost = self.ambient & ~self.raisable_ambient
        return [name for name, number in CAPABILITIES.items() if lost & (1 << number)]


def parse_capabilities(
    doc: dict[str, Any] | None, last_cap: int, where: str = "process.capabilities"
) -> CapabilitySets | None:
    """None when the config says nothing about capabilities (they are then left as they are, like runc)."""
    if doc is None:
        return None
    masks: dict[str, int] = {}
    unknown_to_host: list[str] = []
    for set_name in SETS:
        mask = 0
        for index, name in enumerate(doc.get(set_name) or ()):
            number = CAPABILITIES.get(name)
            if number is None:
                raise errors.ConfigInvalid(f"{where}.{set_name}[{index}]", f"unknown capability {name!r}")
            if number > last_cap:
                if name not in unknown_to_host:
                    unknown_to_host.append(name)
                continue
            mask |= 1 << number
        masks[set_name] = mask
    return CapabilitySets(unknown_to_host=tuple(unknown_to_host), **masks)
