"""create, run, start, state, kill, delete, list and spec."""

from __future__ import annotations

import os
import sys

from ociruntime import errors
from ociruntime.cli import flags
from ociruntime.cli.common import Verbs, non_negative, store

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.container.create import CreateOptions


def register(verbs: Verbs) -> None:
    def bundle_flags(p: flags.Parser) -> None:
        p.add_argument("-b", "--bundle", default=".")
        p.add_argument("--console-socket", default=None)
        p.add_argument("--pid-file", default=None)
        p.add_argument("--no-pivot", action="store_true")
        p.add_argument("--no-new-keyring", action="store_true")
        p.add_argument("--preserve-fds", type=non_negative, default=0)
        p.add_argument("id")

    create = verbs.add_parser("create", help="create a container")
    bundle_flags(create)
    create.set_defaults(handler=cmd_create)
    run = verbs.add_parser("run", help="create and start a container")
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("--keep", action="store_true", help="do not delete the container after it exits")
    bundle_flags(run)
    run.set_defaults(handler=cmd_run)
    start = verbs.add_parser("start", help="start a created container")
    start.add_argument("id")
    start.set_defaults(handler=cmd_start)
    state = verbs.add_parser("state", help="print a container's state as JSON")
    state.add_argument("id")
    state.set_defaults(handler=cmd_state)
    kill = verbs.add_parser("kill", help="send a signal to a container's init (default SIGTERM)")
    kill.add_argument("-a", "--all", action="store_true")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="SIGTERM")
    kill.set_defaults(handler=cmd_kill)
    delete = verbs.add_parser("delete", help="delete a container")
    delete.add_argument("-f", "--force", action="store_true")
    delete.add_argument("id")
    delete.set_defaults(handler=cmd_delete)
    listing = verbs.add_parser("list", help="list containers")
    listing.add_argument("-f", "--format", choices=("table", "json"), default="table")
    listing.add_argument("-q", "--quiet", action="store_true")
    listing.set_defaults(handler=cmd_list)
    spec = verbs.add_parser("spec", help="write a default config.json")
    spec.add_argument("-b", "--bundle", default=".")
    spec.add_argument("--rootless", action="store_true")
    spec.set_defaults(handler=cmd_spec)


def create_options(args: flags.Namespace) -> CreateOptions:
    from ociruntime.container.create import CreateOptions

    return CreateOptions(
        bundle=args.bundle,
        pid_file=args.pid_file,
        console_socket=args.console_socket,
        no_pivot=args.no_pivot,
        no_new_keyring=args.no_new_keyring,
        preserve_fds=args.preserve_fds,
    )


def cmd_create(args: flags.Namespace) -> int:
    from ociruntime.container.create import create

    create(store(args), args.id, create_options(args))
    return 0


def cmd_run(args: flags.Namespace) -> int:
    from ociruntime.container.run import run

    return run(store(args), args.id, create_options(args), detach=args.detach, keep=args.keep)


def cmd_start(args: flags.Namespace) -> int:
    from ociruntime.container import lifecycle

    lifecycle.start(store(args), args.id)
    return 0


def cmd_state(args: flags.Namespace) -> int:
    from ociruntime import jsonwriter  # json.dumps's text without importing json (5.6 ms of each call)

    observed = store(args).observe(args.id)
    sys.stdout.write(jsonwriter.dumps(observed.oci_state(), indent=2) + "\n")
    return 0


def cmd_kill(args: flags.Namespace) -> int:
    from ociruntime.container import lifecycle
    from ociruntime.spec.tables import parse_signal

    states = store(args)
    states.load(args.id)  # like runc: an unknown container is reported before a bad signal
    try:
        sig = parse_signal(args.signal)
    except ValueError as e:
        raise errors.UsageError(str(e)) from None
    lifecycle.kill(states, args.id, sig, all_processes=args.all)
    return 0


def cmd_delete(args: flags.Namespace) -> int:
    from ociruntime.container import lifecycle

    lifecycle.delete(store(args), args.id, force=args.force)
    return 0


def cmd_list(args: flags.Namespace) -> int:
    from ociruntime.cli.listing import render_list

    sys.stdout.write(render_list(store(args), fmt=args.format, quiet=args.quiet))
    return 0


def cmd_spec(args: flags.Namespace) -> int:
    import json

    from ociruntime.spec.default import default_config

    path = os.path.join(args.bundle, "config.json")
    if os.path.lexists(path):
        raise errors.RuntimeFailure(f"File {path} exists. Remove it first")
    try:
        with open(path, "x") as f:
            config = default_config(rootless=args.rootless, uid=os.geteuid(), gid=os.getegid())
            f.write(json.dumps(config, indent="\t") + "\n")
    except OSError as e:
        raise errors.BundleError(path, e.strerror or str(e)) from None
    return 0
