"""The container's init: PID 1 of the new pid namespace, forked by the intermediate process.

It builds the container's view of the world and tells the parent it is READY. Where the exec stub
can wait in its place (process/waiter.py), it then becomes the configured user with the configured
capabilities and filter, and execs the stub. Otherwise it blocks on exec.fifo until `start`, and only
then becomes the configured user, closes every fd the runtime owns and execs the user program.
Every step is named: an error carries the step's name back to the parent, which turns it into the
one line the user sees.
"""

from __future__ import annotations

import os

from ociruntime import faults, hooks, signals
from ociruntime.linux import libc, namespaces, paths, rootfs
from ociruntime.process import waiter
from ociruntime.process.channel import Channel, Msg, wait_for_gate
from ociruntime.process.execute import StepFailed, become, become_and_exec, find_program, report_failure

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

    from ociruntime.process.execute import ProcessPlan
    from ociruntime.spec.devices import Device
    from ociruntime.spec.model import Spec


class InitContext:
    """Everything init needs, resolved by the parent before forking (no parsing happens in here)."""

    __slots__ = (
        "spec", "plan", "start_fd", "result_fd", "console_socket_fd", "devices", "cgroup_paths", "no_pivot",
        "no_new_keyring", "idmapped", "wait_in_stub",
    )  # fmt: skip

    def __init__(
        self,
        spec: Spec,
        plan: ProcessPlan,
        start_fd: int,
        result_fd: int,
        console_socket_fd: int | None,
        devices: tuple[Device, ...],
        cgroup_paths: dict[str, str],
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        idmapped: dict[int, int] | None = None,
        wait_in_stub: bool = False,
    ) -> None:
        self.spec = spec
        self.plan = plan
        self.start_fd = start_fd  # exec.fifo, read end: `start` writes one byte
        self.result_fd = result_fd  # exec.result, write end: where `start` learns how exec went
        self.console_socket_fd = console_socket_fd  # connected --console-socket, when process.terminal is set
        self.devices = devices
        self.cgroup_paths = cgroup_paths
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.idmapped = idmapped  # mount index → detached idmapped tree (linux/idmap.py)
        self.wait_in_stub = wait_in_stub  # waiter.usable(): the exec stub waits for `start`


class Steps:
    """The name of the step in progress, so that a failure can say where it happened."""

    def __init__(self) -> None:
        self.current = "init"

    def __call__(self, name: str) -> None:
        self.current = name


def init_main(chan: Channel, ctx: InitContext, gate_fd: int) -> None:
    """Runs in the forked child; never returns."""
    step = Steps()
    try:
        wait_for_gate(gate_fd)
        for sig in waiter.ENDING_SIGNALS:
            signals.set_handler(sig, _exit_on_signal)
        state, console_fd = _set_up(chan, ctx, step)
        if console_fd is not None:
            # From now on the terminal is our stdio: the caller's (create's) stdout and stderr must
            # close when create exits, as containerd's shim reads them to the end before `start`.
            for target in (0, 1, 2):
                os.dup2(console_fd, target)
        step("ready")
        faults.point("create.init.before-ready")
        chan.send(Msg.READY)
        if ctx.wait_in_stub:
            # `create` waits on: an ERROR, or end-of-file when the stub's execve closes our end.
            faults.point("create.init.before-stub")
            program, env = become(ctx.plan, console_fd=console_fd, state=state)
            waiter.exec_waiter(ctx.plan, program, env, ctx.start_fd, ctx.result_fd, chan.fileno(), state)
        chan.close()
    except StepFailed as exc:
        chan.report(exc.step, exc.cause)
        os._exit(1)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        chan.report(step.current, exc)
        os._exit(1)
    _wait_for_start(ctx.start_fd)
    _start_user_program(ctx, state, console_fd)


def _exit_on_signal(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def _set_up(chan: Channel, ctx: InitContext, step: Steps) -> tuple[dict[str, Any], int | None]:
    """Everything between fork and READY; returns the state document hooks read, and the pty slave."""
    spec = ctx.spec
    step("keyring")
    if not ctx.no_new_keyring:
        libc.join_session_keyring()
    if spec.new_namespace("network"):
        step("loopback")
        namespaces.bring_up_loopback()
    step("rootfs")
    rootfs.prepare_root(spec)
    step("mounts")
    rootfs.mount_all(spec, ctx.cgroup_paths, ctx.idmapped)
    if not rootfs.dev_is_bind_mounted(spec):
        step("devices")
        rootfs.populate_dev(spec, ctx.devices, in_user_namespace=spec.namespace("user") is not None)
    step("cwd")
    rootfs.make_cwd(spec, ctx.plan.process.cwd)
    console_fd = None
    if ctx.console_socket_fd is not None:
        step("terminal")
        console_fd = _set_up_terminal(ctx)
    step("createRuntime hooks")
    chan.send(Msg.CREATE_RUNTIME)
    payload, _ = chan.expect(Msg.CONTINUE)
    state: dict[str, Any] = payload["state"]
    if hooks.hooks_of(spec.raw, "createContainer"):
        # In the container's namespaces, but before pivot_root: the hook path is a host path.
        step("createContainer hooks")
        hooks.run_hooks(spec.raw, "createContainer", state)
    step("pivot_root")
    if ctx.no_pivot:
        rootfs.move_root(spec.rootfs)
    else:
        rootfs.pivot(spec.rootfs)
    step("hostname")
    if spec.hostname is not None:
        libc.sethostname(spec.hostname)
    if spec.domainname is not None:
        libc.setdomainname(spec.domainname)
    sysctls = (spec.raw.get("linux") or {}).get("sysctl")
    if sysctls:
        step("sysctl")
        from ociruntime.linux import sysctl  # loaded before the fork (spawn.preload_modules)

        sysctl.apply(sysctls)
    step("finish rootfs")
    rootfs.finish_root(spec)
    step("exec")
    # Looked up now so that a missing program fails `create`, as with runc, not a later `start`.
    find_program(ctx.plan.process)
    return state, console_fd


def _set_up_terminal(ctx: InitContext) -> int:
    """A pty from the container's devpts (mounted by now, the rootfs not yet pivoted), its master sent
    over --console-socket, its slave on /dev/console; returns the slave for the program's stdio."""
    assert ctx.console_socket_fd is not None
    from ociruntime.linux import console  # loaded before the fork (spawn.preload_modules)

    # Every path below is resolved inside the rootfs (a planted /dev/pts link cannot redirect us).
    root = paths.RootDir(ctx.spec.rootfs)
    fds = [root.open("/dev/pts/ptmx"), root.open("/dev/pts", os.O_PATH | os.O_DIRECTORY)]
    try:
        ptmx, pts = paths.fd_path(fds[0]), paths.fd_path(fds[1])
        pty = console.hand_over(ctx.console_socket_fd, ptmx, pts, ctx.plan.process.raw.get("consoleSize"))
        fds.append(root.make_file("/dev/console", 0o600))
        console.bind_console(pty.slave_path, paths.fd_path(fds[-1]))
    finally:
        for fd in fds:
            os.close(fd)
        root.close()
    return pty.slave


def _wait_for_start(fifo_fd: int) -> None:
    """Block until `start` writes a byte to exec.fifo."""
    while True:
        data = os.read(fifo_fd, 1)
        if data:
            break
    os.close(fifo_fd)


def _start_user_program(ctx: InitContext, state: dict[str, Any], console_fd: int | None) -> None:
    """After `start`: startContainer hooks, then become the configured process and exec.

    `start` reads the outcome on exec.result: a failure report, or end-of-file once execve closed
    our (close-on-exec) end, which means the program runs.
    """
    try:
        if hooks.hooks_of(ctx.spec.raw, "startContainer"):
            try:
                hooks.run_hooks(ctx.spec.raw, "startContainer", {**state, "status": "created"})
            except BaseException as exc:  # noqa: BLE001
                raise StepFailed("startContainer hooks", exc) from exc
        become_and_exec(ctx.plan, keep_fd=ctx.result_fd, console_fd=console_fd, state=state)
    except StepFailed as exc:
        report_failure(ctx.result_fd, str(exc))
        os._exit(127 if exc.step == "exec" else 1)
