"""SOURCE text -> an image source: a local path (layout, OCI archive, docker archive) or a registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ociruntime.image.limits import Limits
from ociruntime.image.local import open_local
from ociruntime.image.source import ImageSource


@dataclass(frozen=True)
class Access:
    plain_http: bool = False
    cache: Path | None = None  # the pull cache (content-addressed), default under $XDG_CACHE_HOME


def default_cache() -> Path:
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ocibundle"


def open_source(text: str, limits: Limits, access: Access) -> ImageSource:
    for prefix in ("oci:", "oci-archive:", "docker-archive:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    else:
        if text.startswith("docker://"):
            return _registry(text[len("docker://"):], limits, access)
    local = open_local(text, limits)
    if local is not None:
        return local
    return _registry(text, limits, access)


def _registry(text: str, limits: Limits, access: Access) -> ImageSource:
    from ociruntime.image.registry import RegistrySource

    return RegistrySource(text, limits, plain_http=access.plain_http, cache=access.cache or default_cache())
