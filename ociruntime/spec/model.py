"""Frozen, typed view of a validated config.json. PURE: no syscalls, no filesystem access.

`parse_config` runs after the schema and semantic checks, so it may assume the shapes are right; it
only turns them into types with defaults filled in. The raw document is kept alongside (`raw`) for the
parts later steps read as data (hooks, annotations, resources).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class IdMapping:
    container_id: int
    host_id: int
    size: int

    def line(self) -> str:
        """One line of /proc/<pid>/uid_map."""
        return f"{self.container_id} {self.host_id} {self.size}\n"


@dataclass(frozen=True)
class Namespace:
    type: str
    path: str | None = None


@dataclass(frozen=True)
class Mount:
    destination: str
    type: str | None
    source: str | None
    options: tuple[str, ...]


@dataclass(frozen=True)
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Process:
    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    user: User
    terminal: bool = False
    no_new_privileges: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def env_value(self, name: str) -> str | None:
        prefix = name + "="
        for entry in reversed(self.env):
            if entry.startswith(prefix):
                return entry[len(prefix) :]
        return None


@dataclass(frozen=True)
class Spec:
    oci_version: str
    bundle: str
    rootfs: str
    root_readonly: bool
    process: Process | None
    hostname: str | None
    domainname: str | None
    mounts: tuple[Mount, ...]
    namespaces: tuple[Namespace, ...]
    uid_mappings: tuple[IdMapping, ...]
    gid_mappings: tuple[IdMapping, ...]
    time_offsets: dict[str, tuple[int, int]]
    cgroups_path: str | None
    rootfs_propagation: str | None
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    annotations: dict[str, str]
    raw: dict[str, Any] = field(compare=False, repr=False)

    def namespace(self, ns_type: str) -> Namespace | None:
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None

    def new_namespace(self, ns_type: str) -> bool:
        ns = self.namespace(ns_type)
        return ns is not None and ns.path is None


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
