"""linux.sysctl → writes under /proc/sys, refused unless the container owns the key's namespace. PURE.

A sysctl written inside the container changes the host unless its key belongs to a namespace the
container has of its own, so, like runc's validator, only namespaced keys are accepted:

| namespace | keys                                                              |
| --------- | ----------------------------------------------------------------- |
| ipc       | kernel.msg*, kernel.sem, kernel.sem_next_id, kernel.shm*, fs.mqueue.* |
| uts       | kernel.hostname, kernel.domainname                                |
| network   | net.*                                                             |

Keys are written in either the dotted form (`net.ipv4.ip_forward`) or the path form
(`net/ipv4/ip_forward`); in the dotted form every `.` is a `/`, as sysctl(8) reads it.
"""

from __future__ import annotations

from ociruntime.errors import ConfigInvalid
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

IPC_PREFIXES = ("kernel.msg", "kernel.shm", "fs.mqueue.")
IPC_KEYS = frozenset({"kernel.sem", "kernel.sem_next_id"})
UTS_KEYS = frozenset({"kernel.hostname", "kernel.domainname"})
NET_PREFIX = "net."


class SysctlWrite(Value):
    __slots__ = ("key", "path", "value", "namespace")

    def __init__(self, key: str, path: str, value: str, namespace: str) -> None:
        self.key = key  # as given in config.json
        self.path = path  # relative to /proc/sys
        self.value = value
        self.namespace = namespace

    @property
    def field(self) -> str:
        return f'linux.sysctl["{self.key}"]'


def normalize(key: str) -> tuple[str, str]:
    """(dotted name, path under /proc/sys) of a key in either form; ValueError if it is malformed."""
    if "/" in key:
        path = key.strip("/")
        dotted = path.replace("/", ".")
    else:
        dotted = key
        path = key.replace(".", "/")
    parts = path.split("/")
    if not key or any(part in ("", ".", "..") for part in parts):
        raise ValueError("is not a sysctl name")
    return dotted, path


def namespace_of(dotted: str) -> str | None:
    """The namespace type whose instance a key belongs to; None for a key that is global to the host."""
    if dotted in IPC_KEYS or dotted.startswith(IPC_PREFIXES):
        return "ipc"
    if dotted in UTS_KEYS:
        return "uts"
    if dotted.startswith(NET_PREFIX):
        return "network"
    return None


def plan_sysctl(settings: Mapping[str, str], owned_namespaces: Collection[str] | None) -> tuple[SysctlWrite, ...]:
    """Every key checked; `owned_namespaces` None skips the ownership rule (the caller checked it)."""
    writes = []
    for key, value in settings.items():
        field = f'linux.sysctl["{key}"]'
        try:
            dotted, path = normalize(key)
        except ValueError as e:
            raise ConfigInvalid(field, str(e)) from None
        namespace = namespace_of(dotted)
        if namespace is None:
            raise ConfigInvalid(field, "is not in a separate kernel namespace: writing it would change the host")
        if owned_namespaces is not None and namespace not in owned_namespaces:
            raise ConfigInvalid(field, f"needs the container to have its own {namespace} namespace")
        if "\n" in str(value):
            raise ConfigInvalid(field, "the value must be one line")
        writes.append(SysctlWrite(key, path, str(value), namespace))
    return tuple(writes)
