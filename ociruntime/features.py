"""`features`: what this runtime supports on this host, as runtime-spec features.md describes it.

Engines gate behaviour on this document (containerd and Kubernetes only use idmapped mounts and
recursive read-only mounts when it says so), so everything in it is true here and a test runs a
container with each advertised namespace, capability, mount option and memory policy:

- namespaces: the spec's types whose /proc/self/ns file this kernel has;
- capabilities: the names this kernel knows that the runtime holds in its bounding set (a capability
  the runtime lacks can never be granted to a container);
- mountOptions: the option tables of ociruntime.spec.mounts that apply an option (never ones it drops);
- seccomp: enabled when `create` accepts a filter, with the names of ociruntime.spec.seccomp's tables;
- idmap: idmapped bind mounts (ociruntime.linux.idmap), where the kernel has mount_setattr (5.12);
- apparmor, selinux, intelRdt: not on this host / not implemented, so false.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from ociruntime import SPEC_VERSION, __version__
from ociruntime.spec.attributes import MPOL_FLAGS, MPOL_MODES
from ociruntime.spec.capabilities import CAPABILITIES
from ociruntime.spec.tables import NAMESPACES

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION_MIN = "1.0.0"
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
# Option tables of ociruntime.spec.mounts whose every key is applied (not dropped) by a container mount.
MOUNT_OPTION_TABLES = ("FLAG_OPTIONS", "PROPAGATION_OPTIONS", "RECURSIVE_OPTIONS", "EXTRA_OPTIONS")
# linux.memoryPolicy modes that need a newer kernel than the ones this runtime runs on: (major, minor).
MPOL_MIN_KERNEL = {"MPOL_PREFERRED_MANY": (5, 15), "MPOL_WEIGHTED_INTERLEAVE": (6, 9)}


def features() -> dict[str, Any]:
    return {
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": mount_options(),
        "linux": {
            "namespaces": namespaces(),
            "capabilities": capabilities(),
            "cgroup": cgroup(),
            "seccomp": seccomp(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": _kernel_version() >= (5, 12)}},
            "netDevices": {"enabled": importlib.util.find_spec("pyroute2") is not None},
            "memoryPolicy": memory_policy(),
        },
        "annotations": {"org.ociruntime.version": __version__},
    }


def mount_options() -> list[str]:
    from ociruntime.spec import mounts

    names: set[str] = set()
    for table in MOUNT_OPTION_TABLES:
        names.update(getattr(mounts, table, {}))
    return sorted(names)


def namespaces() -> list[str]:
    return sorted(kind for kind, (_flag, name) in NAMESPACES.items() if os.path.exists(f"/proc/self/ns/{name}"))


def capabilities() -> list[str]:
    bounding = _bounding_set()
    return [name for name, number in CAPABILITIES.items() if bounding >> number & 1]


def _bounding_set() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def cgroup() -> dict[str, bool]:
    from ociruntime.cgroups.hierarchy import UNIFIED, read_layout

    keys = {h.key for h in read_layout().hierarchies}
    return {
        "v1": any(key != UNIFIED for key in keys),
        "v2": UNIFIED in keys,
        "systemd": False,
        "systemdUser": False,
        "rdma": False,
    }


def seccomp() -> dict[str, Any]:
    """Enabled when create accepts a filter (an allow-all one is compiled to find out); the names come
    from the tables of ociruntime.spec.seccomp (imported lazily: another module's work in progress)."""
    from ociruntime import errors
    from ociruntime.linux import seccomp as linux_seccomp

    try:
        linux_seccomp.build({"defaultAction": "SCMP_ACT_ALLOW"})
        tables = importlib.import_module("ociruntime.spec.seccomp")
    except (ImportError, errors.RuntimeFailure):
        return {"enabled": False}
    result: dict[str, Any] = {"enabled": True}
    for key, attribute in (
        ("actions", "ACTIONS"),
        ("operators", "OPERATORS"),
        ("archs", "ARCHITECTURES"),
        ("knownFlags", "FLAGS"),
        ("supportedFlags", "SUPPORTED_FLAGS"),
    ):
        values = getattr(tables, attribute, None)
        if values is not None:
            result[key] = sorted(values)
    if "archs" in result:
        result["archs"] = _archs_known_to_libseccomp(result["archs"])
    return result


def _archs_known_to_libseccomp(names: list[str]) -> list[str]:
    """Only what this host's libseccomp can put in a filter (2.5.4 lacks LOONGARCH64, SH, ...)."""
    import seccomp as libseccomp

    return [name for name in names if hasattr(libseccomp.Arch, name.removeprefix("SCMP_ARCH_"))]


def memory_policy() -> dict[str, list[str]]:
    release = _kernel_version()
    modes = [name for name in MPOL_MODES if release >= MPOL_MIN_KERNEL.get(name, (0, 0))]
    return {"modes": modes, "flags": sorted(MPOL_FLAGS)}


def _kernel_version() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)
