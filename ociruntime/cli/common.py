"""Helpers every verb group shares: the state store for --root, and the sub-parser type."""

from __future__ import annotations

import os

from ociruntime import errors
from ociruntime.cli import flags

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.state.store import Store

Verbs = flags.Subparsers

DEFAULT_ROOT = "/run/ociruntime"


def default_root() -> str:
    """/run/ociruntime for root; for anyone else their own runtime dir, as runc does."""
    if os.geteuid() == 0:
        return DEFAULT_ROOT
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/ociruntime-{os.geteuid()}"
    return os.path.join(runtime_dir, "ociruntime")


def store(args: flags.Namespace) -> Store:
    from ociruntime.state.store import Store

    return Store(args.root or default_root())


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise errors.UsageError(f"must not be negative: {text}")
    return value
