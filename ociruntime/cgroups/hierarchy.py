"""Which cgroup hierarchies this host has and where a container's cgroup lives in each.

A v1 (or hybrid) host has one mount per controller set (`cpu`, `memory`, `name=systemd`, ...) and maybe a
controller-less cgroup2 at .../unified; a v2 host has a single cgroup2 mount. The container's cgroup is
the same relative path in every hierarchy; the key `""` stands for the cgroup2 hierarchy.
"""

from __future__ import annotations

import os

UNIFIED = ""


class Hierarchy:
    """One mounted hierarchy. A plain class, not a dataclass: `state` and `kill` read the layout, and
    importing dataclasses costs them ~5 ms (-X importtime)."""

    __slots__ = ("key", "mountpoint", "root")

    def __init__(self, key: str, mountpoint: str, root: str) -> None:
        self.key = key  # "" for cgroup2, else the comma-joined v1 controllers ("cpu", "name=systemd", ...)
        self.mountpoint = mountpoint
        self.root = root  # the mount's root within the hierarchy (usually "/")

    def _fields(self) -> tuple[str, str, str]:
        return (self.key, self.mountpoint, self.root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Hierarchy(key={self.key!r}, mountpoint={self.mountpoint!r}, root={self.root!r})"


class Layout:
    __slots__ = ("hierarchies",)

    def __init__(self, hierarchies: tuple[Hierarchy, ...]) -> None:
        self.hierarchies = hierarchies

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and self.hierarchies == other.hierarchies

    def __hash__(self) -> int:
        return hash(self.hierarchies)

    def __repr__(self) -> str:
        return f"Layout({self.hierarchies!r})"

    @property
    def is_v2(self) -> bool:
        """A pure cgroup2 host (the unified hierarchy is the only one)."""
        return all(h.key == UNIFIED for h in self.hierarchies) and bool(self.hierarchies)

    def get(self, key: str) -> Hierarchy | None:
        for h in self.hierarchies:
            if h.key == key:
                return h
        return None


def parse_mountinfo(text: str) -> Layout:
    found: list[Hierarchy] = []
    seen: set[str] = set()
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, super_opts = (right.split() + ["", "", ""])[:3]
        if fstype == "cgroup2":
            key = UNIFIED
        elif fstype == "cgroup":
            opts = [
                o
                for o in super_opts.split(",")
                if o not in ("rw", "ro") and not o.startswith(("release_agent", "clone_children", "noprefix", "xattr"))
            ]
            key = ",".join(opts)
        else:
            continue
        if key in seen:  # the same hierarchy bind-mounted twice: the first mount is the host's
            continue
        seen.add(key)
        found.append(Hierarchy(key=key, mountpoint=unescape(fields[4]), root=unescape(fields[3])))
    return Layout(tuple(found))


def unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes (\\040)."""
    if "\\" not in field:
        return field
    import re  # here, not at the top: `state` and `kill` import this module, and escapes are rare

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup → {hierarchy key: path}."""
    result: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            result[parts[1]] = parts[2]
    return result


def read_layout() -> Layout:
    with open("/proc/self/mountinfo") as f:
        return parse_mountinfo(f.read())


def read_own_cgroups() -> dict[str, str]:
    with open("/proc/self/cgroup") as f:
        return parse_proc_cgroup(f.read())


def container_paths(layout: Layout, cgroups_path: str, own: dict[str, str]) -> dict[str, str]:
    """The container's directory in each hierarchy for `linux.cgroupsPath`.

    Absolute paths are taken from each hierarchy's root; relative ones from the runtime's own cgroup in
    that hierarchy, as runc does.
    """
    paths: dict[str, str] = {}
    for h in layout.hierarchies:
        if cgroups_path.startswith("/"):
            rel = cgroups_path
        else:
            rel = os.path.join(own.get(h.key, "/"), cgroups_path)
        rel = os.path.normpath(rel)
        # The mount may show only a subtree (inside a cgroup namespace or a container): strip its root.
        if h.root != "/" and (rel == h.root or rel.startswith(h.root + "/")):
            rel = rel[len(h.root) :] or "/"
        paths[h.key] = os.path.join(h.mountpoint, rel.lstrip("/"))
    return paths


def controller_dir(paths: dict[str, str], controller: str) -> str | None:
    """The container's directory in the v1 hierarchy that has `controller` (co-mounts: "cpu,cpuacct")."""
    for key, path in paths.items():
        if key != UNIFIED and controller in key.split(","):
            return path
    return None
