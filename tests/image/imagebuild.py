"""Build OCI images on the fly with tarfile: layers from entry lists, written as layouts or archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MTIME = 1_700_000_000


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def info(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, uid: int = 0, gid: int = 0,
         mtime: float = MTIME, linkname: str = "", size: int = 0, pax: dict[str, str] | None = None,
         major: int = 0, minor: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = mtime
    ti.linkname = linkname
    ti.size = size
    ti.devmajor, ti.devminor = major, minor
    if pax:
        ti.pax_headers = dict(pax)
    return ti


def f(name: str, data: bytes = b"", **kw: Any) -> tuple[tarfile.TarInfo, bytes]:
    return info(name, size=len(data), **kw), data


def d(name: str, mode: int = 0o755, **kw: Any) -> tuple[tarfile.TarInfo, bytes]:
    return info(name, tarfile.DIRTYPE, mode=mode, **kw), b""


def sym(name: str, target: str, **kw: Any) -> tuple[tarfile.TarInfo, bytes]:
    return info(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw), b""


def hard(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    return info(name, tarfile.LNKTYPE, linkname=target), b""


def wh(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return info(name), b""


def tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def compress(raw: bytes, how: str) -> tuple[bytes, str]:
    base = "application/vnd.oci.image.layer.v1.tar"
    if how == "gzip":
        return gzip.compress(raw, mtime=0), base + "+gzip"
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(raw), base + "+zstd"
    return raw, base


@dataclass
class Image:
    layers: list[list[tuple[tarfile.TarInfo, bytes]]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # the "config" member of the image config
    compression: str = "gzip"
    arch: str = "amd64"
    extra: dict[str, Any] = field(default_factory=dict)  # top-level image config fields

    def blobs(self) -> tuple[dict[str, bytes], dict[str, Any], bytes, bytes]:
        """(digest -> blob, manifest, manifest bytes, config bytes)."""
        blobs: dict[str, bytes] = {}
        descs, diff_ids = [], []
        for entries in self.layers:
            raw = tar_bytes(entries)
            blob, media_type = compress(raw, self.compression)
            blobs[sha(blob)] = blob
            descs.append({"mediaType": media_type, "digest": sha(blob), "size": len(blob)})
            diff_ids.append(sha(raw))
        config = {"architecture": self.arch, "os": "linux", "config": self.config,
                  "rootfs": {"type": "layers", "diff_ids": diff_ids}, **self.extra}
        config_bytes = json.dumps(config).encode()
        blobs[sha(config_bytes)] = config_bytes
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": sha(config_bytes), "size": len(config_bytes)},
                    "layers": descs}
        manifest_bytes = json.dumps(manifest).encode()
        blobs[sha(manifest_bytes)] = manifest_bytes
        return blobs, manifest, manifest_bytes, config_bytes


def write_blobs(root: Path, blobs: dict[str, bytes]) -> None:
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    for digest, data in blobs.items():
        (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)


def write_layout(root: Path, image: Image, tag: str = "latest", *, as_index: list[Image] | None = None) -> str:
    """Write an OCI layout; returns the top descriptor's digest. With as_index, an index of several images."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    images = as_index or [image]
    manifests = []
    for img in images:
        blobs, _, manifest_bytes, _ = img.blobs()
        write_blobs(root, blobs)
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest_bytes),
                          "size": len(manifest_bytes), "platform": {"os": "linux", "architecture": img.arch}})
    if as_index:
        index_bytes = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": manifests}).encode()
        write_blobs(root, {sha(index_bytes): index_bytes})
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(index_bytes),
               "size": len(index_bytes)}
    else:
        top = {k: v for k, v in manifests[0].items() if k != "platform"}
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return str(top["digest"])


def tar_directory(src: Path, dest: Path) -> None:
    with tarfile.open(dest, "w") as tar:
        for child in sorted(src.iterdir()):
            tar.add(child, arcname=child.name)


def write_docker_archive(dest: Path, image: Image, repo_tag: str = "example/app:1") -> None:
    image.compression = "none"
    blobs, manifest, _, config_bytes = image.blobs()
    members: list[tuple[str, bytes]] = []
    config_name = sha(config_bytes).split(":")[1] + ".json"
    members.append((config_name, config_bytes))
    layer_names = []
    for i, desc in enumerate(manifest["layers"]):
        name = f"layer{i}/layer.tar"
        members.append((name, blobs[desc["digest"]]))
        layer_names.append(name)
    members.append(("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [repo_tag],
                                                  "Layers": layer_names}]).encode()))
    with tarfile.open(dest, "w") as tar:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
