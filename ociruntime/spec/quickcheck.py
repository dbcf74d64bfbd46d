"""A fast yes/no JSON Schema check for our own schemas, so `create` need not import jsonschema.

jsonschema stays the reference validator: importing it costs ~40 ms on every `create`, about as much
as everything else the command does. Almost every config is valid, so the hot path only needs the
verdict. This module compiles the handful of keywords our schemas in specs/ use into nested closures
and answers valid/invalid; when it says invalid, `schema.py` runs jsonschema to find and word the
error, so messages are jsonschema's by construction. tests/unit/test_quickcheck.py proves the verdicts
agree with jsonschema on the whole schema corpus and on generated mutations of it.

A schema keyword this compiler does not know raises `Unsupported` at compile time: the caller then
always uses jsonschema, so a new keyword can make validation slower but never wrong. PURE.
"""

from __future__ import annotations

import os

from ociruntime import jsonreader

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    import re
    from collections.abc import Callable
    from typing import Any

    Check = Callable[[Any], bool]

# Keywords that only annotate; they never change a verdict.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default", "$defs"})
_SUPPORTED = frozenset(
    {
        "type", "$ref", "properties", "additionalProperties", "required", "items", "enum", "const",
        "minimum", "maximum", "pattern", "minLength", "minItems", "if", "then", "else", "anyOf",
        "propertyNames",
    }
) | _ANNOTATIONS  # fmt: skip


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    # JSON Schema counts 1.0 as an integer; Python's bool is an int but not a JSON number.
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON means it: true is not 1, but 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(type(a) is type(b) or (_is_number(a) and _is_number(b))) and a == b


# --- the patterns in specs/, without `re` ---------------------------------------------------------
# Importing `re` costs ~4 ms of every `create` (~45 ms in all), and ordinary configs reach several of
# these patterns (capabilities, rlimits, device access, ociVersion). Each predicate answers exactly as
# jsonschema's `re.search(pattern, value)` does; tests/unit/test_quickcheck_patterns.py proves it.
# A pattern missing here still works, through `re`. Character sets are spelled out because `[0-9]` and
# `[A-Z]` are ASCII only, while str.isdigit() and str.isupper() accept "١" and "É".

_DIGITS = frozenset("0123456789")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SEMVER_ID = _DIGITS | _UPPER | frozenset("abcdefghijklmnopqrstuvwxyz-")


def _anchored(value: str) -> str:
    """The text `^...$` must match: `$` also matches just before one final newline."""
    return value[:-1] if value.endswith("\n") else value


def _prefixed(prefix: str, charset: frozenset[str]) -> Callable[[str], bool]:
    """`^PREFIX[charset]+$`."""

    def match(value: str) -> bool:
        body = _anchored(value)
        return body.startswith(prefix) and len(body) > len(prefix) and set(body[len(prefix) :]) <= charset

    return match


def _is_digits(text: str) -> bool:
    return text != "" and set(text) <= _DIGITS


def _cpu_list(value: str) -> bool:
    """`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`: "0-3,7"."""
    for item in _anchored(value).split(","):
        low, dash, high = item.partition("-")
        if not _is_digits(low) or (dash and not _is_digits(high)):
            return False
    return True


def _page_size(value: str) -> bool:
    """`^[1-9][0-9]*[KMGTPE]B$`: "2MB"."""
    body = _anchored(value)
    return (
        len(body) >= 3
        and body[0] in "123456789"
        and set(body[1:-2]) <= _DIGITS
        and body[-2] in "KMGTPE"
        and body[-1] == "B"
    )


def _mem_bw_schema(value: str) -> bool:
    """`^MB:[^\\n]*$`: `[^\\n]` takes any other character, "\\r" and "\\u2028" too."""
    body = _anchored(value)
    return body.startswith("MB:") and "\n" not in body


def _semver_number(text: str) -> bool:
    """`(0|[1-9][0-9]*)`."""
    return _is_digits(text) and (text == "0" or text[0] != "0")


def _semver_ids(text: str) -> bool:
    """`[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*`."""
    return all(part != "" and set(part) <= _SEMVER_ID for part in text.split("."))


def _semver(value: str) -> bool:
    """The ociVersion pattern in specs/defs.json: MAJOR.MINOR.PATCH[-pre.release][+build.meta]."""
    # The first "+" starts the build (no identifier holds one); the first "-" after the numbers starts
    # the pre-release (the numbers hold none, while pre-release identifiers may).
    head, plus, build = _anchored(value).partition("+")
    core, dash, prerelease = head.partition("-")
    numbers = core.split(".")
    return (
        len(numbers) == 3
        and all(_semver_number(n) for n in numbers)
        and (not dash or _semver_ids(prerelease))
        and (not plus or _semver_ids(build))
    )


_KNOWN_PATTERNS: dict[str, Callable[[str], bool]] = {
    "^RLIMIT_[A-Z]+$": _prefixed("RLIMIT_", _UPPER),
    "^CAP_[A-Z_]+$": _prefixed("CAP_", _UPPER | {"_"}),
    "^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$": _cpu_list,
    "^[rwm]*$": lambda value: set(_anchored(value)) <= {"r", "w", "m"},
    "^[1-9][0-9]*[KMGTPE]B$": _page_size,
    "^MB:[^\\n]*$": _mem_bw_schema,
    (
        "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?"
        "(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$"
    ): _semver,
}


# --- check factories: each returns a closure over its own arguments ------------------------------


def _always(result: bool) -> Check:
    def check(value: Any) -> bool:
        return result

    return check


def _all_of(checks: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        return all(c(value) for c in checks)

    return check


def _any_of(checks: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        return any(c(value) for c in checks)

    return check


def _one_of_values(options: list[Any]) -> Check:
    def check(value: Any) -> bool:
        return any(_json_equal(value, option) for option in options)

    return check


def _bound(limit: float, *, low: bool) -> Check:
    def check(value: Any) -> bool:
        return not _is_number(value) or (value >= limit if low else value <= limit)

    return check


def _pattern(pattern: str) -> Check:
    known = _KNOWN_PATTERNS.get(pattern)
    if known is not None:
        return lambda value: not isinstance(value, str) or known(value)
    compiled: list[re.Pattern[str]] = []  # compiled on first use: most patterns are never reached

    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        if not compiled:
            import re  # here, not at the top: see _KNOWN_PATTERNS

            compiled.append(re.compile(pattern))
        return compiled[0].search(value) is not None

    return check


def _min_length(length: int) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, str) or len(value) >= length

    return check


def _required(names: tuple[str, ...]) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or all(name in value for name in names)

    return check


def _properties(properties: dict[str, Check], extra: Check | None) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        if extra is None:
            return all(properties[k](value[k]) for k in properties.keys() & value.keys())
        return all((properties[k] if k in properties else extra)(item) for k, item in value.items())

    return check


def _property_names(names: Check) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, dict) or all(names(k) for k in value)

    return check


def _items(item: Check) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, list) or all(item(x) for x in value)

    return check


def _min_items(count: int) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, list) or len(value) >= count

    return check


def _conditional(condition: Check, then: Check, otherwise: Check) -> Check:
    def check(value: Any) -> bool:
        return then(value) if condition(value) else otherwise(value)

    return check


def _deferred(compiled: dict[tuple[str, str], Check], key: tuple[str, str]) -> Check:
    """Looks the check up at call time, so that a schema may refer to itself."""

    def check(value: Any) -> bool:
        return compiled[key](value)

    return check


class Compiler:
    """Compiles schemas from one directory; `$ref`s are resolved by file name and JSON pointer."""

    def __init__(self, directory: str | os.PathLike[str], base_uri: str) -> None:
        self.directory = directory
        self.base_uri = base_uri
        self.documents: dict[str, Any] = {}
        self.compiled: dict[tuple[str, str], Check] = {}

    def compile_file(self, name: str, pointer: str = "") -> Check:
        key = (name, pointer)
        if key not in self.compiled:
            self.compiled[key] = _deferred(self.compiled, key)
            self.compiled[key] = self._compile(self._resolve(name, pointer), name)
        return self.compiled[key]

    def _document(self, name: str) -> Any:
        if name not in self.documents:
            with open(os.path.join(self.directory, name), "rb") as f:
                self.documents[name] = jsonreader.loads(f.read())
        return self.documents[name]

    def _resolve(self, name: str, pointer: str) -> Any:
        node = self._document(name)
        for part in [p for p in pointer.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _ref(self, ref: str, current: str) -> Check:
        target, _, pointer = ref.partition("#")
        if target.startswith(self.base_uri):
            target = target[len(self.base_uri) :]
        if "://" in target:
            raise Unsupported(f"remote $ref {ref}")
        return self.compile_file(target or current, pointer)

    def _compile(self, schema: Any, current: str) -> Check:
        if isinstance(schema, bool):
            return _always(schema)
        unknown = set(schema) - _SUPPORTED
        if unknown:
            raise Unsupported(", ".join(sorted(unknown)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"], current))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            checks.append(_any_of(tuple(_TYPES[n] for n in names)))
        if "enum" in schema:
            checks.append(_one_of_values(schema["enum"]))
        if "const" in schema:
            checks.append(_one_of_values([schema["const"]]))
        if "minimum" in schema:
            checks.append(_bound(schema["minimum"], low=True))
        if "maximum" in schema:
            checks.append(_bound(schema["maximum"], low=False))
        if "pattern" in schema:
            checks.append(_pattern(schema["pattern"]))
        if "minLength" in schema:
            checks.append(_min_length(schema["minLength"]))
        checks.extend(self._container_checks(schema, current))
        if len(checks) == 1:
            return checks[0]
        return _all_of(tuple(checks)) if checks else _always(True)

    def _container_checks(self, schema: dict[str, Any], current: str) -> list[Check]:
        checks: list[Check] = []
        if "required" in schema:
            checks.append(_required(tuple(schema["required"])))
        properties = {k: self._compile(s, current) for k, s in (schema.get("properties") or {}).items()}
        extra = self._compile(schema["additionalProperties"], current) if "additionalProperties" in schema else None
        if properties or extra is not None:
            checks.append(_properties(properties, extra))
        if "propertyNames" in schema:
            checks.append(_property_names(self._compile(schema["propertyNames"], current)))
        if "items" in schema:
            checks.append(_items(self._compile(schema["items"], current)))
        if "minItems" in schema:
            checks.append(_min_items(schema["minItems"]))
        if "anyOf" in schema:
            checks.append(_any_of(tuple(self._compile(s, current) for s in schema["anyOf"])))
        if "if" in schema:
            condition = self._compile(schema["if"], current)
            then = self._compile(schema.get("then", True), current)
            otherwise = self._compile(schema.get("else", True), current)
            checks.append(_conditional(condition, then, otherwise))
        return checks
