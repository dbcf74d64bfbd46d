"""Parent side of the three-process create and of exec: fork the intermediate, drive the protocol,
roll back.

    parent (ociruntime create | exec)     a child subreaper, so its grandchild comes back to it
      └─ intermediate                      enters/creates namespaces, forks the next one, exits
           └─ init | exec'd process        inside every namespace; reparented to the parent, then to
                                           the caller's subreaper once the parent exits

The protocol itself is the table in `ociruntime.process.channel`.

Every module a child needs must be imported before it is forked: once it has pivoted into the rootfs,
or joined the container's mount namespace, the runtime's own files are out of its reach. Modules only
some configs need are loaded by `preload_modules`.
"""

from __future__ import annotations

import os

from ociruntime import abi, errors, faults, signals
from ociruntime.linux import libc, namespaces
from ociruntime.process.channel import Channel, Msg, failure, wait_for_gate
from ociruntime.process.execute import StepFailed, become_and_exec
from ociruntime.spec.tables import JOIN_ORDER

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn

    from ociruntime.process.execute import ProcessPlan
    from ociruntime.process.init import InitContext


def become_subreaper() -> None:
    libc.prctl(abi.PR_SET_CHILD_SUBREAPER, 1)


def preload_modules(*, init: bool, terminal: bool, sysctls: bool = False) -> None:
    """Import, before forking, the modules a child will need that not every command or config does:
    the container's init (only `create` forks one), the terminal's, linux.sysctl's."""
    if init:
        import ociruntime.process.init  # noqa: F401
    if terminal:
        import ociruntime.linux.console  # noqa: F401
    if sysctls:
        import ociruntime.linux.sysctl  # noqa: F401


def spawn(
    ctx: InitContext,
    ns_fds: dict[str, int],
    *,
    join_cgroups: Callable[[int], None],
    on_init_pid: Callable[[int], None],
    create_runtime: Callable[[int], dict[str, Any]],
) -> int:
    """Run the create protocol; returns init's host pid once it waits on exec.fifo.

    On any failure every process started here is killed and reaped before the error propagates.
    """
    sysctls = bool((ctx.spec.raw.get("linux") or {}).get("sysctl"))
    preload_modules(init=True, terminal=ctx.console_socket_fd is not None, sysctls=sysctls)
    parent_chan, child_chan = Channel.pair()
    intermediate = os.fork()
    if intermediate == 0:  # pragma: no cover - runs in the child
        parent_chan.close()
        _intermediate_main(child_chan, ctx, ns_fds)
    child_chan.close()
    init_pid = 0
    try:
        join_cgroups(intermediate)
        parent_chan.send(Msg.GO)
        if ctx.spec.new_namespace("user"):
            parent_chan.expect(Msg.USERNS_READY)
            namespaces.write_id_maps(
                intermediate, ctx.spec.uid_mappings, ctx.spec.gid_mappings, deny_setgroups=os.geteuid() != 0
            )
            parent_chan.send(Msg.MAPS_WRITTEN)
        payload, _ = parent_chan.expect(Msg.INIT_PID)
        init_pid = int(payload["pid"])
        _reap(intermediate)
        intermediate = 0
        on_init_pid(init_pid)
        parent_chan.expect(Msg.CREATE_RUNTIME)
        state = create_runtime(init_pid)
        parent_chan.send(Msg.CONTINUE, state=state)
        faults.point("create.before-ready")
        parent_chan.expect(Msg.READY)
        if ctx.wait_in_stub:
            _await_stub(parent_chan, init_pid)
        return init_pid
    except BaseException:
        _kill_and_reap(init_pid, intermediate)
        raise
    finally:
        parent_chan.close()


def _await_stub(chan: Channel, init_pid: int) -> None:
    """After READY, init takes its last steps and execs the exec stub (process/waiter.py): a failure
    comes as ERROR; end-of-file comes when the stub, set up, closes the channel, or at an exit.
    Exiting releases the memory (and with it /proc/<pid>/exe) before the fds, so an exe that is still
    there and is the stub means the stub waits."""
    outcome = chan.recv_or_eof()
    if outcome is not None:
        kind, payload, _ = outcome
        if kind == Msg.ERROR:
            raise failure(payload)
        raise errors.InitFailed("protocol", f"expected end-of-file after ready, got {kind}")
    try:
        exe = os.readlink(f"/proc/{init_pid}/exe")
    except PermissionError:
        return  # not ours to look at (a rootless create): its end-of-file has to do
    except OSError:
        exe = ""
    if exe.startswith("/memfd:ociruntime-exec"):
        return
    try:
        # Ours (reparented to us, the subreaper). Not reaped here: the caller's cleanup kills and
        # reaps it, and must not signal a pid that could already be someone else's.
        result = os.waitid(os.P_PID, init_pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        result = None
    if result is None:
        raise errors.InitFailed("exec", "container process exited before waiting for start")
    code = result.si_status if result.si_code == os.CLD_EXITED else -result.si_status
    raise errors.InitFailed("exec", f"container process exited with status {code} before waiting for start")


def _reap(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise errors.InitFailed("intermediate process", f"exited with status {os.waitstatus_to_exitcode(status)}")


def _kill_and_reap(init_pid: int, intermediate: int) -> None:
    for pid in (init_pid, intermediate):
        if pid > 0:
            try:
                os.kill(pid, signals.SIGKILL)
            except ProcessLookupError:
                pass
    # Reap the intermediate first: until it is gone, init is its child and not ours to wait for.
    for pid in (intermediate, init_pid):
        if pid > 0:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _intermediate_main(chan: Channel, ctx: InitContext, ns_fds: dict[str, int]) -> None:
    """Runs in the forked intermediate; never returns."""
    step = "intermediate"
    try:
        chan.expect(Msg.GO)
        spec = ctx.spec
        step = "user namespace"
        if "user" in ns_fds:
            namespaces.join(ns_fds, ("user",))
        elif spec.new_namespace("user"):
            libc.unshare(abi.CLONE_NEWUSER)
            chan.send(Msg.USERNS_READY)
            chan.expect(Msg.MAPS_WRITTEN)
            if any(m.container_id == 0 for m in spec.uid_mappings):
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        # From here on, /proc/<pid> of this process and its children belongs to root and cannot be
        # ptraced or opened through /proc/<pid>/exe from inside the container (the CVE-2019-5736
        # class). execve of the user program makes it dumpable again.
        libc.prctl(abi.PR_SET_DUMPABLE, 0)
        step = "join namespaces"
        namespaces.join(ns_fds, JOIN_ORDER[1:])
        namespaces.close_all(ns_fds)
        step = "create namespaces"
        libc.unshare(namespaces.unshare_flags(spec))
        faults.point("create.intermediate.after-namespaces")
        if spec.new_namespace("time") and spec.time_offsets:
            step = "time offsets"
            namespaces.write_time_offsets(spec.time_offsets)
        step = "fork init"
        from ociruntime.process.init import init_main  # loaded before the fork (preload_modules)

        _fork_announced(chan, lambda gate: init_main(chan, ctx, gate))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        chan.report(step, exc)
        os._exit(1)


def spawn_exec(
    plan: ProcessPlan,
    ns_fds: dict[str, int],
    *,
    join_cgroups: Callable[[int], None],
    console_socket_fd: int | None = None,
    state: dict[str, Any] | None = None,
) -> int:
    """Start a process inside a running container; returns its host pid once it has exec'd.

    The process joins the container's namespaces (user first) through an intermediate, because
    joining a pid or time namespace only applies to children. It keeps its end of the socket, which
    is close-on-exec, until execve: end-of-file means the program runs, a message means it failed.
    """
    preload_modules(init=False, terminal=console_socket_fd is not None)
    parent_chan, child_chan = Channel.pair()
    intermediate = os.fork()
    if intermediate == 0:  # pragma: no cover - runs in the child
        parent_chan.close()
        _exec_intermediate_main(child_chan, plan, ns_fds, console_socket_fd, state)
    faults.point("exec.after-fork")
    child_chan.close()
    pid = 0
    try:
        join_cgroups(intermediate)
        parent_chan.send(Msg.GO)
        payload, _ = parent_chan.expect(Msg.INIT_PID)
        pid = int(payload["pid"])
        faults.point("exec.after-pid")
        _reap(intermediate)
        intermediate = 0
        outcome = parent_chan.recv_or_eof()
        if outcome is not None:
            raise failure(outcome[1])
        return pid
    except BaseException:
        _kill_and_reap(pid, intermediate)
        raise
    finally:
        parent_chan.close()


def _exec_intermediate_main(
    chan: Channel,
    plan: ProcessPlan,
    ns_fds: dict[str, int],
    console_socket_fd: int | None,
    state: dict[str, Any] | None,
) -> None:
    step = "intermediate"
    try:
        chan.expect(Msg.GO)
        step = "join namespaces"
        libc.prctl(abi.PR_SET_DUMPABLE, 0)
        namespaces.join(ns_fds, JOIN_ORDER)
        faults.point("exec.intermediate.after-namespaces")
        namespaces.close_all(ns_fds)
        step = "fork"
        _fork_announced(chan, lambda gate: _exec_child_main(chan, plan, gate, console_socket_fd, state))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        chan.report(step, exc)
        os._exit(1)


def _fork_announced(chan: Channel, child: Callable[[int], None]) -> NoReturn:
    """Fork the next process, tell the parent its pid (INIT_PID), and exit (the intermediate's end).

    The child must not speak on the shared socket before INIT_PID is out, so it starts behind a gate:
    a pipe it reads until end-of-file, which comes when this process exits.
    """
    gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(gate_w)
        child(gate_r)
        os._exit(1)  # the child bodies never return; this is the safety net
    chan.send(Msg.INIT_PID, pid=pid)
    os._exit(0)


def _exec_child_main(
    chan: Channel, plan: ProcessPlan, gate_fd: int, console_socket_fd: int | None, state: dict[str, Any] | None
) -> None:
    try:
        wait_for_gate(gate_fd)
        slave = None
        if console_socket_fd is not None:
            from ociruntime.linux import console  # loaded before the fork (preload_modules)

            # We are in the container's mount namespace: /dev/ptmx is its own devpts instance.
            size = plan.process.raw.get("consoleSize")
            slave = console.hand_over(console_socket_fd, "/dev/ptmx", "/dev/pts", size).slave
        become_and_exec(plan, keep_fd=chan.fileno(), console_fd=slave, state=state)
    except StepFailed as exc:
        chan.report(exc.step, exc.cause)
    except BaseException as exc:  # noqa: BLE001
        chan.report("exec", exc)
    os._exit(127)
