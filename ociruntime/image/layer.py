"""Decompress one layer blob into a plain tar file, verifying its digest, size and diffID on the way.

Nothing of a layer is applied before all three checks pass: the tar is staged in a temporary file
(next to the bundle, so on the same filesystem), which also lets the applier copy file data with
copy_file_range instead of pushing every byte through Python. gzip uses zlib (multi-member aware);
zstd needs the `zstandard` module (Debian: python3-zstandard), imported only when a zstd layer appears.
"""

from __future__ import annotations

import hashlib
import tempfile
import zlib
from pathlib import Path
from typing import IO, BinaryIO, cast

from ociruntime.image.descriptor import Descriptor
from ociruntime.image.digest import CHUNK, Digest
from ociruntime.image.errors import LimitExceeded, Unsupported, VerifyFailed
from ociruntime.image.mediatypes import Compression, layer_compression


class _Checked:
    """Counts and hashes the compressed bytes as the decompressor pulls them."""

    def __init__(self, src: BinaryIO, desc: Descriptor, bound: int, progress: object) -> None:
        self.src = src
        self.desc = desc
        self.bound = min(bound, desc.size)
        self.hasher = desc.digest.hasher()
        self.count = 0
        self.tick = getattr(progress, "advance", None)

    def read(self, n: int = CHUNK) -> bytes:
        chunk = self.src.read(n if n and n > 0 else CHUNK)
        self.count += len(chunk)
        if self.count > self.bound:
            if self.count > self.desc.size:
                raise VerifyFailed(f"layer {self.desc.digest}", f"longer than the descriptor's size {self.desc.size}")
            raise LimitExceeded(f"layer {self.desc.digest}", f"larger than {self.bound} bytes")
        self.hasher.update(chunk)
        if self.tick is not None:
            self.tick(len(chunk))
        return chunk

    def finish(self) -> None:
        while self.read(CHUNK):  # trailing bytes after the compressed stream still belong to the blob
            pass
        what = f"layer {self.desc.digest}"
        if self.count != self.desc.size:
            raise VerifyFailed(what, f"size is {self.count}, descriptor says {self.desc.size}")
        if self.hasher.hexdigest() != self.desc.digest.hex:
            raise VerifyFailed(what, f"content does not match digest {self.desc.digest}")


class _Sink:
    """Writes decompressed bytes, hashing them for the diffID and enforcing the size bound."""

    def __init__(self, out: IO[bytes], diff_id: Digest, bound: int, what: str) -> None:
        self.out = out
        self.hasher = diff_id.hasher()
        self.count = 0
        self.bound = bound
        self.what = what

    def write(self, data: bytes) -> int:
        self.count += len(data)
        if self.count > self.bound:
            raise LimitExceeded(self.what, f"decompresses to more than {self.bound} bytes")
        self.hasher.update(data)
        self.out.write(data)
        return len(data)


def stage_layer(src: BinaryIO, desc: Descriptor, diff_id: Digest, workdir: Path, *, max_blob: int,
                max_layer: int, compression: Compression | None = None, progress: object = None) -> IO[bytes]:
    """A temporary file holding the verified, decompressed tar (deleted when closed)."""
    compression = compression or layer_compression(desc.media_type)
    if compression is None:
        raise Unsupported(f"layer {desc.digest}", f"unknown media type {desc.media_type}")
    what = f"layer {desc.digest}"
    checked = _Checked(src, desc, max_blob, progress)
    out = tempfile.TemporaryFile(dir=workdir, prefix=".layer-")
    try:
        sink = _Sink(out, diff_id, max_layer, what)
        if compression is Compression.GZIP:
            _gunzip(checked, sink, what)
        elif compression is Compression.ZSTD:
            _unzstd(checked, sink, what)
        else:
            for chunk in iter(lambda: checked.read(CHUNK), b""):
                sink.write(chunk)
        checked.finish()
        if sink.hasher.hexdigest() != diff_id.hex:
            raise VerifyFailed(what, f"decompressed content does not match diffID {diff_id}")
        out.flush()
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


def _gunzip(src: _Checked, sink: _Sink, what: str) -> None:
    # wbits 16+MAX_WBITS: gzip framing; a new decompressor per member, since gzip allows several.
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        while chunk:
            started = True
            try:
                sink.write(decomp.decompress(chunk, CHUNK * 4))
                while decomp.unconsumed_tail:  # bounded output per call: a bomb cannot balloon memory
                    sink.write(decomp.decompress(decomp.unconsumed_tail, CHUNK * 4))
            except zlib.error as exc:
                raise VerifyFailed(what, f"invalid gzip data ({exc})") from None
            if decomp.eof:
                chunk = decomp.unused_data
                sink.write(decomp.flush())
                decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
                started = bool(chunk)
            else:
                chunk = b""
    if started and not decomp.eof:
        raise VerifyFailed(what, "truncated gzip data")


def _unzstd(src: _Checked, sink: _Sink, what: str) -> None:
    try:
        import zstandard
    except ImportError:
        raise Unsupported(what, "zstd layers need the zstandard module (Debian: python3-zstandard)") from None
    try:
        with zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], src), read_across_frames=True) as reader:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                sink.write(chunk)
    except zstandard.ZstdError as exc:
        raise VerifyFailed(what, f"invalid zstd data ({exc})") from None


def digest_of_file(path: Path) -> Digest:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            hasher.update(chunk)
    return Digest("sha256", hasher.hexdigest())
