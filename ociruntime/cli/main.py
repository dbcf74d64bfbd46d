"""The command line: runc's global flags and verbs. The only place that exits.

Each verb parses its flags here and calls one function in `ociruntime.container`; every exception
becomes one line on stderr (and one in --log), and the exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from ociruntime import SPEC_VERSION, __version__, errors
from ociruntime.cli import log

DEFAULT_ROOT = "/run/ociruntime"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage and exiting with 2 (runc exits 1 on bad usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.partition(" ")[2]
        raise errors.UsageError(f"{command}: {message}" if command else message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ociruntime", description="OCI runtime-spec v1.3.0 container runtime (runc-compatible CLI)")
    parser.add_argument("--root", default=None, help=f"state directory (default {DEFAULT_ROOT})")
    parser.add_argument("--log", default=None, help="log file (default: stderr only)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--systemd-cgroup", action="store_true", help="use the systemd cgroup driver")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--rootless", nargs="?", const="true", default="auto", choices=("true", "false", "auto"))
    parser.add_argument("--criu", default=None, help=argparse.SUPPRESS)
    parser.add_argument("-v", "--version", action="store_true")
    verbs = parser.add_subparsers(dest="verb", parser_class=_Parser)

    def bundle_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("-b", "--bundle", default=".")
        p.add_argument("--console-socket", default=None)
        p.add_argument("--pid-file", default=None)
        p.add_argument("--no-pivot", action="store_true")
        p.add_argument("--no-new-keyring", action="store_true")
        p.add_argument("--preserve-fds", type=int, default=0)
        p.add_argument("id")

    bundle_flags(verbs.add_parser("create", help="create a container"))
    run = verbs.add_parser("run", help="create and start a container")
    run.add_argument("-d", "--detach", action="store_true")
    run.add_argument("--keep", action="store_true", help="do not delete the container after it exits")
    bundle_flags(run)
    verbs.add_parser("start", help="start a created container").add_argument("id")
    verbs.add_parser("state", help="print a container's state as JSON").add_argument("id")
    kill = verbs.add_parser("kill", help="send a signal to a container's init (default SIGTERM)")
    kill.add_argument("-a", "--all", action="store_true")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="SIGTERM")
    delete = verbs.add_parser("delete", help="delete a container")
    delete.add_argument("-f", "--force", action="store_true")
    delete.add_argument("id")
    listing = verbs.add_parser("list", help="list containers")
    listing.add_argument("-f", "--format", choices=("table", "json"), default="table")
    listing.add_argument("-q", "--quiet", action="store_true")
    spec = verbs.add_parser("spec", help="write a default config.json")
    spec.add_argument("-b", "--bundle", default=".")
    spec.add_argument("--rootless", action="store_true")
    return parser


def _store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ociruntime.state.store import Store

    return Store(args.root or DEFAULT_ROOT)


def _create_options(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from ociruntime.container.create import CreateOptions

    if args.preserve_fds < 0:
        raise errors.UsageError("--preserve-fds must not be negative")
    return CreateOptions(
        bundle=args.bundle,
        pid_file=args.pid_file,
        console_socket=args.console_socket,
        no_pivot=args.no_pivot,
        no_new_keyring=args.no_new_keyring,
        preserve_fds=args.preserve_fds,
    )


def cmd_create(args: argparse.Namespace) -> int:
    from ociruntime.container.create import create

    create(_store(args), args.id, _create_options(args))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from ociruntime.container.run import run

    return run(_store(args), args.id, _create_options(args), detach=args.detach)


def cmd_start(args: argparse.Namespace) -> int:
    from ociruntime.container import lifecycle

    lifecycle.start(_store(args), args.id)
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    store = _store(args)
    observed = store.observe(args.id)
    sys.stdout.write(json.dumps(observed.oci_state(), indent=2) + "\n")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from ociruntime.container import lifecycle
    from ociruntime.spec.tables import parse_signal

    store = _store(args)
    store.load(args.id)  # like runc: an unknown container is reported before a bad signal
    try:
        sig = parse_signal(args.signal)
    except ValueError as e:
        raise errors.UsageError(str(e)) from None
    lifecycle.kill(store, args.id, sig, all_processes=args.all)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ociruntime.container import lifecycle

    lifecycle.delete(_store(args), args.id, force=args.force)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from ociruntime.cli.listing import render_list

    sys.stdout.write(render_list(_store(args), fmt=args.format, quiet=args.quiet))
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    from ociruntime.spec.default import default_config

    path = os.path.join(args.bundle, "config.json")
    if os.path.lexists(path):
        raise errors.RuntimeFailure(f"File {path} exists. Remove it first")
    try:
        with open(path, "x") as f:
            f.write(json.dumps(default_config(rootless=args.rootless), indent="\t") + "\n")
    except OSError as e:
        raise errors.BundleError(path, e.strerror or str(e)) from None
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "list": cmd_list,
    "spec": cmd_spec,
}


def version_text() -> str:
    return f"ociruntime version {__version__}\ncommit: {_commit()}\nspec: {SPEC_VERSION}\n"


def _commit() -> str:
    """The git commit of the source tree the package runs from, when it is a checkout."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(top, ".git", "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            with open(os.path.join(top, ".git", head[5:])) as f:
                return f.read().strip()[:12]
        return head[:12]
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    try:
        args = build_parser().parse_args(argv)
        log.configure(args.log, args.log_format, args.debug)
        if args.version:
            sys.stdout.write(version_text())
            return 0
        if args.verb is None:
            raise errors.UsageError("ociruntime: a command is required (see --help)")
        if args.systemd_cgroup:
            raise errors.NotSupported("--systemd-cgroup", "the systemd cgroup driver is not available; use cgroupfs")
        return COMMANDS[args.verb](args)
    except errors.RuntimeFailure as e:
        log.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # an unexpected syscall failure: still one line, never a traceback
        log.error(f"{e.filename}: {e.strerror}" if e.filename else str(e))
        return 1


def entry() -> None:
    sys.exit(main())
