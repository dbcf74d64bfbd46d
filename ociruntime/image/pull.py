"""Copy one image (the manifest for the chosen platform, its config and layers) into a local OCI layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ociruntime.image import mediatypes as mt
from ociruntime.image import progress as bars
from ociruntime.image.blobs import BlobStore
from ociruntime.image.descriptor import Descriptor
from ociruntime.image.errors import ImageError
from ociruntime.image.limits import Limits
from ociruntime.image.platforms import Platform
from ociruntime.image.resolve import resolve
from ociruntime.image.source import ImageSource


def pull(source: ImageSource, dest: Path, platform: Platform, limits: Limits) -> str:
    """Returns the manifest digest. An existing layout gains the image; its other images stay."""
    if dest.is_symlink():
        raise ImageError(str(dest), "the destination is a symlink; give its real path")
    image = resolve(source, platform, limits)
    store = BlobStore(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for desc in image.layers:
        if store.has(desc.digest, desc.size):
            continue
        bar = bars.make(f"copy {desc.digest.hex[:12]}", desc.size)
        with source.open_blob(desc) as stream:
            store.ingest(stream, desc.digest, desc.size, limits.max_blob_bytes, f"layer {desc.digest}", bar)
        bar.close()
    store.put_bytes(image.config_bytes, image.config_desc.digest)
    store.put_bytes(image.manifest_bytes, image.manifest_desc.digest)
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}))
    tag = getattr(source, "tag", None) or "latest"
    add_to_index(dest, Descriptor(image.manifest_desc.media_type, image.manifest_desc.digest,
                                  image.manifest_desc.size, annotations={mt.REF_NAME_ANNOTATION: tag}))
    return str(image.manifest_desc.digest)


def add_to_index(dest: Path, desc: Descriptor) -> None:
    path = dest / "index.json"
    empty: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    index: dict[str, Any] = json.loads(path.read_text()) if path.exists() else empty
    name = desc.annotations.get(mt.REF_NAME_ANNOTATION)
    index["manifests"] = [m for m in index.get("manifests", [])
                          if (m.get("annotations") or {}).get(mt.REF_NAME_ANNOTATION) != name]
    index["manifests"].append(desc.to_json())
    tmp = path.with_name(".index.json.tmp")
    tmp.write_text(json.dumps(index, indent=2) + "\n")
    os.replace(tmp, path)
