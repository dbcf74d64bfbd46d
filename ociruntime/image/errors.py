"""Errors of ocibundle: each renders as one line, CLI prints `ocibundle: <line>` and exits 1."""

from __future__ import annotations

from ociruntime.errors import RuntimeFailure


class ImageError(RuntimeFailure):
    """An image (or where it comes from) cannot be used: `what` is the reference, blob or path concerned."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}" if what else reason)


class VerifyFailed(ImageError):
    """Content does not match its descriptor: digest, size, diffID, mediaType or layer count."""


class UnsafeEntry(ImageError):
    """A layer entry would land outside the rootfs or is malformed on purpose (hostile image)."""


class LimitExceeded(ImageError):
    """A resource bound was hit (size, entry count, path length, symlink hops)."""


class RegistryError(ImageError):
    """The registry refused or failed a request."""


class Unsupported(ImageError):
    """A valid but unsupported input (schema 1 manifests, unknown layer compression, ...)."""
