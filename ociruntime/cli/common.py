"""Helpers every verb group shares: the state store for --root, and the sub-parser type."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from ociruntime import errors

if TYPE_CHECKING:
    from ociruntime.state.store import Store

DEFAULT_ROOT = "/run/ociruntime"

Verbs = Any  # argparse's _SubParsersAction, which typeshed keeps private


def default_root() -> str:
    """/run/ociruntime for root; for anyone else their own runtime dir, as runc does."""
    if os.geteuid() == 0:
        return DEFAULT_ROOT
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/ociruntime-{os.geteuid()}"
    return os.path.join(runtime_dir, "ociruntime")


def store(args: argparse.Namespace) -> Store:
    from ociruntime.state.store import Store

    return Store(args.root or default_root())


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise errors.UsageError(f"must not be negative: {text}")
    return value
