"""json.loads without importing `json`, for `create`, `run` and `exec`, which must read JSON.

Importing `json` costs about 6 ms per call on the development machine (its decoder imports `re`, which
imports `enum`, `functools` and `collections`), more than all the work `create` does before it forks.
The parsing itself is done by `_json`'s scanner, the C code `json.loads` runs too: this module only
supplies what `json.JSONDecoder` would (the scanner's settings, skipping whitespace around the value,
decoding bytes), so a document gives exactly the value json.loads gives.

Anything the fast path does not take as it is (a byte-order mark or UTF-16/32 input, a syntax error,
trailing data, nesting too deep) goes to json.loads itself, which then either gives the same value or
raises its own exception with its own message: error text stays json's. tests/unit/test_jsonreader.py
compares the two over the engines' configs and generated documents, valid and broken.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

# What JSON allows between tokens (json.decoder's WHITESPACE: [ \t\n\r]*).
_WHITESPACE = " \t\n\r"


class _Settings:
    """The attributes the C scanner reads from a json.JSONDecoder, with json.loads's defaults."""

    strict = True  # control characters inside strings are errors
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    # json accepts these three non-standard constants by default, and so must we to give its values.
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


# typeshed types the argument as a JSONDecoder; the scanner only reads the attributes above.
_scan = _json.make_scanner(_Settings())  # type: ignore[arg-type]


def loads(data: str | bytes) -> Any:
    """The value of one JSON document, as json.loads(data) gives it (and its exceptions)."""
    try:
        value, complete = _fast(data)
    except Exception:  # noqa: BLE001 - any failure means "ask json": it words the error
        complete = False
    if complete:
        return value
    import json  # the document is broken or unusual: the rare path pays for json's messages

    return json.loads(data)


def _fast(data: str | bytes) -> tuple[Any, bool]:
    if isinstance(data, str):
        text = data
    elif data[:1] == b"\xef" or b"\x00" in data[:4]:
        # A UTF-8 byte-order mark or UTF-16/32: json.loads detects the encoding.
        return None, False
    else:
        # json.loads decodes bytes it took for UTF-8 the same way (surrogates pass through).
        text = data.decode("utf-8", "surrogatepass")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    value, end = _scan(text, start)
    return value, not text[end:].lstrip(_WHITESPACE)
