"""Digests (`algorithm:hex`) and hashing that checks sizes and digests as bytes go by."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from ociruntime.image.errors import ImageError, LimitExceeded, VerifyFailed

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_DIGEST = re.compile(r"^(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]+)$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)


def parse_digest(text: str) -> Digest:
    """Parse and validate; the hex part is also a file name, so it is checked strictly."""
    match = _DIGEST.match(text) if isinstance(text, str) else None
    if not match:
        raise ImageError(repr(text)[:100], "not a valid digest")
    alg, hexpart = match["alg"], match["hex"]
    if alg not in _HEX_LENGTH:
        raise ImageError(text, f"unsupported digest algorithm {alg}")
    if len(hexpart) != _HEX_LENGTH[alg] or not re.fullmatch(r"[0-9a-f]+", hexpart):
        raise ImageError(text, "not a valid digest")
    return Digest(alg, hexpart)


def sha256_of(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def read_verified(stream: BinaryIO, digest: Digest, size: int | None, bound: int, what: str) -> bytes:
    """Read a whole small blob (JSON) into memory, checking its size bound, size and digest."""
    data = stream.read(bound + 1)
    if len(data) > bound:
        raise LimitExceeded(what, f"larger than {bound} bytes")
    check_bytes(data, digest, size, what)
    return data


def check_bytes(data: bytes, digest: Digest, size: int | None, what: str) -> None:
    if size is not None and len(data) != size:
        raise VerifyFailed(what, f"size is {len(data)}, descriptor says {size}")
    hasher = digest.hasher()
    hasher.update(data)
    if hasher.hexdigest() != digest.hex:
        raise VerifyFailed(what, f"content does not match digest {digest}")


def copy_verified(src: BinaryIO, dst: BinaryIO | None, digest: Digest, size: int | None, bound: int, what: str,
                  progress: object = None) -> int:
    """Stream src to dst (or nowhere) hashing; raise on size or digest mismatch. Returns the byte count."""
    hasher = digest.hasher()
    total = 0
    tick = getattr(progress, "advance", None)
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > bound:
            raise LimitExceeded(what, f"larger than {bound} bytes")
        if size is not None and total > size:
            raise VerifyFailed(what, f"longer than the descriptor's size {size}")
        hasher.update(chunk)
        if dst is not None:
            dst.write(chunk)
        if tick is not None:
            tick(len(chunk))
    if size is not None and total != size:
        raise VerifyFailed(what, f"size is {total}, descriptor says {size}")
    if hasher.hexdigest() != digest.hex:
        raise VerifyFailed(what, f"content does not match digest {digest}")
    return total
