"""Reading a bundle's config.json: parse, schema check, semantic checks, then the typed Spec."""

from __future__ import annotations

import os

from ociruntime import errors, jsonreader
from ociruntime.spec.model import Spec, parse_config

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any


def read_json(path: str, *, what: str = "config.json") -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise errors.BundleError(path, f"no {what} here") from None
    except OSError as e:
        raise errors.BundleError(path, f"cannot read {what}: {e.strerror}") from None
    try:
        doc = jsonreader.loads(raw)
    except (ValueError, RecursionError) as e:
        raise errors.ConfigInvalid("", f"{path}: not valid JSON: {e}", source=what) from None
    if not isinstance(doc, dict):
        raise errors.ConfigInvalid("", f"{path}: must be a JSON object", source=what)
    return doc


def load_bundle(bundle: str, *, rootless: bool = False) -> Spec:
    """The bundle's config.json, validated (schema every time, then semantics) and parsed."""
    from ociruntime.spec import schema, semantic

    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise errors.BundleError(bundle, "bundle directory does not exist")
    doc = read_json(os.path.join(bundle, "config.json"))
    schema.validate_config(doc)
    semantic.check_config(doc, rootless=rootless)
    if "process" not in doc:
        raise errors.ConfigInvalid("process", "is required to create a container")
    return parse_config(doc, bundle)
