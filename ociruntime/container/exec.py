"""`exec`: run another process inside a running container, treated exactly like its init.

As in `create`, the modules of optional features (seccomp, labels, process attributes, terminals) are
imported only when the process uses them.
"""

from __future__ import annotations

import os

from ociruntime import errors
from ociruntime.container import pidfile
from ociruntime.container.foreground import receive_master, wait_forwarding_signals
from ociruntime.linux import identity, procfs, sockets
from ociruntime.linux.execstub import ExecStub
from ociruntime.process import spawn
from ociruntime.process.execute import ProcessPlan
from ociruntime.process.optional import build_seccomp, plan_attributes, plan_labels
from ociruntime.spec.capabilities import parse_capabilities
from ociruntime.spec.exec_process import copy_json, exec_process
from ociruntime.spec.model import parse_config
from ociruntime.spec.tables import NAMESPACES
from ociruntime.state.status import Status, is_same_process
from ociruntime.state.store import Record, Store

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from ociruntime.spec.exec_process import ExecOverrides


class ExecOptions:
    __slots__ = (
        "overrides", "process_file", "detach", "console_socket", "pid_file", "preserve_fds", "cgroup", "ignore_paused",
    )  # fmt: skip

    def __init__(
        self,
        overrides: ExecOverrides,
        process_file: str | None = None,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
        preserve_fds: int = 0,
        cgroup: str | None = None,
        ignore_paused: bool = False,
    ) -> None:
        self.overrides = overrides
        self.process_file = process_file
        self.detach = detach
        self.console_socket = console_socket
        self.pid_file = pid_file
        self.preserve_fds = preserve_fds
        self.cgroup = cgroup
        self.ignore_paused = ignore_paused


def exec_in(store: Store, container_id: str, options: ExecOptions) -> int:
    observed = store.observe(container_id)
    if observed.status in (Status.STOPPED, Status.CREATING):
        raise errors.RuntimeFailure(f"cannot exec in a {observed.status} container")
    if observed.status == Status.PAUSED and not options.ignore_paused:
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
        from ociruntime.linux import console

        rows, cols = console.get_size(0)
        doc["consoleSize"] = {"height": rows, "width": cols}
    config = copy_json(record.config)
    config["process"] = doc
    spec = parse_config(config, record.bundle)
    assert spec.process is not None
    plan = ProcessPlan(
        process=spec.process,
        capabilities=parse_capabilities(doc.get("capabilities"), identity.last_cap()),
        last_cap=identity.last_cap(),
        preserve_fds=options.preserve_fds,
        seccomp=build_seccomp(spec),
        attributes=plan_attributes(spec, is_init=False),
        labels=plan_labels(spec),
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


def _console_sockets(terminal: bool, path: str | None) -> tuple[sockets.Socket | None, sockets.Socket | None]:
    """(our end, the end the process sends its pty master to): the caller's socket, or our own pair."""
    if not terminal:
        return None, None
    if path is not None:
        from ociruntime.linux import console

        return None, console.connect_socket(path)
    ours, theirs = sockets.socketpair(sockets.SOCK_STREAM)
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
