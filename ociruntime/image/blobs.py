"""A content-addressed blob store laid out like an OCI layout's `blobs/` (used for layouts and the pull cache).

Blobs are written to a temporary name in the same directory, verified, then renamed: a reader never sees a
partial or unverified blob under its digest's name, so later pulls can trust what the cache holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from ociruntime.image.digest import Digest, copy_verified


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has(self, digest: Digest, size: int) -> bool:
        """Present with the right size; the digest was checked when it was written (see ingest)."""
        try:
            st = os.stat(self.path(digest), follow_symlinks=False)
        except FileNotFoundError:
            return False
        return st.st_size == size and os.path.isfile(self.path(digest))

    def ingest(self, src: BinaryIO, digest: Digest, size: int | None, bound: int, what: str,
               progress: object = None) -> Path:
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                copy_verified(src, out, digest, size, bound, what, progress)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return final

    def put_bytes(self, data: bytes, digest: Digest) -> Path:
        import io

        return self.ingest(io.BytesIO(data), digest, len(data), len(data), str(digest))

    def link_from(self, other: BlobStore, digest: Digest) -> None:
        """Share a verified blob from another store: hard link when on the same filesystem, else copy."""
        final = self.path(digest)
        if final.exists():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".partial-link-{os.getpid()}-{digest.hex[:12]}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.link(other.path(digest), tmp)
        except OSError:
            shutil.copyfile(other.path(digest), tmp)
        os.replace(tmp, final)
