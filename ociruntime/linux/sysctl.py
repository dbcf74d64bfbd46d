"""linux.sysctl: checked in the parent (`check`), written under /proc/sys inside the container (`apply`).

`apply` runs in init after pivot_root and before the read-only paths are applied, so /proc/sys is the
container's own procfs and still writable.

Imported only for a config with linux.sysctl (see ociruntime.process.spawn.preload_modules).
"""

from __future__ import annotations

import os

from ociruntime import errors
from ociruntime.linux import procfiles
from ociruntime.spec.sysctl import plan_sysctl
from ociruntime.spec.tables import NAMESPACES

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.spec.model import Spec
    from ociruntime.spec.sysctl import SysctlWrite


def check(spec: Spec) -> tuple[SysctlWrite, ...]:
    """Refuse keys of namespaces the container does not own, including a joined namespace that is the host's."""
    settings = (spec.raw.get("linux") or {}).get("sysctl") or {}
    owned = {ns.type for ns in spec.namespaces}
    writes = plan_sysctl(settings, owned)
    for write in writes:
        ns = spec.namespace(write.namespace)
        if ns is not None and ns.path is not None and _is_runtime_namespace(write.namespace, ns.path):
            raise errors.ConfigInvalid(
                write.field, f"the {write.namespace} namespace at {ns.path} is the runtime's own (the host's)"
            )
    return writes


def _is_runtime_namespace(ns_type: str, path: str) -> bool:
    try:
        joined = os.stat(path)
        own = os.stat(f"/proc/self/ns/{NAMESPACES[ns_type][1]}")
    except OSError:
        return False  # opening the path fails later with its own error
    return (joined.st_dev, joined.st_ino) == (own.st_dev, own.st_ino)


def apply(settings: dict[str, str]) -> None:
    """Write each key; the parent has already refused keys outside the container's namespaces."""
    for write in plan_sysctl(settings, None):
        path = "/proc/sys/" + write.path
        try:
            # Through the real procfs only: a mount over /proc/sys cannot redirect the write.
            procfiles.write_proc_file("sys/" + write.path, write.value)
        except OSError as e:
            raise OSError(e.errno, f"{path}: {e.strerror}", write.field) from None
