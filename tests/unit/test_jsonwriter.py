"""ociruntime.jsonwriter gives exactly json.dumps's text (same options), which it stands in for."""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ociruntime.jsonwriter import dumps

AWKWARD_STRINGS = [
    "",
    "plain",
    'quote " inside',
    "back\\slash",
    "\\u0041 not an escape",
    "/ slash",
    "new\nline",
    "tab\tcr\rff\fbs\b",
    "".join(chr(c) for c in range(0x20)),
    "del\x7f",
    "\x80\x9f latin-1 controls",
    "é ü ß",
    "€ ☃ 中文",
    "\u2028\u2029 line separators",
    "\ufeff bom",
    "\U0001f600 emoji",
    "\U0010ffff last",
    "\ud800 lone surrogate",
    "\udfff",
    "</script>",
    "nul\x00byte",
    " leading and trailing ",
]

VALUES: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    42,
    2**63,
    -(2**70),
    0.0,
    -0.0,
    1.5,
    1e100,
    1e-7,
    float("nan"),
    float("inf"),
    float("-inf"),
    [],
    {},
    [[]],
    {"a": {}},
    [1, "two", None, True, [3.0, {"x": []}]],
    (1, 2),
    {"k": (None, False)},
    *AWKWARD_STRINGS,
    {s: s for s in AWKWARD_STRINGS},
    # The shape `state` prints.
    {
        "ociVersion": "1.3.0",
        "id": "c1",
        "pid": 1234,
        "status": "running",
        "bundle": "/b",
        "rootfs": "/b/rootfs",
        "created": "2024-01-02T03:04:05.000000006Z",
        "owner": "",
        "annotations": {"org.example/key": 'välue "quoted"', "empty": ""},
    },
]


@pytest.mark.parametrize("indent", [None, 0, 1, 2, 4])
@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_same_text_as_json(value: object, indent: int | None) -> None:
    assert dumps(value, indent=indent) == json.dumps(value, indent=indent)


def test_default_is_json_dumps_default() -> None:
    value = {"a": [1, {"b": None}], "c": "d"}
    assert dumps(value) == json.dumps(value) == '{"a": [1, {"b": null}], "c": "d"}'


@pytest.mark.parametrize("code", [*range(0x300), *range(0xD7F0, 0xE010), 0xFFFE, 0xFFFF, 0x10000, 0x10FFFF])
def test_every_character_escapes_as_json(code: int) -> None:
    assert dumps(chr(code)) == json.dumps(chr(code))


def test_int_and_str_subclasses() -> None:
    class Number(enum.IntEnum):
        NINE = 9

    class Name(enum.StrEnum):
        RUNNING = "running"

    assert dumps([Number.NINE, Name.RUNNING]) == json.dumps([Number.NINE, Name.RUNNING]) == '[9, "running"]'


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), {"a": object()}, [complex(1, 2)]])
def test_unsupported_values_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="is not JSON serializable"):
        dumps(value)
    with pytest.raises(TypeError):
        json.dumps(value)


@pytest.mark.parametrize("key", [1, None, (1, 2)])
def test_only_str_keys(key: object) -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        dumps({key: 1})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 2]))
def test_same_text_as_json_for_random_values(value: object, indent: int | None) -> None:
    assert dumps(value, indent=indent) == json.dumps(value, indent=indent)
