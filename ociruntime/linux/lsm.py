"""AppArmor and SELinux: decide in the parent what to apply, apply it in the container process.

Decisions follow runc:
- `process.apparmorProfile` on a host without AppArmor is an error (runc fails in init writing
  /proc/self/attr/exec; we fail `create` before anything is made). With AppArmor, "exec <profile>" is
  written to attr/apparmor/exec (or the older attr/exec) so the profile applies from execve on.
- `process.selinuxLabel` on a host without SELinux is an error, worded as runc's
  (libcontainer/configs/validate). With SELinux, the label goes to attr/exec.
- `linux.mountLabel` on a host without SELinux is ignored, as runc's label.FormatMountLabel does.

Writes go to the real procfs (the CVE-2025-52881 class: a container mount placed over a procfs file must
not redirect them): the file is opened with openat2(RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS) below the root
of a procfs mount, so no mount and no symlink can be crossed on the way, and the filesystem is checked to
be procfs.

Imported only for a config that names a profile or a label (ociruntime.spec.model.Spec.sets_labels).
"""

from __future__ import annotations

import os

from ociruntime import errors
from ociruntime.linux.procfiles import (  # re-exported: the LSM writes are one of their users
    write_proc_file,
)
from ociruntime.values import Value

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SELINUX_DISABLED = "selinux label is specified in config, but selinux is disabled or not supported"
APPARMOR_DISABLED = "apparmor profile is specified in config, but apparmor is disabled or not supported"


class HostLsm(Value):
    __slots__ = ("apparmor", "selinux")

    def __init__(self, apparmor: bool, selinux: bool) -> None:
        self.apparmor = apparmor
        self.selinux = selinux


def detect(sys_root: str = "/sys", proc_root: str = "/proc") -> HostLsm:
    """What the host enforces, checked the way runc (and go-selinux) check it."""
    return HostLsm(apparmor=_apparmor_enabled(sys_root), selinux=_selinux_enabled(sys_root, proc_root))


def _apparmor_enabled(sys_root: str) -> bool:
    if not os.path.isdir(os.path.join(sys_root, "kernel/security/apparmor")):
        return False
    try:
        with open(os.path.join(sys_root, "module/apparmor/parameters/enabled")) as f:
            return f.read(1) == "Y"
    except OSError:
        return False


def _selinux_enabled(sys_root: str, proc_root: str) -> bool:
    if not os.path.isfile(os.path.join(sys_root, "fs/selinux/enforce")):
        return False
    try:
        with open(os.path.join(proc_root, "self/attr/current")) as f:
            return f.read().strip("\0\n ") not in ("", "kernel")
    except OSError:
        return False


class ProcessLabels(Value):
    """What the container process writes to its own attr files before execve."""

    __slots__ = ("apparmor_profile", "selinux_label")

    def __init__(self, apparmor_profile: str | None = None, selinux_label: str | None = None) -> None:
        self.apparmor_profile = apparmor_profile
        self.selinux_label = selinux_label

    def writes(self) -> list[tuple[tuple[str, ...], str]]:
        """(candidate attr paths below /proc/<pid>/, value), first existing candidate wins."""
        result: list[tuple[tuple[str, ...], str]] = []
        if self.apparmor_profile:
            result.append((("attr/apparmor/exec", "attr/exec"), f"exec {self.apparmor_profile}"))
        if self.selinux_label:
            result.append((("attr/exec",), self.selinux_label))
        return result

    def apply(self) -> None:
        for candidates, value in self.writes():
            write_own_attr(candidates, value)


class LabelPlan(Value):
    __slots__ = ("process", "mount_label", "notes")

    def __init__(self, process: ProcessLabels | None, mount_label: str | None, notes: tuple[str, ...] = ()) -> None:
        self.process = process
        self.mount_label = mount_label
        self.notes = notes


def plan_labels(process: Mapping[str, Any], linux: Mapping[str, Any], host: HostLsm) -> LabelPlan:
    """PURE given `host`: the labels to apply, or ConfigInvalid/NotSupported for ones that cannot be."""
    profile = process.get("apparmorProfile") or None
    label = process.get("selinuxLabel") or None
    mount_label = linux.get("mountLabel") or None
    notes: list[str] = []
    if profile and not host.apparmor:
        raise errors.NotSupported("process.apparmorProfile", APPARMOR_DISABLED)
    if label and not host.selinux:
        raise errors.NotSupported("process.selinuxLabel", SELINUX_DISABLED)
    if mount_label and not host.selinux:
        notes.append("linux.mountLabel is ignored: SELinux is not enabled on this host")
        mount_label = None
    labels = ProcessLabels(profile, label) if profile or label else None
    return LabelPlan(labels, mount_label, tuple(notes))


def mount_data_with_label(data: str | None, mount_label: str | None) -> str | None:
    """Mount options for a non-bind mount with the SELinux context (runc's label.FormatMountLabel)."""
    if not mount_label:
        return data
    context = f'context="{mount_label}"'
    return f"{data},{context}" if data else context


# --- writing to the real procfs -------------------------------------------------------------------


# open_proc_root, open_in_procfs and write_proc_file live in ociruntime.linux.procfiles: sysctl and
# oom_score_adj need the same protection.


def write_own_attr(candidates: tuple[str, ...], value: str) -> None:
    """Write to /proc/<own pid>/<attr>: the first candidate that exists (pid, not the self symlink)."""
    last: OSError | None = None
    for attr in candidates:
        try:
            write_proc_file(f"{os.getpid()}/{attr}", value)
            return
        except FileNotFoundError as e:
            last = e
    assert last is not None
    raise last
