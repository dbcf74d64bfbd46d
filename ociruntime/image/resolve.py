"""From a source's root descriptor to a verified image: index -> platform -> manifest -> config.

Every document is checked against its descriptor (digest, size, a size bound) and against its own
`mediaType`; the number of layers must equal `rootfs.diff_ids`. Schema 1 manifests are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ociruntime.image import mediatypes as mt
from ociruntime.image.descriptor import Descriptor, parse_descriptor, parse_descriptor_list, parse_json_object
from ociruntime.image.digest import Digest, parse_digest, read_verified
from ociruntime.image.errors import Unsupported, VerifyFailed
from ociruntime.image.limits import Limits, check
from ociruntime.image.platforms import Platform, choose
from ociruntime.image.source import ImageSource


@dataclass(frozen=True)
class Image:
    manifest_desc: Descriptor
    manifest: dict[str, Any]
    manifest_bytes: bytes
    config_desc: Descriptor
    config: dict[str, Any]
    config_bytes: bytes
    layers: list[Descriptor]
    diff_ids: list[Digest]
    index: dict[str, Any] | None = None  # the index the manifest was chosen from, if any


def read_document(source: ImageSource, desc: Descriptor, limits: Limits) -> tuple[bytes, dict[str, Any]]:
    where = f"{source.display} {desc.digest}"
    check(desc.size, limits.max_json_bytes, f"{where} size")
    with source.read_document(desc) as stream:
        data = read_verified(stream, desc.digest, desc.size, limits.max_json_bytes, where)
    doc = parse_json_object(data, where)
    check_document_type(doc, desc, where)
    return data, doc


def check_document_type(doc: dict[str, Any], desc: Descriptor, where: str) -> None:
    if doc.get("schemaVersion") == 1 or desc.media_type in mt.DOCKER_SCHEMA1:
        raise Unsupported(where, "Docker schema 1 manifests are not supported (deprecated; push the image again "
                                 "with a current client to get a schema 2 or OCI manifest)")
    own = doc.get("mediaType")
    if own is not None and own != desc.media_type:
        raise VerifyFailed(where, f"descriptor says mediaType {desc.media_type} but the document says {own}")


def resolve(source: ImageSource, platform: Platform, limits: Limits) -> Image:
    desc = source.root()
    index: dict[str, Any] | None = None
    for _depth in range(limits.max_index_depth + 1):
        data, doc = read_document(source, desc, limits)
        if desc.media_type in mt.INDEX_TYPES:
            index = doc
            desc = choose(parse_descriptor_list(doc, "manifests", "index"), platform, source.display)
            continue
        if desc.media_type in mt.MANIFEST_TYPES:
            return load_manifest(source, desc, data, doc, limits, index)
        raise Unsupported(source.display, f"{desc.digest} has media type {desc.media_type}, not an image")
    raise Unsupported(source.display, f"indexes nested deeper than {limits.max_index_depth}")


def load_manifest(source: ImageSource, desc: Descriptor, data: bytes, doc: dict[str, Any], limits: Limits,
                  index: dict[str, Any] | None) -> Image:
    where = f"{source.display} manifest {desc.digest}"
    config_desc = parse_descriptor(doc.get("config"), f"{where} config")
    if config_desc.media_type not in mt.CONFIG_TYPES:
        raise Unsupported(where, f"config media type {config_desc.media_type} is not a container image config")
    layers = parse_descriptor_list(doc, "layers", where)
    check(len(layers), limits.max_layers, f"{where} layer count")
    for layer in layers:
        if mt.layer_compression(layer.media_type) is None:
            raise Unsupported(where, f"layer {layer.digest} has unknown media type {layer.media_type}")
    check(config_desc.size, limits.max_json_bytes, f"{where} config size")
    with source.open_blob(config_desc) as stream:
        config_bytes = read_verified(stream, config_desc.digest, config_desc.size, limits.max_json_bytes,
                                     f"config {config_desc.digest}")
    config = parse_json_object(config_bytes, f"config {config_desc.digest}")
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(rootfs.get("diff_ids"), list):
        raise VerifyFailed(f"config {config_desc.digest}", "rootfs must be {type: layers, diff_ids: [...]}")
    diff_ids = [parse_digest(d) for d in rootfs["diff_ids"]]
    if len(diff_ids) != len(layers):
        raise VerifyFailed(where, f"{len(layers)} layers but the config lists {len(diff_ids)} diff_ids")
    return Image(desc, doc, data, config_desc, config, config_bytes, layers, diff_ids, index)
