"""Walking parsed JSON documents (the schemas in specs/) in tests."""

from __future__ import annotations

from collections.abc import Iterator


def strings_under(node: object, key: str) -> Iterator[str]:
    """Every string value of `key`, at any depth. A `key` holding an object (a property that happens to
    be named like the keyword) is walked into, not yielded."""
    if isinstance(node, dict):
        for name, child in node.items():
            if name == key and isinstance(child, str):
                yield child
            else:
                yield from strings_under(child, key)
    elif isinstance(node, list):
        for child in node:
            yield from strings_under(child, key)
