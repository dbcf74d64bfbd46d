"""The container's init: PID 1 of the new pid namespace, forked by the intermediate process.

It builds the container's view of the world, tells the parent it is READY, then blocks on exec.fifo
until `start`. Only then does it become the configured user, drop capabilities, close every fd the
runtime owns and exec the user program. Every step is named: an error carries the step's name back to
the parent, which turns it into the one line the user sees.
"""

from __future__ import annotations

import os
import signal
import stat
from dataclasses import dataclass

from ociruntime import errors
from ociruntime.linux import identity, libc, namespaces, rootfs
from ociruntime.process.channel import Channel, Msg
from ociruntime.spec.capabilities import CapabilitySets
from ociruntime.spec.devices import Device
from ociruntime.spec.model import DEFAULT_PATH, Process, Spec


@dataclass(frozen=True)
class InitContext:
    """Everything init needs, resolved by the parent before forking (no parsing happens in here)."""

    spec: Spec
    process: Process
    fifo_path: str
    devices: tuple[Device, ...]
    capabilities: CapabilitySets | None
    last_cap: int
    cgroup_paths: dict[str, str]
    no_pivot: bool = False
    no_new_keyring: bool = False
    preserve_fds: int = 0


# Signals that end a container still waiting for `start`, as they would end any program that has not
# set handlers. PID 1 of a namespace ignores signals it has no handler for, so install ones.
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def init_main(chan: Channel, ctx: InitContext, gate_fd: int) -> None:
    """Runs in the forked child; never returns."""
    step = "init"
    try:
        _wait_for_gate(gate_fd)
        for sig in _ENDING_SIGNALS:
            signal.signal(sig, _exit_on_signal)
        fifo_fd, step = _set_up(chan, ctx)
        step = "ready"
        chan.send(Msg.READY)
        chan.close()
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        chan.report(step, exc)
        os._exit(1)
    _wait_for_start(fifo_fd)
    _exec_user_program(ctx)


def _wait_for_gate(gate_fd: int) -> None:
    """The intermediate closes the gate once it has announced our pid: only then may we talk.

    No death signal is armed: our parent changes twice during create. If `create` dies, the socket
    tells us at the next exchange (recv reads EOF) and we exit.
    """
    while os.read(gate_fd, 1):
        pass
    os.close(gate_fd)


def _exit_on_signal(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def _set_up(chan: Channel, ctx: InitContext) -> tuple[int, str]:
    spec = ctx.spec
    step = "keyring"
    if not ctx.no_new_keyring:
        libc.join_session_keyring()
    if spec.new_namespace("network"):
        step = "loopback"
        namespaces.bring_up_loopback()
    step = "exec.fifo"
    # Opened read-write so that it never reads EOF, before pivot_root hides the state directory.
    fifo_fd = os.open(ctx.fifo_path, os.O_RDWR | os.O_CLOEXEC)
    step = "rootfs"
    rootfs.prepare_root(spec)
    step = "mounts"
    rootfs.mount_all(spec, ctx.cgroup_paths)
    if not rootfs.dev_is_bind_mounted(spec):
        step = "devices"
        rootfs.populate_dev(spec, ctx.devices, in_user_namespace=spec.namespace("user") is not None)
    step = "cwd"
    rootfs.make_cwd(spec, ctx.process.cwd)
    step = "createRuntime hooks"
    chan.send(Msg.CREATE_RUNTIME)
    chan.expect(Msg.CONTINUE)
    step = "pivot_root"
    if ctx.no_pivot:
        rootfs.move_root(spec.rootfs)
    else:
        rootfs.pivot(spec.rootfs)
    step = "hostname"
    if spec.hostname is not None:
        libc.sethostname(spec.hostname)
    if spec.domainname is not None:
        libc.setdomainname(spec.domainname)
    step = "finish rootfs"
    rootfs.finish_root(spec)
    step = "exec"
    # Looked up now so that a missing program fails `create`, as with runc, not a later `start`.
    find_program(ctx.process)
    return fifo_fd, step


def find_program(process: Process) -> str:
    """args[0] resolved like execvp would, with the container's PATH (or the usual default)."""
    name = process.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(process.cwd, name)]
    else:
        search = process.env_value("PATH")
        candidates = [os.path.join(d or ".", name) for d in (search if search is not None else DEFAULT_PATH).split(":")]
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return path
    where = "" if "/" in name else " in $PATH"
    raise errors.RuntimeFailure(f'"{name}": executable file not found{where}')


def _wait_for_start(fifo_fd: int) -> None:
    """Block until `start` writes a byte to exec.fifo."""
    while True:
        data = os.read(fifo_fd, 1)
        if data:
            break
    os.close(fifo_fd)


def _exec_user_program(ctx: InitContext) -> None:
    process = ctx.process
    step = "user"
    try:
        caps = ctx.capabilities
        if caps is not None:
            step = "capabilities"
            identity.drop_bounding(caps, ctx.last_cap)
        step = "user"
        identity.set_user(process.user, set_groups=_may_set_groups(), keep_caps=caps is not None)
        if caps is not None:
            step = "capabilities"
            identity.apply_capabilities(caps)
        if process.no_new_privileges:
            step = "noNewPrivileges"
            identity.set_no_new_privs()
        if process.user.umask is not None:
            os.umask(process.user.umask)
        step = "cwd"
        os.chdir(process.cwd)
        step = "exec"
        program = find_program(process)
        # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive exec, handled ones do not.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        libc.close_range(3 + ctx.preserve_fds)
        os.execve(program, list(process.args), _env_dict(process.env))
    except BaseException as exc:  # noqa: BLE001
        # `start` has returned already; the container's stderr is the only one left to tell.
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        os.write(2, f"ociruntime: {step}: {message}\n".encode(errors="replace"))
        os._exit(127 if step == "exec" else 1)


def _may_set_groups() -> bool:
    """setgroups(2) is refused in a user namespace whose setgroups file says deny (rootless maps)."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def _env_dict(env: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            result[key] = value
    return result
