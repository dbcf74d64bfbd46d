"""`pause` and `resume`: freeze and thaw every process of a container through its cgroup."""

from __future__ import annotations

from ociruntime import errors
from ociruntime.cgroups import freezer
from ociruntime.state.status import Status
from ociruntime.state.store import Store


def pause(store: Store, container_id: str) -> None:
    with store.locked(container_id):
        observed = store.observe(container_id)
        # runc pauses a created container too (its init is waiting on exec.fifo, and freezes as well).
        if observed.status not in (Status.RUNNING, Status.CREATED):
            raise errors.ContainerNotRunning(container_id)
        freezer.freeze(observed.record.cgroup_paths)


def resume(store: Store, container_id: str) -> None:
    with store.locked(container_id):
        observed = store.observe(container_id)
        if observed.status != Status.PAUSED:
            raise errors.RuntimeFailure("container not paused")  # runc's ErrNotPaused wording
        freezer.thaw(observed.record.cgroup_paths)
