"""Frozen, typed view of a validated config.json. PURE: no syscalls, no filesystem access.

`parse_config` runs after the schema and semantic checks, so it may assume the shapes are right; it
only turns them into types with defaults filled in. The raw document is kept alongside (`raw`) for the
parts later steps read as data (hooks, annotations, resources).
"""

from __future__ import annotations

import os

from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The fields ociruntime.spec.attributes plans (process attributes applied before exec). Most configs set
# none of them but rlimits, so the attribute modules are imported only for a config that sets one.
PROCESS_ATTRIBUTE_FIELDS = ("rlimits", "oomScoreAdj", "scheduler", "ioPriority", "execCPUAffinity")
LINUX_ATTRIBUTE_FIELDS = ("personality", "memoryPolicy")
# The fields ociruntime.linux.lsm acts on (AppArmor profile, SELinux labels).
PROCESS_LABEL_FIELDS = ("apparmorProfile", "selinuxLabel")
LINUX_LABEL_FIELDS = ("mountLabel",)


class IdMapping(Value):
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, container_id: int, host_id: int, size: int) -> None:
        self.container_id = container_id
        self.host_id = host_id
        self.size = size

    def line(self) -> str:
        """One line of /proc/<pid>/uid_map."""
        return f"{self.container_id} {self.host_id} {self.size}\n"


class Namespace(Value):
    __slots__ = ("type", "path")

    def __init__(self, type: str, path: str | None = None) -> None:
        self.type = type
        self.path = path


class Mount(Value):
    __slots__ = ("destination", "type", "source", "options")

    def __init__(self, destination: str, type: str | None, source: str | None, options: tuple[str, ...]) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.options = options


class User(Value):
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(
        self, uid: int = 0, gid: int = 0, umask: int | None = None, additional_gids: tuple[int, ...] = ()
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.additional_gids = additional_gids


class Process(Value):
    __slots__ = ("args", "env", "cwd", "user", "terminal", "no_new_privileges", "raw")
    _not_compared = ("raw",)

    def __init__(
        self,
        args: tuple[str, ...],
        env: tuple[str, ...],
        cwd: str,
        user: User,
        terminal: bool = False,
        no_new_privileges: bool = False,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.args = args
        self.env = env
        self.cwd = cwd
        self.user = user
        self.terminal = terminal
        self.no_new_privileges = no_new_privileges
        self.raw: dict[str, Any] = {} if raw is None else raw

    def env_value(self, name: str) -> str | None:
        prefix = name + "="
        for entry in reversed(self.env):
            if entry.startswith(prefix):
                return entry[len(prefix) :]
        return None

    def with_env(self, env: tuple[str, ...]) -> Process:
        """The same process with another environment (`raw` stays the config's)."""
        return Process(self.args, env, self.cwd, self.user, self.terminal, self.no_new_privileges, self.raw)


class Spec(Value):
    __slots__ = (
        "oci_version", "bundle", "rootfs", "root_readonly", "process", "hostname", "domainname", "mounts",
        "namespaces", "uid_mappings", "gid_mappings", "time_offsets", "cgroups_path", "rootfs_propagation",
        "masked_paths", "readonly_paths", "annotations", "raw",
    )  # fmt: skip
    _not_compared = ("raw",)

    def __init__(
        self,
        oci_version: str,
        bundle: str,
        rootfs: str,
        root_readonly: bool,
        process: Process | None,
        hostname: str | None,
        domainname: str | None,
        mounts: tuple[Mount, ...],
        namespaces: tuple[Namespace, ...],
        uid_mappings: tuple[IdMapping, ...],
        gid_mappings: tuple[IdMapping, ...],
        time_offsets: dict[str, tuple[int, int]],
        cgroups_path: str | None,
        rootfs_propagation: str | None,
        masked_paths: tuple[str, ...],
        readonly_paths: tuple[str, ...],
        annotations: dict[str, str],
        raw: dict[str, Any],
    ) -> None:
        self.oci_version = oci_version
        self.bundle = bundle
        self.rootfs = rootfs
        self.root_readonly = root_readonly
        self.process = process
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.namespaces = namespaces
        self.uid_mappings = uid_mappings
        self.gid_mappings = gid_mappings
        self.time_offsets = time_offsets
        self.cgroups_path = cgroups_path
        self.rootfs_propagation = rootfs_propagation
        self.masked_paths = masked_paths
        self.readonly_paths = readonly_paths
        self.annotations = annotations
        self.raw = raw

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None

    def new_namespace(self, ns_type: str) -> bool:
        ns = self.namespace(ns_type)
        return ns is not None and ns.path is None

    def sets_process_attributes(self) -> bool:
        """Whether the process (or linux) sets any field ociruntime.spec.attributes plans."""
        return _sets_any(self.process.raw if self.process else {}, PROCESS_ATTRIBUTE_FIELDS) or _sets_any(
            self.raw.get("linux") or {}, LINUX_ATTRIBUTE_FIELDS
        )

    def sets_labels(self) -> bool:
        """Whether the process (or linux) names an AppArmor profile or an SELinux label."""
        return _sets_any(self.process.raw if self.process else {}, PROCESS_LABEL_FIELDS) or _sets_any(
            self.raw.get("linux") or {}, LINUX_LABEL_FIELDS
        )


def _sets_any(doc: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    return any(doc.get(name) is not None for name in fields)


def parse_mappings(items: list[dict[str, int]] | None) -> tuple[IdMapping, ...]:
    return tuple(IdMapping(m["containerID"], m["hostID"], m["size"]) for m in items or ())


def parse_process(doc: dict[str, Any]) -> Process:
    user = doc.get("user") or {}
    return Process(
        args=tuple(doc.get("args") or ()),
        env=tuple(doc.get("env") or ()),
        cwd=doc.get("cwd", "/"),
        user=User(
            uid=user.get("uid", 0),
            gid=user.get("gid", 0),
            umask=user.get("umask"),
            additional_gids=tuple(user.get("additionalGids") or ()),
        ),
        terminal=bool(doc.get("terminal", False)),
        no_new_privileges=bool(doc.get("noNewPrivileges", False)),
        raw=doc,
    )


def parse_config(doc: dict[str, Any], bundle: str) -> Spec:
    """Turn a validated config.json into a Spec; `bundle` must be an absolute path."""
    root = doc.get("root") or {}
    linux = doc.get("linux") or {}
    root_path = root.get("path", "rootfs")
    rootfs = os.path.normpath(os.path.join(bundle, root_path))
    offsets = {
        clock: (int(v.get("secs", 0)), int(v.get("nanosecs", 0)))
        for clock, v in (linux.get("timeOffsets") or {}).items()
    }
    return Spec(
        oci_version=doc.get("ociVersion", ""),
        bundle=bundle,
        rootfs=rootfs,
        root_readonly=bool(root.get("readonly", False)),
        process=parse_process(doc["process"]) if "process" in doc else None,
        hostname=doc.get("hostname"),
        domainname=doc.get("domainname"),
        mounts=tuple(
            Mount(m["destination"], m.get("type"), m.get("source"), tuple(m.get("options") or ()))
            for m in doc.get("mounts") or ()
        ),
        namespaces=tuple(Namespace(n["type"], n.get("path") or None) for n in linux.get("namespaces") or ()),
        uid_mappings=parse_mappings(linux.get("uidMappings")),
        gid_mappings=parse_mappings(linux.get("gidMappings")),
        time_offsets=offsets,
        cgroups_path=linux.get("cgroupsPath") or None,
        rootfs_propagation=linux.get("rootfsPropagation") or None,
        masked_paths=tuple(linux.get("maskedPaths") or ()),
        readonly_paths=tuple(linux.get("readonlyPaths") or ()),
        annotations=dict(doc.get("annotations") or {}),
        raw=doc,
    )
