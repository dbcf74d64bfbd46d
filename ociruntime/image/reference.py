"""Registry references: `[host[:port]/]path[:tag][@digest]`, with Docker Hub's defaults. PURE."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ociruntime.image.digest import Digest, parse_digest
from ociruntime.image.errors import ImageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Reference:
    registry: str  # as written (docker.io for the Hub): the key for credentials
    repository: str
    tag: str | None
    digest: Digest | None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        return str(self.digest) if self.digest else (self.tag or "latest")

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    rest, _, digest_text = text.partition("@")
    digest = parse_digest(digest_text) if digest_text else None
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = None
    head, colon, maybe_tag = path.rpartition(":")
    if colon and "/" not in maybe_tag:
        path, tag = head, maybe_tag
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not _PATH.match(path):
        raise ImageError(text, "not a valid image reference (and no such local path)")
    if tag is not None and not _TAG.match(tag):
        raise ImageError(text, f"invalid tag {tag!r}")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, path, tag, digest)
