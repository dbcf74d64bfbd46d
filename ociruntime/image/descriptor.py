"""Descriptors and the JSON documents that carry them, parsed strictly (types checked, sizes bounded)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ociruntime.image.digest import Digest, parse_digest
from ociruntime.image.errors import ImageError


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            doc["platform"] = self.platform
        if self.annotations:
            doc["annotations"] = self.annotations
        return doc


def parse_descriptor(doc: object, where: str) -> Descriptor:
    if not isinstance(doc, dict):
        raise ImageError(where, "descriptor is not an object")
    media_type, digest, size = doc.get("mediaType"), doc.get("digest"), doc.get("size")
    if not isinstance(media_type, str):
        raise ImageError(where, "descriptor has no mediaType")
    if not isinstance(digest, str):
        raise ImageError(where, "descriptor has no digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ImageError(where, "descriptor has no valid size")
    platform = doc.get("platform")
    annotations = doc.get("annotations") or {}
    if platform is not None and not isinstance(platform, dict):
        raise ImageError(where, "descriptor platform is not an object")
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise ImageError(where, "descriptor annotations are not a string map")
    return Descriptor(media_type, parse_digest(digest), size, platform, annotations)


def parse_json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(where, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ImageError(where, "JSON document is not an object")
    return doc


def parse_descriptor_list(doc: dict[str, Any], key: str, where: str) -> list[Descriptor]:
    items = doc.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ImageError(where, f"{key} is not a list")
    return [parse_descriptor(item, f"{where} {key}[{i}]") for i, item in enumerate(items)]
