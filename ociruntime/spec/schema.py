"""JSON Schema validation of config.json, --process files, state and features documents.

The schemas are our own (written from the runtime-spec v1.3.0 prose) and live in `<repo>/specs/`.
The package is installed editable (`pip install -e .`), so `<repo>/specs`
exists; an installed copy under `ociruntime/specs/` (package data) is the fallback.

`jsonschema` costs ~60 ms to import, and verbs such as `state` and `kill` never validate anything,
so it is imported inside the functions that need it, never at module import. Compiled validators
are cached for the life of the process.

Every failure becomes `ConfigInvalid(path, reason)`: `path` is the dotted JSON path of the field
(`linux.namespaces[2].type`) and `reason` one line (`'pidd' is not one of [...]`).
"""

from __future__ import annotations

import os

from ociruntime.errors import ConfigInvalid

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

# Never fetch anything: every $ref points into one of our own files, which are all in the store.
SCHEMA_BASE_URI = "https://ociruntime.invalid/specs/"
CONFIG_SCHEMA = "config-schema.json"
STATE_SCHEMA = "state-schema.json"
FEATURES_SCHEMA = "features-schema.json"
# The `process` object of config.json doubles as the `exec --process` document.
PROCESS_POINTER = CONFIG_SCHEMA + "#/$defs/Process"
RESOURCES_POINTER = "defs-linux.json#/$defs/Resources"

# Compiled checks and validators, kept for the life of the process. Plain dicts rather than
# functools.cache: `functools` costs ~2 ms of import on every create (its `collections`, `re`).
_quick_checks: dict[str, Callable[[Any], bool] | None] = {}
_validators: dict[str, Validator] = {}
_store: dict[str, Any] = {}

MAX_REASON_CHARS = 300
MAX_INSTANCE_REPR_CHARS = 60
# Patterns for wording errors, compiled (and cached by `re`) only when there is an error to word.
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
_REQUIRED_MESSAGE = r"^(?P<name>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") is a required property$"


def specs_dir() -> str:
    """Where the schema files are: the source tree first, then package data. (os.path, not pathlib:
    pathlib pulls in urllib and ipaddress, ~2.5 ms on every `create`.)"""
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    candidates = (os.path.join(os.path.dirname(package), "specs"), os.path.join(package, "specs"))
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, CONFIG_SCHEMA)):
            return candidate
    raise ConfigInvalid("", f"schema files not found (looked in {', '.join(candidates)})")


def validate_config(doc: object) -> None:
    """Check a whole config.json document; raise ConfigInvalid on the most relevant error."""
    _validate(doc, CONFIG_SCHEMA, source="config.json")


def validate_process(doc: object) -> None:
    """Check an `exec --process` document against the `process` sub-schema of config.json."""
    _validate(doc, PROCESS_POINTER, source="process.json")


def validate_resources(doc: object, *, source: str = "resources") -> None:
    """Check a linux.resources document (what `update --resources` reads)."""
    _validate(doc, RESOURCES_POINTER, source=source)


def validate_state(doc: object) -> None:
    """Check a state document (what `state` prints and hooks read on stdin)."""
    _validate(doc, STATE_SCHEMA, source="state")


def validate_features(doc: object) -> None:
    """Check a features document (what `features` prints)."""
    _validate(doc, FEATURES_SCHEMA, source="features")


def _validate(doc: object, schema_ref: str, *, source: str) -> None:
    quick = _quick_check(schema_ref)
    if quick is not None and quick(doc):
        return  # the common case, decided without importing jsonschema
    validator = _validator(schema_ref)
    instance: Any = doc  # any JSON value; judging it is the validator's job
    errors = list(validator.iter_errors(instance))
    if not errors:
        return
    path, reason = describe(pick_error(errors))
    raise ConfigInvalid(path, reason, source=source)


def _quick_check(schema_ref: str) -> Callable[[Any], bool] | None:
    """The fast verdict for `schema_ref` (see quickcheck.py), or None if the schema is beyond it."""
    if schema_ref not in _quick_checks:
        from ociruntime.spec import quickcheck

        name, _, pointer = schema_ref.partition("#")
        try:
            _quick_checks[schema_ref] = quickcheck.Compiler(specs_dir(), SCHEMA_BASE_URI).compile_file(name, pointer)
        except quickcheck.Unsupported:
            _quick_checks[schema_ref] = None
    return _quick_checks[schema_ref]


def _load_store() -> dict[str, Any]:
    """Every specs/*.json keyed by its $id, so that references resolve without any I/O later."""
    if not _store:
        import json  # jsonschema, which needs this, imports json anyway

        directory = specs_dir()
        for name in sorted(n for n in os.listdir(directory) if n.endswith(".json")):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                schema = json.load(f)
            _store[schema.get("$id", SCHEMA_BASE_URI + name)] = schema
    return _store


def _refuse_remote(uri: str) -> Any:
    # A reference outside our own files is a bug in the schemas, never a reason to touch the network.
    raise ConfigInvalid("", f"schema reference to {uri} is outside specs/")


def _validator(schema_ref: str) -> Validator:
    if schema_ref not in _validators:
        _validators[schema_ref] = _make_validator(schema_ref)
    return _validators[schema_ref]


def _make_validator(schema_ref: str) -> Validator:
    import jsonschema  # heavy: imported only when something is validated

    store = _load_store()
    root = store[SCHEMA_BASE_URI + CONFIG_SCHEMA]  # every schema file uses the same draft
    schema: dict[str, Any]
    if "#" in schema_ref:
        schema = {"$schema": root["$schema"], "$ref": SCHEMA_BASE_URI + schema_ref}
    else:
        schema = store[SCHEMA_BASE_URI + schema_ref]
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    resolver = jsonschema.RefResolver(
        base_uri=schema.get("$id", SCHEMA_BASE_URI),
        referrer=schema,
        store=store,
        handlers={"http": _refuse_remote, "https": _refuse_remote, "file": _refuse_remote},
    )
    validator: Validator = cls(schema, resolver=resolver)
    return validator


# --- choosing and rendering one error ----------------------------------------------------------

_WEAK = frozenset({"anyOf", "oneOf"})


def _depth(error: ValidationError) -> int:
    # A missing property is reported at the property itself, one level below its parent object.
    return len(error.absolute_path) + (1 if error.validator == "required" else 0)


def _rank(error: ValidationError) -> tuple[int, bool]:
    return (_depth(error), error.validator not in _WEAK)


def pick_error(errors: Iterable[ValidationError]) -> ValidationError:
    """The error that says most: the deepest one, then inside anyOf/oneOf the deepest branch error.

    On ties the first in document order wins (max() keeps the first maximum), which keeps the
    choice stable between runs.
    """
    best = max(errors, key=_rank)
    while best.validator in _WEAK and best.context:
        best = max(best.context, key=_rank)
    return best


def format_path(parts: Sequence[object]) -> str:
    """`["linux", "namespaces", 2, "type"]` -> `linux.namespaces[2].type`.

    Keys that are not identifiers (sysctl names, annotation keys) are quoted: `linux.sysctl["net.x"]`.
    """
    import json
    import re

    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(_IDENTIFIER, str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _missing_property(error: ValidationError) -> str | None:
    import re

    match = re.match(_REQUIRED_MESSAGE, error.message)
    if match is None:
        return None
    required: Any = error.validator_value
    for name in required:
        if repr(name) == match.group("name"):
            return str(name)
    return None


def describe(error: ValidationError) -> tuple[str, str]:
    """(path, reason) for the chosen error."""
    parent = error.parent
    if (
        error.validator == "required"
        and parent is not None
        and parent.validator == "anyOf"
        and all(branch.validator == "required" for branch in parent.context)
    ):
        # "at least one of these fields" rules (blockIO weightDevice, rdma) read better whole.
        schema: Any = parent.schema
        names = ", ".join(repr(n) for branch in schema["anyOf"] for n in branch["required"])
        return format_path(list(parent.absolute_path)), f"at least one of {names} is required"
    reason = error_reason(error)
    if "propertyNames" in error.absolute_schema_path:
        reason = f"key {reason}"  # the instance is a key of the object at `path`, not a value
    return error_path(error), reason


def error_path(error: ValidationError) -> str:
    parts: list[object] = list(error.absolute_path)
    if error.validator == "required":
        missing = _missing_property(error)
        if missing is not None:
            parts.append(missing)
    return format_path(parts)


def short_repr(value: object, limit: int = MAX_INSTANCE_REPR_CHARS) -> str:
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + " ..." + text[-1]


def error_reason(error: ValidationError) -> str:
    """jsonschema's message on one line, with a long instance repr (a whole object) shortened."""
    message = error.message
    if error.validator == "required":
        message = "required property is missing"
    else:
        full = repr(error.instance)
        if message.startswith(full):
            message = short_repr(error.instance) + message[len(full) :]
    message = " ".join(message.split())
    if len(message) > MAX_REASON_CHARS:
        message = message[: MAX_REASON_CHARS - 3] + "..."
    return message
