"""`Value`: the base of the small record classes (parsed config parts, plans), instead of dataclasses.

Every `create`, `run` and `exec` is a new interpreter: importing `dataclasses` costs it ~5 ms (inspect,
ast, dis, tokenize) and each decorated class another ~0.2 ms of generated code, paid on every call.
A record here is a plain class with `__slots__` and an explicit `__init__`; deriving from `Value` adds
what tests and plan comparisons need: equality, hashing and a readable repr, all by the fields in
`__slots__` (except those a class lists in `_not_compared`, such as the raw JSON it was parsed from).
Records are immutable by convention only.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import ClassVar


class Value:
    __slots__: tuple[str, ...] = ()
    _not_compared: ClassVar[tuple[str, ...]] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__ if name not in self._not_compared)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Value)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._not_compared
        )
        return f"{type(self).__name__}({shown})"
