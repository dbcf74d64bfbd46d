"""The command line: runc's global flags and verbs. The only place that exits.

Each verb parses its flags here and calls one function in `ociruntime.container`; every exception
becomes one line on stderr (and one in --log), and the exit code.
"""

from __future__ import annotations

import os
import sys

from ociruntime import SPEC_VERSION, __version__, errors
from ociruntime.cli import cgroup_verbs, exec_verb, flags, info_verbs, lifecycle_verbs, log
from ociruntime.cli.common import DEFAULT_ROOT

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Sequence

# Each group adds its verbs to the parser and sets `handler` on them; a verb's work is imported lazily.
VERB_GROUPS = (lifecycle_verbs, exec_verb, cgroup_verbs, info_verbs)


def build_parser() -> flags.Parser:
    parser = flags.Parser(
        prog="ociruntime", description="OCI runtime-spec v1.3.0 container runtime (runc-compatible CLI)"
    )
    parser.add_argument("--root", default=None, help=f"state directory (default {DEFAULT_ROOT})")
    parser.add_argument("--log", default=None, help="log file (default: stderr only)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument("--systemd-cgroup", action="store_true", help="use the systemd cgroup driver")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--rootless", nargs="?", const="true", default="auto", choices=("true", "false", "auto"))
    parser.add_argument("--criu", default=None, help=flags.SUPPRESS)
    parser.add_argument("-v", "--version", action="store_true")
    verbs = parser.add_subparsers(dest="verb")
    for group in VERB_GROUPS:
        group.register(verbs)
    return parser


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
    args: flags.Namespace | None = None
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
        return int(args.handler(args))
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
    except UnicodeDecodeError as e:
        log.error(f"input is not valid UTF-8: {e.reason} at byte {e.start}")
        return 1
    except Exception as e:  # noqa: BLE001 - engines need one line, never a traceback
        # A bug of ours: say what it was in one line; with --debug the traceback goes to the log too.
        if args is not None and args.debug:
            import traceback

            log.debug(traceback.format_exc())
        log.error(f"internal error: {type(e).__name__}: {e}")
        return 1


def entry() -> None:
    """The installed command. It ends with os._exit once stdout and stderr are flushed: the
    interpreter's own exit tears down every module and object one by one, 1-4 ms that no command
    needs (every file is closed by a `with`, and no atexit handler is registered)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        code = code or 1
    os._exit(code)
