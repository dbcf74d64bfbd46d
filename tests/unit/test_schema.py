"""Schema validation: fixtures, engine configs, `runc spec`, spec examples, state, features, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec import schema
from ociruntime.spec.schema import validate_config, validate_features, validate_process, validate_state
from tests.unit.jsonwalk import strings_under

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIGS = FIXTURES / "configs"
ENGINE_CONFIGS = FIXTURES / "engine-configs"
REPO = Path(__file__).resolve().parents[2]


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def fixture_files(directory: Path) -> list[Path]:
    """The JSON documents of a fixture directory, without its index/expectation files."""
    return sorted(p for p in directory.glob("*.json") if p.name not in ("expected.json", "index.json"))


def invalid_expectations() -> dict[str, dict[str, str]]:
    expected: dict[str, dict[str, str]] = load(CONFIGS / "invalid" / "expected.json")
    expected.pop("//", None)
    return expected


def raises_invalid(validate: Any, doc: object) -> ConfigInvalid:
    with pytest.raises(ConfigInvalid) as info:
        validate(doc)
    return info.value


def assert_one_line(err: ConfigInvalid) -> None:
    assert "\n" not in str(err)
    assert len(err.reason) <= schema.MAX_REASON_CHARS


# --- our own fixtures ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixture_files(CONFIGS / "valid"), ids=lambda p: p.stem)
def test_valid_fixture_passes(path: Path) -> None:
    validate_config(load(path))


SCHEMA_CASES = sorted((name, exp) for name, exp in invalid_expectations().items() if exp["layer"] == "schema")
SEMANTIC_CASES = sorted(name for name, exp in invalid_expectations().items() if exp["layer"] == "semantic")


@pytest.mark.parametrize(("name", "expected"), SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
def test_invalid_fixture_reports_exact_path(name: str, expected: dict[str, str]) -> None:
    err = raises_invalid(validate_config, load(CONFIGS / "invalid" / name))
    assert err.path == expected["path"]
    assert expected["reason"] in err.reason
    prefix = f"{expected['path']}: " if expected["path"] else ""
    assert str(err) == prefix + err.reason
    assert err.source == "config.json"
    assert_one_line(err)


@pytest.mark.parametrize("name", SEMANTIC_CASES)
def test_semantic_fixture_is_schema_valid(name: str) -> None:
    # These break only a rule the schema cannot express; test_semantic.py checks the rejection.
    validate_config(load(CONFIGS / "invalid" / name))


def test_every_invalid_fixture_has_an_expectation() -> None:
    on_disk = {p.name for p in fixture_files(CONFIGS / "invalid")}
    assert on_disk == set(invalid_expectations())
    assert len(SCHEMA_CASES) >= 30


# --- the spec's own examples --------------------------------------------------------------------


def test_spec_examples_are_indexed() -> None:
    index = load(CONFIGS / "spec-examples" / "index.json")
    index.pop("//")
    assert set(index) == {p.name for p in fixture_files(CONFIGS / "spec-examples")}


@pytest.mark.parametrize("path", fixture_files(CONFIGS / "spec-examples"), ids=lambda p: p.stem)
def test_spec_example_validates(path: Path) -> None:
    validate_config(load(path))


# --- what real engines send ---------------------------------------------------------------------


ENGINE_CREATE = sorted(p for p in ENGINE_CONFIGS.glob("*-create-*.json"))
ENGINE_EXEC = sorted(p for p in ENGINE_CONFIGS.glob("*-exec-*.json"))


def test_engine_corpus_is_present() -> None:
    assert len(ENGINE_CREATE) >= 10 and len(ENGINE_EXEC) >= 6


@pytest.mark.parametrize("path", ENGINE_CREATE, ids=lambda p: p.stem)
def test_engine_create_config_validates(path: Path) -> None:
    doc = load(path)
    assert doc["ociVersion"] == "1.0.2-dev"  # not 1.3.0: any semver must be accepted
    validate_config(doc)


@pytest.mark.parametrize("path", ENGINE_EXEC, ids=lambda p: p.stem)
def test_engine_exec_process_validates(path: Path) -> None:
    validate_process(load(path))
    # A --process file is not a config: the config schema must notice.
    assert raises_invalid(validate_config, load(path)).path == "ociVersion"


# --- runc's own output --------------------------------------------------------------------------

RUNC = shutil.which("runc")
needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed")


def runc_spec(bundle: Path, *extra: str) -> Any:
    assert RUNC is not None
    subprocess.run([RUNC, "spec", "--bundle", str(bundle), *extra], check=True, capture_output=True)
    return load(bundle / "config.json")


@needs_runc
def test_runc_spec_validates(tmp_path: Path) -> None:
    validate_config(runc_spec(tmp_path))


@needs_runc
def test_runc_spec_rootless_validates(tmp_path: Path) -> None:
    doc = runc_spec(tmp_path, "--rootless")
    assert any(ns["type"] == "user" for ns in doc["linux"]["namespaces"])
    validate_config(doc)


@needs_runc
def test_runc_features_validates() -> None:
    assert RUNC is not None
    out = subprocess.run([RUNC, "features"], check=True, capture_output=True, text=True).stdout
    validate_features(json.loads(out))


# --- process documents (exec --process) ---------------------------------------------------------


def test_process_document_minimal() -> None:
    validate_process({"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0}})


@pytest.mark.parametrize(
    ("doc", "path", "reason"),
    [
        ({"args": ["true"]}, "cwd", "required property is missing"),
        ({"cwd": "/", "args": "true"}, "args", "'true' is not of type 'array'"),
        ({"cwd": "/", "user": {"uid": "root"}}, "user.uid", "'root' is not of type 'integer'"),
        ({"cwd": "/", "capabilities": {"ambient": ["NET_ADMIN"]}}, "capabilities.ambient[0]", "does not match"),
        ("sh", "", "'sh' is not of type 'object'"),
    ],
)
def test_process_document_errors(doc: object, path: str, reason: str) -> None:
    err = raises_invalid(validate_process, doc)
    assert (err.path, err.source) == (path, "process.json")
    assert reason in err.reason


# --- state documents ----------------------------------------------------------------------------

STATE = {"ociVersion": "1.3.0", "id": "ctr", "status": "running", "pid": 4422, "bundle": "/containers/ctr"}


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"status": "created"},
        {"status": "creating", "pid": None},
        {"status": "stopped", "pid": None},
        {"status": "paused"},
        {"annotations": {"myKey": "myValue"}},
        {"rootfs": "/containers/ctr/rootfs", "created": "2024-01-01T00:00:00.000000000Z", "owner": ""},
        {"ociVersion": "1.0.2-dev"},
    ],
)
def test_state_valid(patch: dict[str, Any]) -> None:
    doc = {**STATE, **patch}
    validate_state({k: v for k, v in doc.items() if v is not None})


@pytest.mark.parametrize(
    ("patch", "path", "reason"),
    [
        (
            {"status": "exited"},
            "status",
            "'exited' is not one of ['creating', 'created', 'running', 'stopped', 'paused']",
        ),
        ({"pid": None}, "pid", "required property is missing"),
        ({"status": "created", "pid": None}, "pid", "required property is missing"),
        ({"pid": -1}, "pid", "-1 is less than the minimum of 0"),
        ({"id": None}, "id", "required property is missing"),
        ({"bundle": None}, "bundle", "required property is missing"),
        ({"annotations": {"k": 1}}, "annotations.k", "1 is not of type 'string'"),
    ],
)
def test_state_invalid(patch: dict[str, Any], path: str, reason: str) -> None:
    doc = {k: v for k, v in {**STATE, **patch}.items() if v is not None}
    err = raises_invalid(validate_state, doc)
    assert (err.path, err.source) == (path, "state")
    assert reason in err.reason


# --- features documents -------------------------------------------------------------------------

FEATURES_FULL: dict[str, Any] = {
    "ociVersionMin": "1.0.0",
    "ociVersionMax": "1.3.0",
    "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
    "mountOptions": ["ro", "rbind", "idmap"],
    "linux": {
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
        "capabilities": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
        "seccomp": {
            "enabled": True,
            "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY"],
            "operators": ["SCMP_CMP_EQ"],
            "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_LOONGARCH64"],
            "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG"],
        },
        "apparmor": {"enabled": True},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False, "schemata": True, "monitoring": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},
        "memoryPolicy": {"modes": ["MPOL_DEFAULT", "MPOL_BIND"], "flags": ["MPOL_F_STATIC_NODES"]},
    },
    "annotations": {"org.example.runtime.version": "0.1"},
    "potentiallyUnsafeConfigAnnotations": ["com.example.unsafe."],
}


def test_features_full_and_minimal() -> None:
    validate_features(FEATURES_FULL)
    validate_features({"ociVersionMin": "1.0.0", "ociVersionMax": "1.3.0"})


@pytest.mark.parametrize(
    ("mutate", "path", "reason"),
    [
        (lambda d: d.pop("ociVersionMax"), "ociVersionMax", "required property is missing"),
        (lambda d: d["hooks"].append("preStart"), "hooks[6]", "'preStart' is not one of"),
        (lambda d: d["linux"]["namespaces"].append("net"), "linux.namespaces[8]", "'net' is not one of"),
        (lambda d: d["linux"]["cgroup"].update(v2="yes"), "linux.cgroup.v2", "'yes' is not of type 'boolean'"),
        (
            lambda d: d["linux"]["seccomp"]["actions"].append("SCMP_ACT_DENY"),
            "linux.seccomp.actions[2]",
            "is not one of",
        ),
        (lambda d: d["linux"]["memoryPolicy"]["modes"].append("BIND"), "linux.memoryPolicy.modes[2]", "is not one of"),
        (
            lambda d: d["linux"]["mountExtensions"]["idmap"].update(enabled=1),
            "linux.mountExtensions.idmap.enabled",
            "is not",
        ),
        (
            lambda d: d.update(potentiallyUnsafeConfigAnnotations="x"),
            "potentiallyUnsafeConfigAnnotations",
            "is not of type 'array'",
        ),
    ],
)
def test_features_invalid(mutate: Any, path: str, reason: str) -> None:
    doc = json.loads(json.dumps(FEATURES_FULL))
    mutate(doc)
    err = raises_invalid(validate_features, doc)
    assert (err.path, err.source) == (path, "features")
    assert reason in err.reason


# --- choosing and rendering the error -----------------------------------------------------------


def minimal_config() -> dict[str, Any]:
    doc: dict[str, Any] = load(CONFIGS / "valid" / "minimal.json")
    return doc


def test_deepest_error_wins() -> None:
    doc = minimal_config()
    doc["hostname"] = 7  # depth 1
    doc["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "nope"}]}
    err = raises_invalid(validate_config, doc)
    assert err.path == "linux.seccomp.syscalls[0].action"


def test_long_instance_is_shortened_to_one_line() -> None:
    doc = minimal_config()
    doc["linux"]["namespaces"] = {"type": "pid", "path": "/proc/1/ns/pid\n" + "x" * 5000}
    err = raises_invalid(validate_config, doc)
    assert err.path == "linux.namespaces"
    assert err.reason.endswith("is not of type 'array'")
    assert " ...}" in err.reason
    assert_one_line(err)


def test_long_enum_message_is_truncated() -> None:
    doc = minimal_config()
    doc["linux"]["seccomp"] = {"defaultAction": "A" * 1000}
    err = raises_invalid(validate_config, doc)
    assert err.path == "linux.seccomp.defaultAction"
    assert len(err.reason) <= schema.MAX_REASON_CHARS
    assert_one_line(err)


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["linux", "namespaces", 2, "type"], "linux.namespaces[2].type"),
        (["linux", "sysctl", "net.ipv4.ip_forward"], 'linux.sysctl["net.ipv4.ip_forward"]'),
        (["annotations", ""], 'annotations[""]'),
        ([3, "a"], "[3].a"),
        ([], ""),
    ],
)
def test_format_path(parts: list[object], text: str) -> None:
    assert schema.format_path(parts) == text


# --- the schema files themselves ----------------------------------------------------------------


SCHEMA_FILES = sorted((REPO / "specs").glob("*.json"))


def test_specs_dir_is_the_repo_copy() -> None:
    assert Path(schema.specs_dir()) == REPO / "specs"
    assert {p.name for p in SCHEMA_FILES} >= {"config-schema.json", "state-schema.json", "features-schema.json"}


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_file_is_a_valid_2020_12_schema(path: Path) -> None:
    import jsonschema

    doc = load(path)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == schema.SCHEMA_BASE_URI + path.name
    jsonschema.Draft202012Validator.check_schema(doc)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_every_ref_resolves_inside_specs(path: Path) -> None:
    import jsonschema

    store = schema._load_store()
    doc = load(path)
    resolver = jsonschema.RefResolver(base_uri=doc["$id"], referrer=doc, store=store)
    for ref in strings_under(doc, "$ref"):
        assert not ref.startswith(("http:", "https:", "file:")), ref
        url, _ = resolver.resolve(ref)
        assert url.startswith(schema.SCHEMA_BASE_URI)


def test_validators_are_cached() -> None:
    assert schema._validator(schema.CONFIG_SCHEMA) is schema._validator(schema.CONFIG_SCHEMA)


def test_module_import_does_not_import_jsonschema() -> None:
    code = "import sys, ociruntime.spec.schema; sys.exit('jsonschema' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
