"""The container's init: PID 1 of the new pid namespace, forked by the intermediate process.

It builds the container's view of the world, tells the parent it is READY, then blocks on exec.fifo
until `start`. Only then does it become the configured user, drop capabilities, close every fd the
runtime owns and exec the user program. Every step is named: an error carries the step's name back to
the parent, which turns it into the one line the user sees.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

from ociruntime.linux import libc, namespaces, rootfs, sysctl
from ociruntime.process.channel import Channel, Msg
from ociruntime.process.execute import ProcessPlan, StepFailed, become_and_exec, find_program
from ociruntime.spec.devices import Device
from ociruntime.spec.model import Spec


@dataclass(frozen=True)
class InitContext:
    """Everything init needs, resolved by the parent before forking (no parsing happens in here)."""

    spec: Spec
    plan: ProcessPlan
    fifo_path: str
    devices: tuple[Device, ...]
    cgroup_paths: dict[str, str]
    no_pivot: bool = False
    no_new_keyring: bool = False


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
    rootfs.make_cwd(spec, ctx.plan.process.cwd)
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
    sysctls = (spec.raw.get("linux") or {}).get("sysctl")
    if sysctls:
        step = "sysctl"
        sysctl.apply(sysctls)
    step = "finish rootfs"
    rootfs.finish_root(spec)
    step = "exec"
    # Looked up now so that a missing program fails `create`, as with runc, not a later `start`.
    find_program(ctx.plan.process)
    return fifo_fd, step


def _wait_for_start(fifo_fd: int) -> None:
    """Block until `start` writes a byte to exec.fifo."""
    while True:
        data = os.read(fifo_fd, 1)
        if data:
            break
    os.close(fifo_fd)


def _exec_user_program(ctx: InitContext) -> None:
    try:
        become_and_exec(ctx.plan)
    except StepFailed as exc:
        # `start` has returned already; the container's stderr is the only one left to tell.
        os.write(2, f"ociruntime: {exc}\n".encode(errors="replace"))
        os._exit(127 if exc.step == "exec" else 1)
