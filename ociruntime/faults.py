"""Fault injection for the reliability tests: die by SIGKILL at one named step.

    OCIRUNTIME_FAULT=create.after-fifos ociruntime create ...   # SIGKILLs itself right after the fifos

The variable is read once, at import. Unset (production), `point` *is* a function that returns None:
a call costs one attribute lookup and one call, about 40 ns, and importing this module costs nothing
measurable (`os` is imported already, ociruntime.signals is a small table). Set, `point(name)` kills
the calling process when `name` is the one asked for, and does nothing at every other point.

Children inherit the variable, so every point name says which process reaches it:

    create.<step>, start.<step>, exec.<step>, delete.<step>    the runtime command itself
    create.intermediate.<step>, exec.intermediate.<step>      the forked intermediate process
    create.init.<step>                                        the container's init, before it execs

A point inside init kills init; a point in the parent's code after a fork is never reached by the child
(children end in `os._exit`). Points take a string literal, so the tests find every one by reading the
source, and fail when a point has no test.
"""

from __future__ import annotations

import os

from ociruntime.signals import SIGKILL

ENV = "OCIRUNTIME_FAULT"

_TARGET = os.environ.get(ENV) or None


def _no_fault(name: str) -> None:
    """Production: nothing at all."""


def _fault(name: str) -> None:
    if name == _TARGET:
        os.kill(os.getpid(), SIGKILL)
        # Still here: we are PID 1 of a pid namespace (init), which cannot SIGKILL itself. The closest
        # thing: end now, running no handler, no `finally` and no atexit.
        os._exit(128 + SIGKILL)


point = _no_fault if _TARGET is None else _fault
