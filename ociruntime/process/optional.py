"""The optional parts of a process plan: seccomp filter, AppArmor/SELinux labels, process attributes.

`create` and `exec` build them in the parent, before anything is forked, so that a part the host cannot
provide fails the command early. Each comes from a module of its own (ociruntime.linux.seccomp, lsm,
attributes) that is imported only for a config that uses the feature: most set none of them but
rlimits, and every import is paid on every call. The container process needs no import to use a part,
whose module the parent has loaded by making it.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable

    from ociruntime.process.execute import ProcessAttributes, ProcessLabels, SeccompProgram
    from ociruntime.spec.model import Spec


def build_seccomp(spec: Spec) -> SeccompProgram | None:
    """linux.seccomp compiled to the filter the container's processes load, or None without one."""
    doc = (spec.raw.get("linux") or {}).get("seccomp")
    if doc is None:
        return None
    from ociruntime.linux import seccomp

    return seccomp.build(doc)


def plan_labels(spec: Spec, *, notes: Callable[[str], None] | None = None) -> ProcessLabels | None:
    """AppArmor profile and SELinux label of the process. A label the host cannot enforce fails here,
    as runc fails (see ociruntime.linux.lsm); `notes` hears what is ignored."""
    if not spec.sets_labels():
        return None
    from ociruntime.linux import lsm

    assert spec.process is not None
    label_plan = lsm.plan_labels(spec.process.raw, spec.raw.get("linux") or {}, lsm.detect())
    if notes is not None:
        for note in label_plan.notes:
            notes(note)
    return label_plan.process


def plan_attributes(spec: Spec, *, is_init: bool) -> ProcessAttributes | None:
    """rlimits, scheduler, I/O priority and the rest (ociruntime.linux.attributes), checked against this
    host; None when the config sets none of them. `is_init` False for an `exec`'d process."""
    if not spec.sets_process_attributes():
        return None
    from ociruntime.linux import attributes

    if is_init:
        return attributes.plan(spec)
    assert spec.process is not None
    return attributes.plan_exec(spec.process.raw, spec)
