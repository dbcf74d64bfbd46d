"""JSON text without the `json` module, for the commands engines call most (`state`, `kill`, `delete`).

Importing `json` costs about 5.6 ms per call: its decoder imports `re`, which imports `enum`. Writing
JSON needs none of that. `dumps(value)` and `dumps(value, indent=N)` give exactly the text of
`json.dumps(value)` and `json.dumps(value, indent=N)` with json's other defaults: non-ASCII characters
escaped (ensure_ascii), ", " and ": " between items (only ": " once indented, with "," at line ends),
keys in their given order. tests/unit/test_jsonwriter.py compares the two over many values.

Values are what JSON has: dict (with str keys), list or tuple, str, int, float, bool and None; anything
else raises TypeError, as json.dumps does.
"""

from __future__ import annotations

# The characters JSON writes with a short escape; every other one below U+0020 (and U+007F and
# everything beyond ASCII) becomes \\uXXXX.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def dumps(value: object, indent: int | None = None) -> str:
    return _encode(value, indent, 0)


def _encode(value: object, indent: int | None, depth: int) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an int subclass (IntEnum) is written as its number, as json does
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        members = [f"{_key(k)}: {_encode(v, indent, depth + 1)}" for k, v in value.items()]
        return _join("{", members, "}", indent, depth)
    if isinstance(value, (list, tuple)):
        return _join("[", [_encode(v, indent, depth + 1) for v in value], "]", indent, depth)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str, not {type(key).__name__}")
    return _string(key)


def _join(opening: str, members: list[str], closing: str, indent: int | None, depth: int) -> str:
    if not members:
        return opening + closing
    if indent is None:
        return opening + ", ".join(members) + closing
    inner = "\n" + " " * (indent * (depth + 1))
    return opening + inner + ("," + inner).join(members) + "\n" + " " * (indent * depth) + closing


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'  # the usual case: nothing to escape
    return '"' + "".join(_escape(char) for char in text) + '"'


def _escape(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code < 0x10000:
        return f"\\u{code:04x}"
    # Beyond the Basic Multilingual Plane: a UTF-16 surrogate pair, as JSON spells such a character.
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
