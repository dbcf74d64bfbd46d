"""quickcheck's hand-written pattern predicates answer exactly as jsonschema's `re.search(pattern, value)`.

They exist so that `create` need not import `re` (~4 ms of every call, issue #10). Any disagreement
would let a bad value through or refuse a good one, so each predicate is compared with `re` on
matching strings, near misses, arbitrary text and every short string over an awkward alphabet.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ociruntime.spec import quickcheck
from tests.unit.jsonwalk import strings_under

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "specs"
CONFIGS = REPO / "tests" / "fixtures" / "configs"
PATTERNS = sorted(quickcheck._KNOWN_PATTERNS)
SEMVER = next(p for p in PATTERNS if p.startswith("^(0|"))

# Characters the patterns are about, plus the ones a careless predicate gets wrong: "\n" (`$` allows
# one at the end), other line breaks (`$` does not), and non-ASCII digits and capitals, which
# str.isdigit() and str.isupper() accept but `[0-9]` and `[A-Z]` do not.
AWKWARD = "\n\r\u2028\x00 \u0661\u00b2\u00c9\u01c5\u212a"  # ١ ² É ǅ K(elvin)
NEAR = "0123456789ABCEGIKLMPRTZabmrwxz_-.,+:" + AWKWARD
PREFIXES = ["", "CAP_", "RLIMIT_", "MB:", "1.0.0", "1.0.0-", "0-3", "2M"]


def regex_verdict(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


@st.composite
def mutated(draw: st.DrawFn, pattern: str) -> str:
    """A matching string with a few characters inserted, replaced or deleted."""
    value = draw(st.from_regex(pattern))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        char = draw(st.sampled_from(NEAR) | st.sampled_from(AWKWARD))  # awkward ones half the time
        op = draw(st.sampled_from(["insert", "replace", "delete"]))
        keep_from = at if op == "insert" else at + 1
        value = value[:at] + ("" if op == "delete" else char) + value[keep_from:]
    return value


def candidates(pattern: str) -> st.SearchStrategy[str]:
    near = st.text(NEAR, max_size=12)
    matching = st.from_regex(pattern)
    return st.one_of(
        matching,
        mutated(pattern),
        st.builds(str.__add__, matching, st.sampled_from(["\n", "\n\n", "\r\n", "\u2028", " ", "\u00c9"])),
        near,
        st.builds(str.__add__, st.sampled_from(PREFIXES), near),
        st.text(),
    )


CANDIDATES = {pattern: candidates(pattern) for pattern in PATTERNS}


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_predicate_agrees_with_re(pattern: str, data: st.DataObject) -> None:
    value = data.draw(CANDIDATES[pattern], label="value")
    assert quickcheck._KNOWN_PATTERNS[pattern](value) == regex_verdict(pattern, value)


def short_strings() -> Iterator[str]:
    alphabet = "019AZ_-.,+\n\rrmBK\u0661\u00c9"
    for prefix in PREFIXES:
        for length in range(4):
            for chars in itertools.product(alphabet, repeat=length):
                yield prefix + "".join(chars)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_predicate_agrees_with_re_on_every_short_string(pattern: str) -> None:
    predicate = quickcheck._KNOWN_PATTERNS[pattern]
    wrong = [value for value in short_strings() if predicate(value) != regex_verdict(pattern, value)]
    assert wrong == []


EDGE_CASES: list[tuple[str, str, bool]] = [
    ("^CAP_[A-Z_]+$", "CAP_SYS_ADMIN", True),
    ("^CAP_[A-Z_]+$", "CAP_X\n", True),  # `$` matches before one final newline...
    ("^CAP_[A-Z_]+$", "CAP_X\n\n", False),  # ...but only one
    ("^CAP_[A-Z_]+$", "CAP_X\r", False),
    ("^CAP_[A-Z_]+$", "CAP_X\u2028", False),
    ("^CAP_[A-Z_]+$", "\nCAP_X", False),
    ("^CAP_[A-Z_]+$", "CAP_", False),
    ("^CAP_[A-Z_]+$", "CAP__", True),
    ("^CAP_[A-Z_]+$", "CAP_\u00c9", False),  # "É".isupper()
    ("^CAP_[A-Z_]+$", "CAP_\u212a", False),  # Kelvin sign: [A-Z] would take it only with IGNORECASE
    ("^CAP_[A-Z_]+$", "cap_chown", False),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_NOFILE", True),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_NOFILE\n", True),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_", False),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_NO_FILE", False),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_nofile", False),
    ("^RLIMIT_[A-Z]+$", "RLIMIT_\u00c9", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "0-3,7", True),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "0-3,7\n", True),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "3-1,007", True),  # no order or range check
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "\n", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "1-2-3", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "1--2", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "1,,2", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "1,", False),
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "\u0661", False),  # "١".isdigit()
    ("^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$", "\u00b2", False),  # "²".isdigit()
    ("^[rwm]*$", "", True),
    ("^[rwm]*$", "\n", True),  # empty, then the final newline
    ("^[rwm]*$", "\n\n", False),
    ("^[rwm]*$", "rwm\n", True),
    ("^[rwm]*$", "mrwmr", True),
    ("^[rwm]*$", "RWM", False),
    ("^[1-9][0-9]*[KMGTPE]B$", "2MB", True),
    ("^[1-9][0-9]*[KMGTPE]B$", "100EB\n", True),
    ("^[1-9][0-9]*[KMGTPE]B$", "0MB", False),
    ("^[1-9][0-9]*[KMGTPE]B$", "1B", False),
    ("^[1-9][0-9]*[KMGTPE]B$", "1MiB", False),
    ("^[1-9][0-9]*[KMGTPE]B$", "1\u0661MB", False),
    ("^[1-9][0-9]*[KMGTPE]B$", "2mb", False),
    ("^MB:[^\\n]*$", "MB:", True),
    ("^MB:[^\\n]*$", "MB:0=20;1=70", True),
    ("^MB:[^\\n]*$", "MB:0=20\n", True),
    ("^MB:[^\\n]*$", "MB:a\rb\u2028c", True),  # [^\n] takes every other line break
    ("^MB:[^\\n]*$", "MB:a\nb", False),
    ("^MB:[^\\n]*$", "MB:\n\n", False),
    ("^MB:[^\\n]*$", " MB:", False),
    (SEMVER, "1.0.0", True),
    (SEMVER, "0.0.0", True),
    (SEMVER, "1.0.0-rc.1+build.5", True),
    (SEMVER, "1.2.3\n", True),
    (SEMVER, "1.0.0--", True),  # "-" is an identifier character
    (SEMVER, "1.0.0-x-y+b-1.2-", True),
    (SEMVER, "1.0.0-01", True),  # SemVer forbids this; the pattern does not
    (SEMVER, "1.0.0\n\n", False),
    (SEMVER, "01.0.0", False),
    (SEMVER, "1.00.0", False),
    (SEMVER, "1.0", False),
    (SEMVER, "1.0.0.0", False),
    (SEMVER, "1.0.0-", False),
    (SEMVER, "1.0.0+", False),
    (SEMVER, "1.0.0-a..b", False),
    (SEMVER, "1.0.0+a+b", False),
    (SEMVER, "1.0.0-rc\n.1", False),
    (SEMVER, "\u0661.0.0", False),
    (SEMVER, "1.0.0-\u00c9", False),
    (SEMVER, "v1.0.0", False),
]


@pytest.mark.parametrize(("pattern", "value", "expected"), EDGE_CASES)
def test_edge_case(pattern: str, value: str, expected: bool) -> None:
    assert regex_verdict(pattern, value) is expected  # the case itself is right...
    assert quickcheck._KNOWN_PATTERNS[pattern](value) is expected  # ...and so is the predicate


def test_table_covers_exactly_the_spec_patterns() -> None:
    found = {p for path in SPECS.glob("*.json") for p in strings_under(json.loads(path.read_text()), "pattern")}
    assert found, "no patterns found: has specs/ moved?"
    # A new pattern still validates (through `re`), but costs `create` the import: add a predicate.
    assert sorted(found - set(PATTERNS)) == []
    assert sorted(set(PATTERNS) - found) == []  # stale entries


def test_other_patterns_fall_back_to_re() -> None:
    pattern = "^a+b$"
    assert pattern not in quickcheck._KNOWN_PATTERNS
    check = quickcheck._pattern(pattern)
    assert [check(v) for v in ("aab", "aab\n", "aab\n\n", "b", "xaab")] == [True, True, False, False, False]
    assert check(5) is True  # `pattern` constrains strings only


def test_non_strings_pass_the_table_predicates() -> None:
    for pattern in PATTERNS:
        check = quickcheck._pattern(pattern)
        assert [check(v) for v in (5, None, ["x"], {"a": 1})] == [True] * 4


def block_re(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make `import re` fail from here on (json, already imported, keeps the `re` it holds)."""
    monkeypatch.setitem(sys.modules, "re", None)

    def assert_blocked() -> None:
        with pytest.raises(ImportError):
            quickcheck._pattern("^a+b$")("ab")

    return assert_blocked


def test_spec_schemas_validate_configs_without_importing_re(monkeypatch: pytest.MonkeyPatch) -> None:
    base_uri = json.loads((SPECS / "config-schema.json").read_text())["$id"].rpartition("/")[0] + "/"
    configs = [json.loads(p.read_text()) for p in sorted(CONFIGS.rglob("*.json")) if p.name != "expected.json"]
    assert_blocked = block_re(monkeypatch)
    check = quickcheck.Compiler(SPECS, base_uri).compile_file("config-schema.json")
    verdicts = {check(config) for config in configs}
    assert verdicts == {True, False}  # both kinds of config were checked, and none needed `re`
    assert_blocked()  # the block was real
