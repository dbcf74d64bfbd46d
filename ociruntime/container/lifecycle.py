"""`start`, `kill` and `delete`: each a status guard followed by a short sequence of named steps."""

from __future__ import annotations

import errno
import os

from ociruntime import errors, faults
from ociruntime.cgroups import manager as cgroups
from ociruntime.linux import procfs
from ociruntime.signals import SIGKILL, pidfd_send_signal
from ociruntime.state.status import Phase, Status, is_same_process
from ociruntime.state.store import Observed, Record, Store

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

_GONE_TIMEOUT = 10.0


def start(store: Store, container_id: str) -> Record:
    with store.locked(container_id):
        observed = store.observe(container_id)
        record = observed.record
        if observed.status == Status.STOPPED:
            raise errors.RuntimeFailure("cannot start a container that has stopped")
        if observed.status != Status.CREATED:
            raise errors.RuntimeFailure(f"cannot start an already {observed.status} container")
        result_fd = os.open(store.result_path(container_id), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            faults.point("start.before-fifo-write")
            _release_init(store, record)
            faults.point("start.after-fifo-write")
            record.phase = Phase.RUNNING
            store.save(record)
            faults.point("start.after-save")
            try:
                os.unlink(store.fifo_path(container_id))
            except FileNotFoundError:
                pass
            failure = _read_result(result_fd)
        finally:
            os.close(result_fd)
    if failure:
        raise errors.RuntimeFailure(failure)
    # The program runs now (init's end of exec.result closed at execve): poststart comes after it.
    _run_poststart(record)
    return record


def _release_init(store: Store, record: Record) -> None:
    """Write the byte init waits for. O_NONBLOCK: if no reader is left, init is dead (ENXIO), not slow."""
    try:
        fd = os.open(store.fifo_path(record.id), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ENXIO, errno.ENOENT):
            raise errors.RuntimeFailure("cannot start a container that has stopped") from None
        raise errors.StateError(store.fifo_path(record.id), f"cannot open exec.fifo: {e.strerror}") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def _read_result(fd: int) -> str:
    """Everything init writes to exec.result until it closes it (at execve, or by dying), as one line."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    chunks: list[bytes] = []
    while True:
        poller.poll()
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            continue
        if not data:
            report = b"".join(chunks)
            if report[:1] == b"\0":  # from the exec stub waiting in init's place (process/waiter.py)
                from ociruntime.linux.execstub import describe_report

                return describe_report(report)
            return report.decode(errors="replace").strip()
        chunks.append(data)


def _has_hooks(record: Record, phase: str) -> bool:
    """Whether the config has hooks of `phase`: ociruntime.hooks is imported only when there are."""
    return bool((record.config.get("hooks") or {}).get(phase))


def _run_poststart(record: Record) -> None:
    """runtime-spec v1.3.0 (#1262 "fail when a poststart hook fails"): a failing poststart hook is an
    error; the container is stopped and its lifecycle goes on at delete (which runs poststop)."""
    if not _has_hooks(record, "poststart"):
        return
    from ociruntime import hooks

    try:
        hooks.run_hooks(record.config, "poststart", Observed(record, Status.RUNNING).oci_state())
    except errors.HookFailed:
        _kill_init_quietly(record)
        _wait_gone(record)
        raise


def _warn(message: str) -> None:
    from ociruntime.cli import log

    log.warning(message)


def kill(store: Store, container_id: str, sig: int, *, all_processes: bool = False) -> None:
    observed = store.observe(container_id)
    record = observed.record
    if all_processes:
        # runc: --all signals whatever is still in the cgroup, even once init is gone (a stopped
        # container whose children linger); frozen meanwhile so that no fork escapes the signal.
        if observed.status == Status.CREATING or (
            observed.status == Status.STOPPED and not cgroups.pids(record.cgroup_paths)
        ):
            raise errors.ContainerNotRunning(container_id)
        cgroups.signal_all(record.cgroup_paths, sig)
        return
    if observed.status in (Status.STOPPED, Status.CREATING):
        raise errors.ContainerNotRunning(container_id)
    signal_init(record, sig)


def signal_init(record: Record, sig: int) -> None:
    """Signal init through a pidfd, checked against the recorded start time: never a reused pid."""
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        raise errors.ContainerNotRunning(record.id) from None
    try:
        if not is_same_process(procfs.read_stat(record.pid), record.init_start_time):
            raise errors.ContainerNotRunning(record.id)
        pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise errors.ContainerNotRunning(record.id) from None
    finally:
        os.close(pidfd)


def delete(store: Store, container_id: str, *, force: bool = False) -> None:
    try:
        with store.locked(container_id):
            try:
                observed = store.observe(container_id)
            except (errors.ContainerNotFound, errors.StateError):
                if not force:
                    raise
                # A directory without a usable state file (a create killed right after claiming the
                # id, a damaged file): cleanup.json, written apart, still names the cgroups; what
                # runs in them is killed, they are removed, and the id is free again.
                paths, created = store.load_cleanup(container_id)
                if paths:
                    _thaw_paths(paths)
                    cgroups.signal_all(paths, SIGKILL)
                    cgroups.remove(created)
                store.remove(container_id)
                return
            _delete_locked(store, observed, force)
    except errors.ContainerNotFound:
        if not force:
            raise


def _delete_locked(store: Store, observed: Observed, force: bool) -> None:
    record = observed.record
    status = observed.status
    if status in (Status.RUNNING, Status.PAUSED, Status.CREATING) and not force:
        raise errors.RuntimeFailure(f"cannot delete container {record.id} that is not stopped: {status}")
    # A created container is deleted without --force, as runc does: its program never ran.
    _kill_everything(record)
    faults.point("delete.after-kill")
    return_net_devices(record.config, store.path(record.id))
    cgroups.remove(record.cgroup_created)
    faults.point("delete.after-cgroup-removal")
    store.remove(record.id)
    faults.point("delete.after-state-removal")
    run_poststop(record)


def return_net_devices(config: dict[str, Any], state_dir: str) -> None:
    """linux.netDevices go back to the host when the container goes; a failure only warns, since
    the container is gone either way (the device then stays in the dead namespace's cleanup)."""
    if not (config.get("linux") or {}).get("netDevices"):
        return
    from ociruntime.linux import netdevices

    pin = os.path.join(state_dir, netdevices.PIN_NAME)
    if not os.path.lexists(pin):
        return  # nothing was moved in, or create succeeded and released it
    try:
        netdevices.detach(config, pin)
    except errors.RuntimeFailure as e:
        from ociruntime.cli import log

        log.warning(str(e))


def _kill_everything(record: Record) -> None:
    if record.cgroup_paths:
        _thaw(record)
        cgroups.signal_all(record.cgroup_paths, SIGKILL)
    if record.pid > 0 and is_same_process(procfs.read_stat(record.pid), record.init_start_time):
        _kill_init_quietly(record)
        _wait_gone(record)


def _kill_init_quietly(record: Record) -> None:
    """SIGKILL init; that it is gone already is fine."""
    try:
        signal_init(record, SIGKILL)
    except errors.ContainerNotRunning:
        pass


def _thaw(record: Record) -> None:
    _thaw_paths(record.cgroup_paths)


def _thaw_paths(paths: dict[str, str]) -> None:
    """A frozen (paused) process cannot die: thaw first, v1 and v2 alike."""
    from ociruntime.cgroups import freezer

    if freezer.is_frozen(paths):
        try:
            freezer.thaw(paths)
        except errors.CgroupError:
            pass


def _wait_gone(record: Record) -> None:
    """Wait until init is dead (a zombie counts: its reaper is the engine, not us).

    A pidfd turns readable the moment its process exits, so the wait ends then, not at a next poll.
    """
    try:
        pidfd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return
    try:
        # Opened first, checked second: the pidfd pins this pid, so a match means it is init's.
        if not is_same_process(procfs.read_stat(record.pid), record.init_start_time):
            return
        import select  # built into the interpreter: costs nothing to import

        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(_GONE_TIMEOUT * 1000)):
            raise errors.RuntimeFailure(f"container {record.id}: init process {record.pid} did not exit after SIGKILL")
    finally:
        os.close(pidfd)


def run_poststop(record: Record) -> None:
    if not _has_hooks(record, "poststop"):
        return
    from ociruntime import hooks

    hooks.run_hooks_best_effort(record.config, "poststop", Observed(record, Status.STOPPED).oci_state(), _warn)
