"""exec: runc's flags for running another process in a container."""

from __future__ import annotations

from ociruntime import errors
from ociruntime.cli import flags
from ociruntime.cli.common import Verbs, non_negative, store


def register(verbs: Verbs) -> None:
    p = verbs.add_parser("exec", help="run a process in a running container")
    p.add_argument("-p", "--process", default=None, help="process.json to run (a runtime-spec process object)")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("--console-socket", default=None)
    p.add_argument("--pid-file", default=None)
    p.add_argument("--preserve-fds", type=non_negative, default=0)
    p.add_argument("--cwd", default=None)
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user", default=None, help="UID[:GID]")
    p.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    p.add_argument("-c", "--cap", action="append", default=[])
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("--apparmor", default=None)
    p.add_argument("--process-label", default=None)
    p.add_argument("--cgroup", default=None)
    p.add_argument("--ignore-paused", action="store_true")
    p.add_argument("id")
    p.add_argument("command", nargs=flags.REMAINDER)
    p.set_defaults(handler=cmd_exec)


def cmd_exec(args: flags.Namespace) -> int:
    from ociruntime.container.exec import ExecOptions, exec_in
    from ociruntime.spec.exec_process import ExecOverrides

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if args.process is not None and command:
        raise errors.UsageError("exec: give either --process or a command, not both")
    overrides = ExecOverrides(
        args=tuple(command),
        tty=args.tty,
        cwd=args.cwd,
        env=tuple(args.env),
        user=args.user,
        additional_gids=tuple(args.additional_gids),
        caps=tuple(args.cap),
        no_new_privs=args.no_new_privs,
        apparmor=args.apparmor,
        process_label=args.process_label,
    )
    options = ExecOptions(
        overrides=overrides,
        process_file=args.process,
        detach=args.detach,
        console_socket=args.console_socket,
        pid_file=args.pid_file,
        preserve_fds=args.preserve_fds,
        cgroup=args.cgroup,
        ignore_paused=args.ignore_paused,
    )
    return exec_in(store(args), args.id, options)
