"""`features`: what this runtime supports on this host, as JSON (runtime-spec features.md)."""

from __future__ import annotations

import sys

from ociruntime.cli import flags
from ociruntime.cli.common import Verbs


def register(verbs: Verbs) -> None:
    features = verbs.add_parser("features", help="print the features this runtime supports, as JSON")
    features.set_defaults(handler=cmd_features)


def cmd_features(args: flags.Namespace) -> int:
    del args
    import json  # here, not at the top: every command imports this module

    from ociruntime.features import features

    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0
