"""Verbs of a later issue; registers nothing yet."""

from __future__ import annotations

from ociruntime.cli.common import Verbs


def register(verbs: Verbs) -> None:
    del verbs
