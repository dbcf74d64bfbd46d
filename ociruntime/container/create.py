"""`create`: a bundle becomes a container whose init waits on exec.fifo.

Every cheap check happens before anything is made. From the moment the id is claimed, everything made
is undone if a later step fails: processes, cgroups, the state directory (and with it the fifo).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from typing import Any

from ociruntime import errors, hooks
from ociruntime.cgroups import manager as cgroups
from ociruntime.cgroups import resources
from ociruntime.container import lifecycle, pidfile
from ociruntime.linux import attributes, identity, namespaces, procfs, seccomp
from ociruntime.process import spawn
from ociruntime.process.execute import ProcessPlan, SeccompProgram
from ociruntime.process.init import InitContext
from ociruntime.spec import devices as device_plan
from ociruntime.spec.capabilities import CapabilitySets, parse_capabilities
from ociruntime.spec.load import load_bundle
from ociruntime.spec.model import Spec
from ociruntime.state.status import Phase, Status
from ociruntime.state.store import Observed, Record, Store, check_id, rfc3339_now


@dataclass(frozen=True)
class CreateOptions:
    bundle: str
    pid_file: str | None = None
    console_socket: str | None = None
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0


def create(store: Store, container_id: str, options: CreateOptions) -> Record:
    check_id(container_id)
    spec = load_bundle(options.bundle)
    process = spec.process
    assert process is not None  # load_bundle guarantees it
    if process.terminal or options.console_socket:
        raise errors.NotSupported("process.terminal", "terminals are not supported yet")
    if not os.path.isdir(spec.rootfs):
        raise errors.BundleError(spec.rootfs, "root.path is not a directory")
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
    # Compiled here, before anything is forked: a bad filter fails create before it made anything.
    seccomp_program = seccomp.build((spec.raw.get("linux") or {}).get("seccomp"))
    ns_fds = namespaces.open_paths(spec)
    try:
        record = _create_claimed(store, container_id, options, spec, caps, top, ns_fds, seccomp_program)
    finally:
        namespaces.close_all(ns_fds)
    return record


def _create_claimed(
    store: Store,
    container_id: str,
    options: CreateOptions,
    spec: Spec,
    caps: CapabilitySets | None,
    top: int,
    ns_fds: dict[str, int],
    seccomp_program: SeccompProgram | None,
) -> Record:
    process = spec.process
    assert process is not None
    store.make_container_dir(container_id)
    cgroup_created: list[str] = []
    try:
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
        store.save(record)
        start_path, result_path = store.make_fifos(container_id)
        record.cgroup_paths = cgroups.plan_paths(spec.cgroups_path, container_id)
        cgroup_created = cgroups.create(record.cgroup_paths)
        record.cgroup_created = cgroup_created
        store.save(record)
        resources.apply(record.cgroup_paths, (spec.raw.get("linux") or {}).get("resources"))
        ctx = InitContext(
            spec=spec,
            plan=ProcessPlan(
                process=process,
                capabilities=caps,
                last_cap=top,
                preserve_fds=options.preserve_fds,
                seccomp=seccomp_program,
                attributes=attributes.plan(spec),
            ),
            # Opened here, not in init: a container root mapped to an unprivileged host uid could not
            # open them through the 0700 state root. Read-write, so neither ever reads end-of-file.
            start_fd=os.open(start_path, os.O_RDWR | os.O_CLOEXEC),
            result_fd=os.open(result_path, os.O_RDWR | os.O_CLOEXEC),
            devices=device_plan.plan_devices((spec.raw.get("linux") or {}).get("devices")),
            cgroup_paths=record.cgroup_paths,
            no_pivot=options.no_pivot,
            no_new_keyring=options.no_new_keyring,
        )

        def on_init_pid(pid: int) -> None:
            record.pid = pid
            record.init_start_time = procfs.start_time(pid) or 0
            store.save(record)

        def create_runtime(pid: int) -> dict[str, Any]:
            state = Observed(record, Status.CREATING).oci_state()
            hooks.run_hooks(spec.raw, "prestart", state)
            hooks.run_hooks(spec.raw, "createRuntime", state)
            return state

        spawn.become_subreaper()
        try:
            spawn.spawn(
                ctx,
                ns_fds,
                join_cgroups=lambda pid: cgroups.join(record.cgroup_paths, pid),
                on_init_pid=on_init_pid,
                create_runtime=create_runtime,
            )
        finally:
            os.close(ctx.start_fd)
            os.close(ctx.result_fd)
        record.phase = Phase.CREATED
        store.save(record)
        if options.pid_file:
            pidfile.write(options.pid_file, record.pid)
        return record
    except BaseException as exc:
        _roll_back(store, container_id, cgroup_created, exc)
        if _is_hook_failure(exc):
            # runtime-spec: a failed prestart/createRuntime/createContainer hook stops the container
            # and the lifecycle continues at the poststop hooks.
            lifecycle.run_poststop(record)
        raise


def _is_hook_failure(exc: BaseException) -> bool:
    return isinstance(exc, errors.HookFailed) or (isinstance(exc, errors.InitFailed) and exc.step.endswith("hooks"))


def _roll_back(store: Store, container_id: str, cgroup_created: list[str], original: BaseException) -> None:
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
