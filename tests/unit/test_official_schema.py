"""Our v1.3.0 schemas against the runtime-spec project's own (older) schemas.

Debian's golang-github-opencontainers-specs-dev ships the project's draft-04 schemas for an older
spec (specs-go says 1.0.2-dev, the content is around v1.1). CI installs it; elsewhere these tests
skip. Both schemas judge one shared corpus — our fixtures, the spec examples and the engine configs,
minus documents that use fields the old schema has never heard of — and must agree, except where
listed below with the reason. The lists are exact: a new disagreement fails, and so does a
documented one that went away.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec.schema import validate_config, validate_state

OFFICIAL = Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIGS = FIXTURES / "configs"

pytestmark = pytest.mark.skipif(
    not (OFFICIAL / "config-schema.json").is_file(),
    reason="golang-github-opencontainers-specs-dev is not installed (CI installs it)",
)

# The old schema accepts these; we reject them because the spec prose says so. (Unknown fields are
# accepted by both, so these are all value rules the old schema leaves out.)
OLD_SCHEMA_LOOSER = {
    "invalid/annotation-empty-key.json": "config.md: annotation keys MUST NOT be empty",
    "invalid/blkio-throttle-without-rate.json": "config-linux.md: throttle `rate` is REQUIRED",
    "invalid/blkio-weight-device-without-weight.json": "config-linux.md: weight or leafWeight MUST be given",
    "invalid/capability-lowercase.json": "capability names are CAP_*; old schema takes any string",
    "invalid/cgroup-device-bad-access.json": "access is a composition of r, w, m",
    "invalid/cgroup-device-bad-type.json": "device rule type is a, c or b",
    "invalid/device-without-major.json": "config-linux.md: major/minor REQUIRED unless type is p",
    "invalid/memory-swappiness-over-100.json": "config-linux.md: swappiness values are 0 to 100",
    "invalid/oci-version-not-semver.json": "config.md: ociVersion MUST be SemVer 2.0.0",
    "invalid/oom-score-adj-out-of-range.json": "oom_score_adj range is -1000..1000 (proc(5))",
    "invalid/rdma-empty-entry.json": "config-linux.md: hcaHandles or hcaObjects MUST be given",
}

# The old schema rejects these; we accept them.
OLD_SCHEMA_STRICTER: dict[str, str] = {}


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def new_fields(doc: Any) -> list[str]:
    """Fields of `doc` that the old schema does not know (added to the spec after it)."""
    if not isinstance(doc, dict):
        return []
    found = []
    process: dict[str, Any] = doc["process"] if isinstance(doc.get("process"), dict) else {}
    found += [f"process.{k}" for k in ("ioPriority", "scheduler", "execCPUAffinity") if k in process]
    linux: dict[str, Any] = doc["linux"] if isinstance(doc.get("linux"), dict) else {}
    found += [f"linux.{k}" for k in ("timeOffsets", "netDevices", "memoryPolicy") if k in linux]
    rdt: dict[str, Any] = linux["intelRdt"] if isinstance(linux.get("intelRdt"), dict) else {}
    found += [f"linux.intelRdt.{k}" for k in ("schemata", "enableMonitoring") if k in rdt]
    if any(isinstance(ns, dict) and ns.get("type") == "time" for ns in linux.get("namespaces") or []):
        found.append("linux.namespaces time")  # the time namespace came in v1.1.0
    if "freebsd" in doc:
        found.append("freebsd")
    return found


def corpus() -> list[Path]:
    files = []
    for directory in ("valid", "invalid", "spec-examples"):
        files += [
            p for p in sorted((CONFIGS / directory).glob("*.json")) if p.name not in ("expected.json", "index.json")
        ]
    files += sorted((FIXTURES / "engine-configs").glob("*-create-*.json"))
    return files


def label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def shared_corpus() -> list[Path]:
    return [p for p in corpus() if not new_fields(load(p))]


def official_validator(name: str) -> Any:
    import jsonschema

    store = {(OFFICIAL / p.name).as_uri(): load(p) for p in OFFICIAL.glob("*.json")}
    main = store[(OFFICIAL / name).as_uri()]
    resolver = jsonschema.RefResolver(base_uri=(OFFICIAL / name).as_uri(), referrer=main, store=store)
    return jsonschema.Draft4Validator(main, resolver=resolver)


def ours_accepts(validate: Any, doc: Any) -> bool:
    try:
        validate(doc)
    except ConfigInvalid:
        return False
    return True


def test_shared_corpus_is_large_and_excludes_only_new_fields() -> None:
    shared = shared_corpus()
    assert len(shared) >= 100
    excluded = {label(p): new_fields(load(p)) for p in corpus() if p not in shared}
    # Spot checks that the filter is doing its job, not hiding whole directories.
    assert excluded["valid/full-linux.json"] == [
        "linux.timeOffsets",
        "linux.netDevices",
        "linux.memoryPolicy",
        "linux.intelRdt.schemata",
        "linux.intelRdt.enableMonitoring",
        "linux.namespaces time",
    ]
    assert "valid/minimal.json" not in excluded
    assert all("engine-configs/" not in name for name in excluded)


def test_verdicts_agree_on_shared_corpus() -> None:
    official = official_validator("config-schema.json")
    looser, stricter = {}, {}
    for path in shared_corpus():
        doc = load(path)
        ours, theirs = ours_accepts(validate_config, doc), official.is_valid(doc)
        if theirs and not ours:
            looser[label(path)] = path
        elif ours and not theirs:
            stricter[label(path)] = path
    assert sorted(looser) == sorted(OLD_SCHEMA_LOOSER)
    assert sorted(stricter) == sorted(OLD_SCHEMA_STRICTER)


def test_engine_configs_valid_for_both() -> None:
    official = official_validator("config-schema.json")
    for path in sorted((FIXTURES / "engine-configs").glob("*-create-*.json")):
        doc = load(path)
        assert official.is_valid(doc), label(path)
        validate_config(doc)


STATE = {"ociVersion": "1.0.2", "id": "ctr", "status": "running", "pid": 4422, "bundle": "/containers/ctr"}


@pytest.mark.parametrize(
    ("patch", "agree"),
    [
        ({}, True),
        ({"status": "stopped", "pid": None}, True),
        ({"status": "exited"}, True),
        ({"id": None}, True),
        ({"annotations": {"k": "v"}}, True),
        # runc reports "paused"; the old schema's status enum does not have it, ours keeps runc's word.
        ({"status": "paused"}, False),
    ],
)
def test_state_verdicts(patch: dict[str, Any], agree: bool) -> None:
    doc = {k: v for k, v in {**STATE, **patch}.items() if v is not None}
    official = official_validator("state-schema.json")
    assert (ours_accepts(validate_state, doc) == official.is_valid(doc)) is agree
