"""`exec`: run another process inside a running container, treated exactly like its init."""

from __future__ import annotations

import copy
import os
import socket
from dataclasses import dataclass
from typing import Any

from ociruntime import errors
from ociruntime.container import pidfile
from ociruntime.container.run import receive_master, wait_forwarding_signals
from ociruntime.linux import attributes, console, identity, lsm, procfs, seccomp
from ociruntime.linux.execstub import ExecStub
from ociruntime.process import spawn
from ociruntime.process.execute import ProcessPlan
from ociruntime.spec.capabilities import parse_capabilities
from ociruntime.spec.exec_process import ExecOverrides, exec_process
from ociruntime.spec.model import parse_config
from ociruntime.spec.tables import NAMESPACES
from ociruntime.state.status import Status, is_same_process
from ociruntime.state.store import Record, Store


@dataclass(frozen=True)
class ExecOptions:
    overrides: ExecOverrides
    process_file: str | None = None
    detach: bool = False
    console_socket: str | None = None
    pid_file: str | None = None
    preserve_fds: int = 0
    cgroup: str | None = None
    ignore_paused: bool = False


def exec_in(store: Store, container_id: str, options: ExecOptions) -> int:
    observed = store.observe(container_id)
    if observed.status in (Status.STOPPED, Status.CREATING):
        raise errors.RuntimeFailure(f"cannot exec in a {observed.status.value} container")
    if observed.status is Status.PAUSED and not options.ignore_paused:
        raise errors.RuntimeFailure("cannot exec in a paused container (use --ignore-paused)")
    record = observed.record
    doc = _process_document(record, options)
    terminal = bool(doc.get("terminal"))
    if terminal and options.console_socket is None and options.detach:
        raise errors.RuntimeFailure("exec --tty --detach needs a --console-socket to receive the terminal")
    if not terminal and options.console_socket is not None:
        raise errors.RuntimeFailure("--console-socket given but no terminal was asked for (--tty)")
    if terminal and options.console_socket is None and os.isatty(0) and "consoleSize" not in doc:
        # Foreground exec -t: the program starts with the caller's window size, not 0x0.
        rows, cols = console.get_size(0)
        doc["consoleSize"] = {"height": rows, "width": cols}
    config = copy.deepcopy(record.config)
    config["process"] = doc
    spec = parse_config(config, record.bundle)
    assert spec.process is not None
    linux = config.get("linux") or {}
    plan = ProcessPlan(
        process=spec.process,
        capabilities=parse_capabilities(doc.get("capabilities"), identity.last_cap()),
        last_cap=identity.last_cap(),
        preserve_fds=options.preserve_fds,
        seccomp=seccomp.build(linux.get("seccomp")),
        attributes=attributes.plan_exec(doc, spec),
        labels=lsm.plan_labels(doc, linux, lsm.detect()).process,
        exec_stub=ExecStub(),
    )
    cgroup_paths = _cgroup_paths(record, options.cgroup)
    ours, theirs = _console_sockets(terminal, options.console_socket)
    ns_fds = _open_namespaces(record)
    spawn.become_subreaper()
    try:
        pid = spawn.spawn_exec(
            plan,
            ns_fds,
            join_cgroups=lambda p: _join(cgroup_paths, p),
            console_socket_fd=theirs.fileno() if theirs is not None else None,
            state=observed.oci_state(),
        )
        master = receive_master(ours) if ours is not None else None
    finally:
        for fd in ns_fds.values():
            os.close(fd)
        if plan.seccomp is not None:
            plan.seccomp.close()
        if plan.exec_stub is not None:
            plan.exec_stub.close()
        for sock in (ours, theirs):
            if sock is not None:
                sock.close()
    if options.pid_file:
        pidfile.write(options.pid_file, pid)
    if options.detach:
        return 0
    if master is not None:
        from ociruntime.container.relay import relay

        return relay(master, pid)
    return wait_forwarding_signals(pid)


def _console_sockets(terminal: bool, path: str | None) -> tuple[socket.socket | None, socket.socket | None]:
    """(our end, the end the process sends its pty master to): the caller's socket, or our own pair."""
    if not terminal:
        return None, None
    if path is not None:
        return None, console.connect_socket(path)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    return ours, theirs


def _process_document(record: Record, options: ExecOptions) -> dict[str, Any]:
    from ociruntime.spec import schema, semantic
    from ociruntime.spec.load import read_json

    if options.process_file is not None:
        doc = read_json(options.process_file, what="process file")
        where = "process file"
    else:
        doc = exec_process(record.config, options.overrides)
        where = "exec flags"
    try:
        schema.validate_process(doc)
        semantic.check_process_file(doc)
    except errors.ConfigInvalid as e:
        raise errors.ConfigInvalid(e.path, f"{e.reason} (in the {where})", source=where) from None
    return doc


def _open_namespaces(record: Record) -> dict[str, int]:
    """The container's namespaces, opened through init's /proc entries (init verified by start time)."""
    wanted = [ns["type"] for ns in (record.config.get("linux") or {}).get("namespaces") or ()]
    fds: dict[str, int] = {}
    try:
        for ns_type in wanted:
            fds[ns_type] = os.open(f"/proc/{record.pid}/ns/{NAMESPACES[ns_type][1]}", os.O_RDONLY | os.O_CLOEXEC)
        # Opened first, checked after: if init died and its pid was reused meanwhile, we notice here.
        if not is_same_process(procfs.read_stat(record.pid), record.init_start_time):
            raise errors.ContainerNotRunning(record.id)
    except FileNotFoundError:
        for fd in fds.values():
            os.close(fd)
        raise errors.ContainerNotRunning(record.id) from None
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    return fds


def _cgroup_paths(record: Record, sub: str | None) -> dict[str, str]:
    """The container's cgroups, or (--cgroup) a sub-cgroup of them that must already exist."""
    if not sub:
        return record.cgroup_paths
    paths: dict[str, str] = {}
    for key, path in record.cgroup_paths.items():
        candidate = os.path.normpath(os.path.join(path, sub.lstrip("/")))
        if not candidate.startswith(path.rstrip("/") + "/"):
            raise errors.UsageError(f"--cgroup {sub}: must stay inside the container's cgroup")
        if not os.path.isdir(candidate):
            raise errors.CgroupError(candidate, "no such sub-cgroup in the container")
        paths[key] = candidate
    return paths


def _join(paths: dict[str, str], pid: int) -> None:
    from ociruntime.cgroups import manager

    manager.join(paths, pid)
