"""`ocibundle`: unpack, pull, inspect. The one place that turns an ImageError into `ocibundle: <line>`, exit 1."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ociruntime.errors import RuntimeFailure
from ociruntime.image.limits import Limits
from ociruntime.image.platforms import host_platform, parse_platform
from ociruntime.image.sources import Access, open_source


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocibundle", description="Turn an OCI image into a runtime bundle.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--platform", help="os/arch[/variant] (default: this host)")
        p.add_argument("--plain-http", action="store_true", help="talk to the registry over HTTP, not HTTPS")
        p.add_argument("--cache", type=Path, help="blob cache directory (default: $XDG_CACHE_HOME/ocibundle)")

    unpack = sub.add_parser("unpack", help="make BUNDLE/rootfs and BUNDLE/config.json from SOURCE")
    unpack.add_argument("source", metavar="SOURCE")
    unpack.add_argument("bundle", metavar="BUNDLE", type=Path)
    unpack.add_argument("--rootless", action="store_true", help="a bundle the invoking non-root user can run")
    unpack.add_argument("--volumes", action="store_true", help="bind-mount fresh directories at image Volumes")
    unpack.add_argument("args", nargs="*", metavar="ARGS", help="after --: replaces the image's Cmd")
    common(unpack)
    pull = sub.add_parser("pull", help="copy an image into a local OCI layout DIR")
    pull.add_argument("source", metavar="REFERENCE")
    pull.add_argument("dest", metavar="DIR", type=Path)
    common(pull)
    inspect = sub.add_parser("inspect", help="print the manifest and config as JSON")
    inspect.add_argument("source", metavar="SOURCE")
    common(inspect)
    return parser


def warn(message: str) -> None:
    print(f"ocibundle: warning: {message}", file=sys.stderr)


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    limits = Limits()
    platform = parse_platform(args.platform) if args.platform else host_platform()
    source = open_source(args.source, limits, Access(plain_http=args.plain_http, cache=args.cache))
    try:
        if args.command == "unpack":
            from ociruntime.image.bundle import UnpackOptions, unpack

            opts = UnpackOptions(platform, limits, rootless=args.rootless, args=args.args or None,
                                 volumes=args.volumes, warn=warn)
            unpack(source, args.bundle, opts)
        elif args.command == "pull":
            from ociruntime.image.pull import pull

            digest = pull(source, args.dest, platform, limits)
            print(digest)
        else:
            from ociruntime.image.resolve import resolve

            image = resolve(source, platform, limits)
            doc: dict[str, Any] = {
                "digest": str(image.manifest_desc.digest),
                "mediaType": image.manifest_desc.media_type,
                "manifest": image.manifest,
                "config": image.config,
            }
            if image.index is not None:
                doc["index"] = image.index
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
    finally:
        source.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except RuntimeFailure as exc:
        print(f"ocibundle: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"ocibundle: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
