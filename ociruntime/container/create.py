"""`create`: a bundle becomes a container whose init waits on exec.fifo.

Every cheap check happens before anything is made. From the moment the id is claimed, everything made
is undone if a later step fails: processes, cgroups, the state directory (and with it the fifo).

Each call is a new interpreter, and every import is paid on each: the modules of features most configs
leave out (seccomp, AppArmor/SELinux labels, process attributes, idmapped mounts, terminals, sysctl,
netDevices, Intel RDT) are imported only when the config uses them.
"""

from __future__ import annotations

import os
import pwd

from ociruntime import errors, faults, hooks
from ociruntime.cgroups import manager as cgroups
from ociruntime.cgroups import resources
from ociruntime.container import lifecycle, pidfile
from ociruntime.linux import identity, namespaces, procfs
from ociruntime.linux.execstub import ExecStub
from ociruntime.process import spawn, waiter
from ociruntime.process.execute import ProcessPlan
from ociruntime.process.init import InitContext
from ociruntime.process.optional import build_seccomp, plan_attributes, plan_labels
from ociruntime.spec import devices as device_plan
from ociruntime.spec import mounts
from ociruntime.spec.capabilities import parse_capabilities
from ociruntime.spec.load import load_bundle
from ociruntime.state.status import Phase, Status
from ociruntime.state.store import Observed, Record, Store, check_id, rfc3339_now

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from ociruntime.linux.sockets import Socket
    from ociruntime.process.execute import ProcessAttributes, ProcessLabels, SeccompProgram
    from ociruntime.spec.capabilities import CapabilitySets
    from ociruntime.spec.model import Process, Spec

# Intel RDT is refused on every host for now, with a reason that depends on the host.
RESCTRL = "/sys/fs/resctrl"


class CreateOptions:
    __slots__ = ("bundle", "pid_file", "console_socket", "no_pivot", "no_new_keyring", "preserve_fds")

    def __init__(
        self,
        bundle: str,
        pid_file: str | None = None,
        console_socket: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
    ) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds


class Prepared:
    """Everything resolved and checked before the id is claimed: failing here leaves nothing behind."""

    __slots__ = (
        "spec", "process", "caps", "last_cap", "seccomp", "labels", "ns_fds", "console", "idmapped", "exec_stub",
        "listen_fds",
    )  # fmt: skip

    def __init__(
        self,
        spec: Spec,
        process: Process,
        caps: CapabilitySets | None,
        last_cap: int,
        seccomp: SeccompProgram | None,
        labels: ProcessLabels | None,
        listen_fds: int = 0,
    ) -> None:
        self.spec = spec
        self.process = process
        self.caps = caps
        self.last_cap = last_cap
        self.seccomp = seccomp
        self.labels = labels
        self.listen_fds = listen_fds
        self.ns_fds: dict[str, int] = {}
        self.console: Socket | None = None
        self.idmapped: dict[int, int] = {}
        self.exec_stub: ExecStub | None = None

    def close(self) -> None:
        """The parent's copies of fds handed to the container's processes (they inherited them)."""
        namespaces.close_all(self.ns_fds)
        if self.idmapped:
            from ociruntime.linux import idmap

            idmap.close(self.idmapped)
        if self.console is not None:
            self.console.close()
        if self.seccomp is not None:
            self.seccomp.close()
        if self.exec_stub is not None:
            self.exec_stub.close()


def create(store: Store, container_id: str, options: CreateOptions, *, console_sock: Socket | None = None) -> Record:
    """`console_sock`: an already connected console socket (foreground `run` with a terminal)."""
    check_id(container_id)
    prepared = _prepare(options, console_sock)
    try:
        return _create_claimed(store, container_id, options, prepared)
    finally:
        prepared.close()


def _prepare(options: CreateOptions, console_sock: Socket | None) -> Prepared:
    spec = load_bundle(options.bundle)
    process = spec.process
    assert process is not None  # load_bundle guarantees it
    if not os.path.isdir(spec.rootfs):
        raise errors.BundleError(spec.rootfs, "root.path is not a directory")
    if not process.terminal and console_sock is not None:
        console_sock.close()  # offered by a foreground `run` in case a terminal was asked for
        console_sock = None
    if process.terminal and options.console_socket is None and console_sock is None:
        raise errors.RuntimeFailure("process.terminal is set: a --console-socket is needed to receive the terminal")
    if not process.terminal and options.console_socket is not None:
        raise errors.RuntimeFailure("--console-socket given but process.terminal is not set")
    from ociruntime.spec.semantic import config_warnings

    for path, message in config_warnings(spec.raw):
        _warn(f"{path}: {message}")
    top = identity.last_cap()
    caps = parse_capabilities(process.raw.get("capabilities"), top)
    if caps is not None and caps.unknown_to_host:
        _warn(f"capabilities not known to this kernel are ignored: {', '.join(caps.unknown_to_host)}")
    if caps is not None and caps.unraisable_ambient():
        names = ", ".join(caps.unraisable_ambient())
        _debug(f"ambient capabilities not in both the permitted and inheritable sets are not raised: {names}")
    # A label the host cannot enforce fails here, as runc fails (see ociruntime.linux.lsm).
    labels = plan_labels(spec, notes=_debug)
    # Compiled here, before anything is forked: a bad filter fails create before it made anything.
    seccomp_program = build_seccomp(spec)
    listen_fds = socket_activation_fds()
    if listen_fds:
        # Socket activation passes through, as with runc: the fds stay 3.., the program is PID 1.
        process = process.with_env((*process.env, f"LISTEN_FDS={listen_fds}", "LISTEN_PID=1"))
    prepared = Prepared(spec, process, caps, top, seccomp_program, labels, listen_fds=listen_fds)
    try:
        prepared.ns_fds = namespaces.open_paths(spec)
        if any(mounts.is_idmapped(m.options) for m in spec.mounts):
            from ociruntime.linux import idmap

            prepared.idmapped = idmap.prepare(spec)
        if options.console_socket is not None:
            from ociruntime.linux import console

            console_sock = console.connect_socket(options.console_socket)
        prepared.console = console_sock
        prepared.exec_stub = ExecStub()
    except BaseException:
        prepared.close()
        raise
    return prepared


def with_device_access(linux: dict[str, Any]) -> dict[str, Any] | None:
    """linux.resources, plus an allow rule for each node in linux.devices: a device the config creates
    is usable inside. The allows go *before* the config's own rules, which the runtime applies in their
    listed order (runtime-spec), so an explicit deny in linux.resources.devices still wins."""
    configured = [d for d in linux.get("devices") or () if d.get("type") in ("c", "u", "b")]
    if not configured:
        return linux.get("resources")
    resources = dict(linux.get("resources") or {})
    resources["devices"] = [
        {"allow": True, "type": "b" if d["type"] == "b" else "c", "major": d["major"], "minor": d["minor"],
         "access": "rwm"}
        for d in configured
    ] + list(resources.get("devices") or [])  # fmt: skip
    return resources


def _cgroup_paths_for(spec: Spec, container_id: str, linux: dict[str, Any]) -> dict[str, str]:
    """Where the container's cgroups go. An unprivileged user gets cgroups only where a subtree was
    delegated to it (writable); without one the container runs in the caller's cgroups, which is
    only acceptable when the config asks for no resource limits."""
    paths = cgroups.plan_paths(spec.cgroups_path, container_id)
    if os.geteuid() == 0 or all(os.access(_nearest_existing(p), os.W_OK) for p in paths.values()):
        return paths
    limits = {k: v for k, v in (linux.get("resources") or {}).items() if v and k != "devices"}
    if limits:
        names = ", ".join(sorted(limits))
        raise errors.NotSupported(
            "linux.resources", f"{names}: no cgroup writable by this user (rootless without a delegated cgroup)"
        )
    return {}


def _nearest_existing(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def socket_activation_fds() -> int:
    """How many fds systemd's socket activation (LISTEN_FDS, LISTEN_PID) handed to this process."""
    count = os.environ.get("LISTEN_FDS", "")
    owner = os.environ.get("LISTEN_PID", "")
    if not count.isdigit() or (owner and owner != str(os.getpid())):
        return 0
    return int(count)


def _create_claimed(store: Store, container_id: str, options: CreateOptions, prepared: Prepared) -> Record:
    spec = prepared.spec
    linux = spec.raw.get("linux") or {}
    store.make_container_dir(container_id)
    faults.point("create.after-claim")
    cgroup_created: list[str] = []
    record = Record(
        id=container_id,
        bundle=spec.bundle,
        rootfs=spec.rootfs,
        created=rfc3339_now(),
        owner=_owner_name(),
        phase=Phase.CREATING,
        creator_pid=os.getpid(),
        creator_start_time=procfs.start_time(os.getpid()) or 0,
        annotations=spec.annotations,
        config=spec.raw,
    )
    try:
        store.save(record)
        start_path, result_path = store.make_fifos(container_id)
        faults.point("create.after-fifos")
        record.cgroup_paths = _cgroup_paths_for(spec, container_id, linux)
        # Written down before they exist: a create killed half-way leaves delete a list to clear.
        record.cgroup_created = cgroups.missing_dirs(record.cgroup_paths)
        store.save_cleanup(container_id, record.cgroup_paths, record.cgroup_created)
        store.save(record)
        cgroup_created = cgroups.create(record.cgroup_paths)
        faults.point("create.after-cgroups")
        record.cgroup_created = cgroup_created
        store.save(record)
        faults.point("create.after-cgroups-saved")
        if record.cgroup_paths:  # none for a rootless container without a delegated cgroup
            resources.apply(record.cgroup_paths, with_device_access(linux))
        ctx = InitContext(
            spec=spec,
            plan=ProcessPlan(
                process=prepared.process,
                capabilities=prepared.caps,
                last_cap=prepared.last_cap,
                preserve_fds=prepared.listen_fds + options.preserve_fds,
                seccomp=prepared.seccomp,
                attributes=_init_attributes(spec),
                labels=prepared.labels,
                exec_stub=prepared.exec_stub,
            ),
            # Opened here, not in init: a container root mapped to an unprivileged host uid could not
            # open them through the 0700 state root. Read-write, so neither ever reads end-of-file.
            start_fd=os.open(start_path, os.O_RDWR | os.O_CLOEXEC),
            result_fd=os.open(result_path, os.O_RDWR | os.O_CLOEXEC),
            console_socket_fd=prepared.console.fileno() if prepared.console is not None else None,
            devices=device_plan.plan_devices(linux.get("devices")),
            cgroup_paths=record.cgroup_paths,
            no_pivot=options.no_pivot,
            no_new_keyring=options.no_new_keyring,
            idmapped=prepared.idmapped,
        )
        ctx.wait_in_stub = waiter.usable(ctx.plan, spec.raw)

        def on_init_pid(pid: int) -> None:
            record.pid = pid
            record.init_start_time = procfs.start_time(pid) or 0
            store.save(record)
            faults.point("create.after-init-pid")
            if linux.get("netDevices"):
                from ociruntime.linux import netdevices

                netdevices.attach(spec.raw, pid, store.path(container_id, netdevices.PIN_NAME))

        def create_runtime(pid: int) -> dict[str, Any]:
            state = Observed(record, Status.CREATING).oci_state()
            hooks.run_hooks(spec.raw, "prestart", state)
            hooks.run_hooks(spec.raw, "createRuntime", state)
            return state

        spawn.become_subreaper()
        try:
            spawn.spawn(
                ctx,
                prepared.ns_fds,
                join_cgroups=lambda pid: cgroups.join(record.cgroup_paths, pid),
                on_init_pid=on_init_pid,
                create_runtime=create_runtime,
            )
        finally:
            os.close(ctx.start_fd)
            os.close(ctx.result_fd)
        faults.point("create.after-ready")
        if linux.get("netDevices"):
            from ociruntime.linux import netdevices

            netdevices.release(store.path(container_id, netdevices.PIN_NAME))
        record.phase = Phase.CREATED
        store.save(record)
        faults.point("create.after-save")
        if options.pid_file:
            pidfile.write(options.pid_file, record.pid)
        return record
    except BaseException as exc:
        _roll_back(store, container_id, cgroup_created, exc, spec.raw)
        if _is_hook_failure(exc):
            # runtime-spec: a failed prestart/createRuntime/createContainer hook stops the container
            # and the lifecycle continues at the poststop hooks.
            lifecycle.run_poststop(record)
        raise


def _init_attributes(spec: Spec) -> ProcessAttributes | None:
    _check_host_support(spec)
    return plan_attributes(spec, is_init=True)


def _check_host_support(spec: Spec) -> None:
    """linux.* fields refused on this host: intelRdt, sysctl outside owned namespaces, netDevices."""
    linux = spec.raw.get("linux") or {}
    if linux.get("intelRdt") is not None:
        if not os.path.isdir(RESCTRL) or not os.path.exists(os.path.join(RESCTRL, "schemata")):
            raise errors.NotSupported("linux.intelRdt", f"no resctrl filesystem is mounted at {RESCTRL} on this host")
        raise errors.NotSupported("linux.intelRdt", "Intel RDT is not supported by this runtime yet")
    if linux.get("sysctl"):
        from ociruntime.linux import sysctl

        sysctl.check(spec)
    if linux.get("netDevices"):
        from ociruntime.linux import netdevices

        netdevices.check(spec)


def _is_hook_failure(exc: BaseException) -> bool:
    return isinstance(exc, errors.HookFailed) or (isinstance(exc, errors.InitFailed) and exc.step.endswith("hooks"))


def _roll_back(
    store: Store, container_id: str, cgroup_created: list[str], original: BaseException, config: dict[str, Any]
) -> None:
    lifecycle.return_net_devices(config, store.path(container_id))
    try:
        cgroups.remove(cgroup_created)
    except errors.RuntimeFailure as e:
        store.remove(container_id)
        raise errors.RollbackFailed(original, e) from original
    store.remove(container_id)


def _owner_name() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _warn(message: str) -> None:
    from ociruntime.cli import log

    log.warning(message)


def _debug(message: str) -> None:
    from ociruntime.cli import log

    log.debug(message)
