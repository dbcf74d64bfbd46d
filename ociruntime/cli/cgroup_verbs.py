"""pause, resume, update, ps and events: the verbs that act on a container through its cgroups."""

from __future__ import annotations

import sys

from ociruntime.cli import flags
from ociruntime.cli.common import Verbs, store


def register(verbs: Verbs) -> None:
    pause = verbs.add_parser("pause", help="freeze every process of a container")
    pause.add_argument("id")
    pause.set_defaults(handler=cmd_pause)
    resume = verbs.add_parser("resume", help="thaw a paused container")
    resume.add_argument("id")
    resume.set_defaults(handler=cmd_resume)
    ps = verbs.add_parser("ps", help="list a container's processes (extra arguments go to ps(1))")
    ps.add_argument("-f", "--format", choices=("table", "json"), default="table")
    ps.add_argument("id")
    ps.add_argument("ps_args", nargs=flags.REMAINDER)
    ps.set_defaults(handler=cmd_ps)
    events = verbs.add_parser("events", help="print resource statistics and OOM events as JSON")
    events.add_argument("--stats", action="store_true", help="print the statistics once and exit")
    events.add_argument("--interval", default="5s", help="time between statistics (Go duration, default 5s)")
    events.add_argument("id")
    events.set_defaults(handler=cmd_events)
    update = verbs.add_parser("update", help="change a running container's resource limits")
    update.add_argument("-r", "--resources", default=None, help="linux.resources JSON file, or - for stdin")
    for flag, kind in _UPDATE_FLAGS:
        update.add_argument(flag, type=kind, default=None)
    update.add_argument("--cpu-shares", dest="cpu_share", type=int, default=None, help=flags.SUPPRESS)
    update.add_argument("id")
    update.set_defaults(handler=cmd_update)


# runc's `update` flags; sizes take units ("512m"), as in runc.
_UPDATE_FLAGS: tuple[tuple[str, type], ...] = (
    ("--memory", str),
    ("--memory-reservation", str),
    ("--memory-swap", str),
    ("--kernel-memory-tcp", str),
    ("--cpu-share", int),
    ("--cpu-quota", int),
    ("--cpu-period", int),
    ("--cpu-rt-runtime", int),
    ("--cpu-rt-period", int),
    ("--cpuset-cpus", str),
    ("--cpuset-mems", str),
    ("--pids-limit", int),
    ("--blkio-weight", int),
)


def cmd_pause(args: flags.Namespace) -> int:
    from ociruntime.container import pause

    pause.pause(store(args), args.id)
    return 0


def cmd_resume(args: flags.Namespace) -> int:
    from ociruntime.container import pause

    pause.resume(store(args), args.id)
    return 0


def cmd_ps(args: flags.Namespace) -> int:
    from ociruntime.container import ps

    extra = list(args.ps_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    sys.stdout.write(ps.ps(store(args), args.id, fmt=args.format, ps_args=extra))
    return 0


def cmd_events(args: flags.Namespace) -> int:
    from ociruntime.container import events

    interval = events.parse_duration(args.interval)
    events.events(store(args), args.id, stats_only=args.stats, interval=interval)
    return 0


def cmd_update(args: flags.Namespace) -> int:
    from ociruntime.container import update

    if args.resources is not None:
        source = "<stdin>" if args.resources == "-" else args.resources
        try:
            if args.resources == "-":
                text = sys.stdin.read()
            else:
                with open(args.resources) as f:
                    text = f.read()
        except OSError as e:
            from ociruntime import errors

            raise errors.UsageError(f"{source}: {e.strerror}") from None
        change = update.read_resources(text, source)
    else:
        change = update.resources_from_flags(
            update.UpdateFlags(
                memory=args.memory,
                memory_reservation=args.memory_reservation,
                memory_swap=args.memory_swap,
                kernel_memory_tcp=args.kernel_memory_tcp,
                cpu_shares=args.cpu_share,
                cpu_quota=args.cpu_quota,
                cpu_period=args.cpu_period,
                cpu_rt_runtime=args.cpu_rt_runtime,
                cpu_rt_period=args.cpu_rt_period,
                cpuset_cpus=args.cpuset_cpus,
                cpuset_mems=args.cpuset_mems,
                pids_limit=args.pids_limit,
                blkio_weight=args.blkio_weight,
            )
        )
    update.update(store(args), args.id, change)
    return 0
