"""Resource bounds: an image is hostile until proven otherwise, so every size and count is capped."""

from __future__ import annotations

from dataclasses import dataclass

from ociruntime.image.errors import LimitExceeded

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_json_bytes: int = 4 * MiB  # index, manifest, config: real ones are a few KiB
    max_blob_bytes: int = 16 * GiB  # one compressed layer
    max_layer_bytes: int = 32 * GiB  # one decompressed layer
    max_total_bytes: int = 64 * GiB  # all decompressed layers together
    max_layers: int = 256  # docker caps at 127 on overlay; leave headroom
    max_entries: int = 2_000_000  # entries in one layer
    max_path_bytes: int = 4096  # PATH_MAX
    max_symlink_hops: int = 40  # the kernel's MAXSYMLINKS
    max_index_depth: int = 4  # nested indexes
    max_xattr_bytes: int = 64 * 1024  # XATTR_SIZE_MAX


def check(value: int, bound: int, what: str) -> None:
    if value > bound:
        raise LimitExceeded(what, f"{value} exceeds the limit of {bound}")
