"""ociruntime.jsonreader.loads gives what json.loads gives: the same value, or the same exception and message."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ociruntime import jsonreader
from ociruntime.jsonreader import loads

REPO = Path(__file__).resolve().parents[2]
ENGINE_CONFIGS = REPO.parent / "shared" / "fixtures" / "engine-configs"
CORPUS = sorted(
    [*ENGINE_CONFIGS.glob("*.json"), *(REPO / "bundles").rglob("config.json"), *(REPO / "specs").glob("*.json")]
)

BROKEN = [
    "",
    " ",
    "{",
    '{"a": }',
    '{"a"',
    "[1,]",
    '{"a": 1,}',
    '"unterminated',
    '"tab\tinside"',
    '"bad \\x escape"',
    "[1] [2]",
    "{} x",
    "nul",
    "tru",
    "01",
    "1.",
    "-",
    "\ufeff{}",
    "[" * 100_000,
    '{"a": 1} \n garbage',
]

AWKWARD = [
    "{}",
    "  \t\n\r{} \n",
    "[]",
    "0",
    "-0.0",
    "1e400",
    "NaN",
    "[Infinity, -Infinity]",
    '"\\ud800"',
    '"\\u00e9 \\u20ac é €"',
    '{"a": 1, "a": 2}',
    '{"deep": ' * 50 + "1" + "}" * 50,
    "12345678901234567890123456789",
]

BYTES = [
    b"{}",
    b'{"a": "\xc3\xa9"}',
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": 1}'.encode("utf-16"),
    '{"utf16le": 1}'.encode("utf-16-le"),
    '{"utf32": 1}'.encode("utf-32"),
    b'{"bad utf8": "\xff"}',
    b"\xff\xfe",
    b'"\xed\xa0\x80"',  # an encoded lone surrogate: json lets it through
    b"",
]


def outcome(function: object, document: str | bytes) -> tuple[str, object]:
    try:
        value = function(document)  # type: ignore[operator]
    except BaseException as e:  # noqa: BLE001 - comparing what each raises
        return "raised", (type(e), str(e))
    return "value", _comparable(value)


def _comparable(value: object) -> object:
    """NaN is not equal to itself; say so in a way == can compare, keeping types apart (1 vs 1.0 vs True)."""
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if isinstance(value, dict):
        return ("dict", [(k, _comparable(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_comparable(v) for v in value])
    return (type(value).__name__, value)


def assert_same(document: str | bytes) -> None:
    assert outcome(loads, document) == outcome(json.loads, document)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_real_configs_read_as_json_reads_them(path: Path) -> None:
    raw = path.read_bytes()
    assert_same(raw)
    assert_same(raw.decode())


def test_the_corpus_is_there() -> None:
    assert len([p for p in CORPUS if p.parent == ENGINE_CONFIGS]) >= 10


@pytest.mark.parametrize("document", BROKEN + AWKWARD)
def test_broken_and_awkward_text(document: str) -> None:
    assert_same(document)


@pytest.mark.parametrize("document", BYTES)
def test_bytes_in_every_encoding_json_detects(document: bytes) -> None:
    assert_same(document)


def test_a_syntax_error_is_jsons_own() -> None:
    with pytest.raises(json.JSONDecodeError, match=r"Expecting value: line 1 column 7 \(char 6\)"):
        loads('{"a": }')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.sampled_from(["", " ", "\n", "\t\r\n "]), st.sampled_from([None, 1, 2]))
def test_generated_documents(value: object, padding: str, indent: int | None) -> None:
    text = padding + json.dumps(value, indent=indent, ensure_ascii=indent is None) + padding
    assert_same(text)
    assert_same(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=60), st.text(max_size=3))
def test_generated_documents_cut_or_spliced(value: object, cut: int, splice: str) -> None:
    text = json.dumps(value)
    assert_same(text[:cut])
    assert_same(text[:cut] + splice + text[cut:])


def test_reading_imports_no_json() -> None:
    """The point of the module: a valid document is read with json (and re, enum) never imported."""
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from ociruntime.jsonreader import loads\n"
        "assert loads(b'{\"a\": [1, 2.5, null]}') == {'a': [1, 2.5, None]}\n"
        "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_check_can_fail() -> None:
    """The comparison sees a difference when there is one (a reader that drops trailing data)."""
    assert outcome(lambda d: jsonreader._scan(d, 0)[0], "[1] [2]") != outcome(json.loads, "[1] [2]")
