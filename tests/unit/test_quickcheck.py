"""The fast verdict (spec/quickcheck.py) must equal jsonschema's on every document we can find or make.

jsonschema remains the reference: `schema.py` only skips it when quickcheck says "valid", so any
disagreement here would let an invalid config through (or cost a needless slow path).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ociruntime.spec import quickcheck, schema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMAS = ("config-schema.json", schema.PROCESS_POINTER, "state-schema.json", "features-schema.json")


def corpus() -> list[tuple[str, Any]]:
    docs: list[tuple[str, Any]] = []
    for path in sorted(FIXTURES.rglob("*.json")):
        if path.name in ("expected.json", "index.json"):
            continue
        docs.append((str(path.relative_to(FIXTURES)), json.loads(path.read_text())))
    return docs


def reference(schema_ref: str) -> Any:
    return schema._validator(schema_ref)


def quick(schema_ref: str) -> quickcheck.Check:
    check = schema._quick_check(schema_ref)
    assert check is not None, f"{schema_ref} uses a keyword quickcheck does not compile"
    return check


@pytest.mark.parametrize("schema_ref", SCHEMAS)
def test_every_schema_compiles(schema_ref: str) -> None:
    quick(schema_ref)


@pytest.mark.parametrize("schema_ref", SCHEMAS)
def test_verdicts_agree_on_the_corpus(schema_ref: str) -> None:
    fast, slow = quick(schema_ref), reference(schema_ref)
    disagreements = [name for name, doc in corpus() if fast(doc) != slow.is_valid(doc)]
    assert disagreements == []


def test_corpus_has_both_verdicts() -> None:
    # Otherwise the agreement above would prove little.
    fast = quick("config-schema.json")
    verdicts = {fast(doc) for _, doc in corpus()}
    assert verdicts == {True, False}


REPLACEMENTS: tuple[Any, ...] = (None, True, False, 0, -1, 1.5, 2**64, "", "x", "pidd", [], [1], {}, {"a": 1})


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from paths(value, (*prefix, index))


def mutate(doc: Any, rng: random.Random) -> Any:
    """Replace, delete or add one node somewhere in a copy of `doc`."""
    result = copy.deepcopy(doc)
    target = rng.choice([p for p in paths(result) if p])
    parent = result
    for part in target[:-1]:
        parent = parent[part]
    last = target[-1]
    action = rng.random()
    if action < 0.6:
        parent[last] = rng.choice(REPLACEMENTS)
    elif action < 0.8:
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["unknownField"] = rng.choice(REPLACEMENTS)
    elif isinstance(parent[last], list):
        parent[last].append(rng.choice(REPLACEMENTS))
    else:
        parent[last] = rng.choice(REPLACEMENTS)
    return result


@pytest.mark.parametrize("seed", range(8))
def test_verdicts_agree_on_mutations(seed: int) -> None:
    rng = random.Random(seed)
    fast, slow = quick("config-schema.json"), reference("config-schema.json")
    valid = [doc for _, doc in corpus() if isinstance(doc, dict) and slow.is_valid(doc)]
    checked = 0
    for _ in range(400):
        doc = mutate(rng.choice(valid), rng)
        assert fast(doc) == slow.is_valid(doc), json.dumps(doc)[:2000]
        checked += 1
    assert checked == 400


def test_valid_config_never_imports_jsonschema(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from ociruntime.spec import schema\n"
        f"schema.validate_config(json.load(open({str(FIXTURES / 'engine-configs' / 'podman-create-1.json')!r})))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_unknown_keyword_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"type": "object", "dependentRequired": {"a": ["b"]}}))
    with pytest.raises(quickcheck.Unsupported):
        quickcheck.Compiler(tmp_path, "https://example.invalid/").compile_file("s.json")
