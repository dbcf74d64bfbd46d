"""The catalogue covers every MUST of the seven runtime-spec v1.3.0 files (counts in docs/conformance.md)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from conformance import checks as _checks  # noqa: F401 - registers the checks
from conformance.harness import CHECKS

HERE = Path(__file__).resolve().parent
CATALOGUE = json.loads((HERE / "requirements.json").read_text())["requirements"]

# Counted by hand from the v1.3.0 text: every MUST / MUST NOT (SHOULD / SHOULD NOT) outside fenced examples.
MUST_COUNTS = {
    "bundle.md": 3,
    "runtime.md": 51,
    "runtime-linux.md": 1,
    "config.md": 126,
    "config-linux.md": 72,
    "features.md": 8,
    "features-linux.md": 10,
}
SHOULD_COUNTS = {"config.md": 45, "config-linux.md": 14, "features.md": 2}


def counts(level: str) -> Counter[str]:
    return Counter(r["file"] for r in CATALOGUE if r["level"] == level)


def test_must_entries_per_file() -> None:
    assert dict(counts("MUST")) == MUST_COUNTS


def test_should_entries_per_file() -> None:
    assert dict(counts("SHOULD")) == SHOULD_COUNTS


def test_docs_state_the_same_counts() -> None:
    docs = (HERE.parent / "docs" / "conformance.md").read_text()
    for name, must in MUST_COUNTS.items():
        should = SHOULD_COUNTS.get(name, 0)
        assert re.search(rf"\| `{re.escape(name)}` \| {must} \| {should} \|", docs), name


@pytest.mark.parametrize("entry", CATALOGUE, ids=[r["id"] for r in CATALOGUE])
def test_entry_is_well_formed(entry: dict[str, object]) -> None:
    assert set(entry) >= {"id", "level", "file", "anchor", "text"}
    assert entry["level"] in ("MUST", "SHOULD")
    assert str(entry["id"]).startswith(str(entry["file"]).removesuffix(".md") + ".")
    assert ("checks" in entry) != ("untestable" in entry), "either checks or an untestable reason"
    for check_id in entry.get("checks", []):  # type: ignore[attr-defined]
        assert check_id in CHECKS, f"unknown check {check_id}"


def test_ids_unique() -> None:
    ids = [r["id"] for r in CATALOGUE]
    assert len(ids) == len(set(ids))


def test_every_check_is_used() -> None:
    used = {c for r in CATALOGUE for c in r.get("checks", [])}
    assert sorted(set(CHECKS) - used) == []
