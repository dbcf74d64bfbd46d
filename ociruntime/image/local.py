"""Local sources: an OCI layout directory, an OCI archive (tar of a layout), a `docker save` archive.

Which one a SOURCE names is decided by what is on disk, after splitting off `:TAG` or `@DIGEST`: a
directory is a layout; a file is an archive, OCI when it holds `index.json`, docker when it holds only
`manifest.json`. Archives are read in place with random access, never extracted to disk.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, BinaryIO, cast

from ociruntime.image import mediatypes as mt
from ociruntime.image.descriptor import Descriptor, parse_descriptor_list, parse_json_object
from ociruntime.image.digest import Digest, parse_digest, sha256_of
from ociruntime.image.errors import ImageError
from ociruntime.image.limits import Limits


def split_local(source: str) -> tuple[str, str | None, Digest | None] | None:
    """`PATH`, `PATH:TAG` (docker archives: `PATH:REPO:TAG`) or `PATH@DIGEST` when PATH exists, else None."""
    if os.path.lexists(source):
        return source, None, None
    if "@" in source:
        path, _, digest = source.rpartition("@")
        if os.path.lexists(path):
            return path, None, parse_digest(digest)
    for i, char in enumerate(source):
        if char == ":" and os.path.lexists(source[:i]) and source[i + 1 :]:
            return source[:i], source[i + 1 :], None
    return None


def pick_root(manifests: list[Descriptor], tag: str | None, digest: Digest | None, where: str) -> Descriptor:
    if digest is not None:
        for desc in manifests:
            if desc.digest == digest:
                return desc
        raise ImageError(where, f"no manifest {digest} in index.json")
    tags = [d.annotations.get(mt.REF_NAME_ANNOTATION, "") for d in manifests]
    if tag is not None:
        for desc, name in zip(manifests, tags, strict=True):
            if name == tag:
                return desc
        raise ImageError(where, f"no tag {tag!r}; tags: {', '.join(sorted(t for t in tags if t)) or 'none'}")
    if len(manifests) == 1:
        return manifests[0]
    raise ImageError(where, f"several images, name one with :TAG ({', '.join(sorted(t for t in tags if t))})")


class LayoutSource:
    def __init__(self, path: Path, tag: str | None, digest: Digest | None, limits: Limits) -> None:
        self.path = path
        self.display = str(path)
        if not (path / "index.json").is_file():
            raise ImageError(str(path), "not an OCI image layout (no index.json)")
        check_layout_file((path / "oci-layout").read_bytes() if (path / "oci-layout").exists() else None, str(path))
        with open(path / "index.json", "rb") as f:
            data = f.read(limits.max_json_bytes + 1)
        index = parse_json_object(data, f"{path}/index.json")
        self._root = pick_root(parse_descriptor_list(index, "manifests", "index.json"), tag, digest, str(path))

    def root(self) -> Descriptor:
        return self._root

    def blob_path(self, digest: Digest) -> Path:
        return self.path / "blobs" / digest.algorithm / digest.hex

    def read_document(self, desc: Descriptor) -> BinaryIO:
        return self.open_blob(desc)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        try:
            return open(self.blob_path(desc.digest), "rb")
        except FileNotFoundError:
            raise ImageError(self.display, f"blob {desc.digest} is missing") from None

    def close(self) -> None:
        pass


def check_layout_file(data: bytes | None, where: str) -> None:
    if data is None:
        raise ImageError(where, "not an OCI image layout (no oci-layout file)")
    doc = parse_json_object(data, f"{where}/oci-layout")
    if doc.get("imageLayoutVersion") != mt.OCI_LAYOUT_VERSION:
        raise ImageError(where, f"unsupported imageLayoutVersion {doc.get('imageLayoutVersion')!r}")


class _Archive:
    """Regular-file members of a tar archive by normalized name, read with random access."""

    def __init__(self, path: Path) -> None:
        import tarfile

        self.display = str(path)
        try:
            self.tar: tarfile.TarFile = tarfile.open(path, "r:*")
            self.members = {
                os.path.normpath(m.name).lstrip("/"): m for m in self.tar.getmembers() if m.isfile()
            }
        except (tarfile.TarError, OSError) as exc:
            raise ImageError(str(path), f"not a readable tar archive ({exc})") from None

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> BinaryIO:
        member = self.members.get(name)
        if member is None:
            raise ImageError(self.display, f"{name} is missing from the archive")
        stream = self.tar.extractfile(member)
        assert stream is not None  # regular files always have a stream
        return cast(BinaryIO, stream)

    def read(self, name: str, bound: int) -> bytes:
        member = self.members.get(name)
        if member is not None and member.size > bound:
            raise ImageError(self.display, f"{name} is larger than {bound} bytes")
        return self.open(name).read()


def open_archive(
    path: Path, tag: str | None, digest: Digest | None, limits: Limits
) -> OciArchiveSource | DockerArchiveSource:
    archive = _Archive(path)
    if archive.has("index.json"):
        return OciArchiveSource(archive, tag, digest, limits)
    if archive.has("manifest.json"):
        return DockerArchiveSource(archive, tag, limits)
    raise ImageError(str(path), "neither an OCI archive (index.json) nor a docker save archive (manifest.json)")


class OciArchiveSource:
    def __init__(self, archive: _Archive, tag: str | None, digest: Digest | None, limits: Limits) -> None:
        self.archive = archive
        self.display = archive.display
        check_layout_file(archive.read("oci-layout", 4096) if archive.has("oci-layout") else None, self.display)
        index = parse_json_object(archive.read("index.json", limits.max_json_bytes), "index.json")
        self._root = pick_root(parse_descriptor_list(index, "manifests", "index.json"), tag, digest, self.display)

    def root(self) -> Descriptor:
        return self._root

    def read_document(self, desc: Descriptor) -> BinaryIO:
        return self.open_blob(desc)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.archive.open(f"blobs/{desc.digest.algorithm}/{desc.digest.hex}")

    def close(self) -> None:
        self.archive.tar.close()


class DockerArchiveSource:
    """`docker save` output: manifest.json names a config file and layer tars; we synthesize a manifest.

    Docker records no layer digests, so an uncompressed layer's digest is its diffID (the same bytes), and
    a compressed one is hashed here once. The resolver then verifies both like any other image.
    """

    def __init__(self, archive: _Archive, tag: str | None, limits: Limits) -> None:
        self.archive = archive
        self.display = archive.display
        entries = json.loads(archive.read("manifest.json", limits.max_json_bytes))
        if not isinstance(entries, list) or not entries:
            raise ImageError(self.display, "manifest.json lists no image")
        entry = self._pick(entries, tag)
        config_name, layer_names = entry.get("Config"), entry.get("Layers")
        if not isinstance(config_name, str) or not isinstance(layer_names, list):
            raise ImageError(self.display, "manifest.json entry lacks Config or Layers")
        config = archive.read(config_name, limits.max_json_bytes)
        self.names: dict[Digest, str] = {}
        config_digest = sha256_of(config)
        self.names[config_digest] = config_name
        diff_ids = parse_json_object(config, config_name).get("rootfs", {}).get("diff_ids", [])
        layers = []
        for i, name in enumerate(layer_names):
            if not isinstance(name, str):
                raise ImageError(self.display, "manifest.json Layers holds a non-string")
            layers.append(self._layer_descriptor(name, diff_ids[i] if i < len(diff_ids) else None))
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST,
            "config": {"mediaType": mt.DOCKER_CONFIG, "digest": str(config_digest), "size": len(config)},
            "layers": [d.to_json() for d in layers],
        }
        self.manifest_bytes = json.dumps(manifest).encode()
        self._root = Descriptor(mt.DOCKER_MANIFEST, sha256_of(self.manifest_bytes), len(self.manifest_bytes))

    def _pick(self, entries: list[Any], tag: str | None) -> dict[str, Any]:
        if tag is None:
            if len(entries) != 1:
                raise ImageError(self.display, "several images in the archive, name one with :REPO:TAG")
            return dict(entries[0])
        for entry in entries:
            repo_tags = entry.get("RepoTags") or []
            if tag in repo_tags or any(t.endswith(f":{tag}") or t.rpartition(":")[0] == tag for t in repo_tags):
                return dict(entry)
        raise ImageError(self.display, f"no image tagged {tag!r} in the archive")

    def _layer_descriptor(self, name: str, diff_id: object) -> Descriptor:
        member = self.archive.members.get(os.path.normpath(name))
        if member is None:
            raise ImageError(self.display, f"{name} is missing from the archive")
        head = self.archive.open(name).read(4)
        compression = mt.sniff_compression(head)
        if compression is mt.Compression.NONE and isinstance(diff_id, str):
            digest = parse_digest(diff_id)
        else:
            import hashlib

            hasher = hashlib.sha256()
            stream = self.archive.open(name)
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                hasher.update(chunk)
            digest = Digest("sha256", hasher.hexdigest())
        media_type = {
            mt.Compression.NONE: "application/vnd.docker.image.rootfs.diff.tar",
            mt.Compression.GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
            mt.Compression.ZSTD: "application/vnd.docker.image.rootfs.diff.tar.zstd",
        }[compression]
        self.names[digest] = os.path.normpath(name)
        return Descriptor(media_type, digest, member.size)

    def root(self) -> Descriptor:
        return self._root

    def read_document(self, desc: Descriptor) -> BinaryIO:
        if desc.digest != self._root.digest:
            raise ImageError(self.display, f"no document {desc.digest}")
        return io.BytesIO(self.manifest_bytes)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        name = self.names.get(desc.digest)
        if name is None:
            raise ImageError(self.display, f"blob {desc.digest} is not in the archive")
        return self.archive.open(name)

    def close(self) -> None:
        self.archive.tar.close()


def open_local(source: str, limits: Limits) -> LayoutSource | OciArchiveSource | DockerArchiveSource | None:
    split = split_local(source)
    if split is None:
        return None
    path_text, tag, digest = split
    path = Path(path_text)
    if path.is_dir():
        return LayoutSource(path, tag, digest, limits)
    return open_archive(path, tag, digest, limits)

