"""Semantic rules (ociruntime.spec.semantic): fixtures, engine configs, runc spec, one test per rule."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec import semantic
from ociruntime.spec.semantic import check_config, check_process_file, config_warnings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIGS = FIXTURES / "configs"
ENGINE_CONFIGS = FIXTURES / "engine-configs"


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def expectations() -> dict[str, dict[str, str]]:
    expected: dict[str, dict[str, str]] = load(CONFIGS / "invalid" / "expected.json")
    expected.pop("//", None)
    return expected


def minimal() -> dict[str, Any]:
    doc: dict[str, Any] = load(CONFIGS / "valid" / "minimal.json")
    return doc


def rejected(config: dict[str, Any], *, rootless: bool = False) -> ConfigInvalid:
    with pytest.raises(ConfigInvalid) as info:
        check_config(config, rootless=rootless)
    assert "\n" not in str(info.value)
    return info.value


# --- fixtures -----------------------------------------------------------------------------------

SEMANTIC_CASES = sorted((n, e) for n, e in expectations().items() if e["layer"] == "semantic")


@pytest.mark.parametrize(("name", "expected"), SEMANTIC_CASES, ids=[c[0] for c in SEMANTIC_CASES])
def test_semantic_fixture_reports_exact_path(name: str, expected: dict[str, str]) -> None:
    err = rejected(load(CONFIGS / "invalid" / name))
    assert err.path == expected["path"]
    assert expected["reason"] in err.reason
    assert str(err) == f"{expected['path']}: {err.reason}"


def test_enough_semantic_fixtures() -> None:
    assert len(SEMANTIC_CASES) >= 25


@pytest.mark.parametrize("path", sorted((CONFIGS / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_valid_fixture_passes(path: Path) -> None:
    check_config(load(path), rootless=path.stem == "rootless")


@pytest.mark.parametrize("path", sorted(ENGINE_CONFIGS.glob("*-create-*.json")), ids=lambda p: p.stem)
def test_engine_create_config_passes(path: Path) -> None:
    check_config(load(path))


@pytest.mark.parametrize("path", sorted(ENGINE_CONFIGS.glob("*-exec-*.json")), ids=lambda p: p.stem)
def test_engine_exec_process_passes(path: Path) -> None:
    check_process_file(load(path))


RUNC = shutil.which("runc")


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
@pytest.mark.parametrize("rootless", [False, True])
def test_runc_spec_passes(tmp_path: Path, rootless: bool) -> None:
    assert RUNC is not None
    extra = ["--rootless"] if rootless else []
    subprocess.run([RUNC, "spec", "--bundle", str(tmp_path), *extra], check=True, capture_output=True)
    check_config(load(tmp_path / "config.json"), rootless=rootless)


# --- ordering -----------------------------------------------------------------------------------


def test_first_rule_in_order_wins() -> None:
    doc = minimal()
    del doc["root"]
    doc["process"]["cwd"] = "relative"
    assert rejected(doc).path == "root.path"


def test_rules_are_small_named_functions() -> None:
    names = [getattr(c, "func", c).__name__ for c in semantic.config_checks()]
    assert names[0] == "check_root"
    assert all(n.startswith("check_") for n in names)
    assert len(names) == len(set(names))


# --- user namespaces and rootless ---------------------------------------------------------------


def with_namespaces(*types: str, **linux: Any) -> dict[str, Any]:
    doc = minimal()
    doc["linux"] = {"namespaces": [{"type": t} for t in types], **linux}
    return doc


MAPS = {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
}


def test_rootless_requires_a_user_namespace() -> None:
    err = rejected(with_namespaces("pid", "uts", "mount"), rootless=True)
    assert (err.path, err.reason) == ("linux.namespaces", "a rootless container requires a user namespace")


def test_rootless_with_mappings_passes() -> None:
    check_config(with_namespaces("pid", "uts", "mount", "user", **MAPS), rootless=True)


def test_rootless_new_userns_needs_mappings() -> None:
    assert rejected(with_namespaces("uts", "user"), rootless=True).path == "linux.uidMappings"


def test_joined_user_namespace_needs_no_mappings() -> None:
    doc = with_namespaces("uts", "mount")
    doc["linux"]["namespaces"].append({"type": "user", "path": "/proc/42/ns/user"})
    check_config(doc, rootless=True)


def test_gid_mappings_alone_without_userns() -> None:
    doc = with_namespaces("uts", gidMappings=MAPS["gidMappings"])
    assert rejected(doc).path == "linux.gidMappings"


def test_mount_mapping_size_zero() -> None:
    doc = with_namespaces("uts", "user", **MAPS)
    doc["mounts"].append(
        {
            "destination": "/d",
            "type": "bind",
            "source": "/s",
            "options": ["bind"],
            "uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}],
            "gidMappings": MAPS["gidMappings"],
        }
    )
    assert rejected(doc).path == "mounts[1].uidMappings[0].size"


# --- namespaces, uts, time ----------------------------------------------------------------------


@pytest.mark.parametrize("ns_type", ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"])
def test_every_namespace_type_may_be_joined_by_absolute_path(ns_type: str) -> None:
    doc = with_namespaces("uts")
    if ns_type == "uts":
        doc["linux"]["namespaces"] = []
        doc.pop("hostname")
    doc["linux"]["namespaces"].append({"type": ns_type, "path": f"/proc/42/ns/{ns_type}"})
    check_config(doc)


def test_hostname_with_joined_uts_namespace_is_rejected() -> None:
    doc = with_namespaces()
    doc["linux"]["namespaces"].append({"type": "uts", "path": "/proc/42/ns/uts"})
    assert rejected(doc).path == "hostname"


def test_time_offsets_with_joined_time_namespace_are_rejected() -> None:
    doc = with_namespaces("uts", timeOffsets={"boottime": {"secs": 1}})
    doc["linux"]["namespaces"].append({"type": "time", "path": "/proc/42/ns/time"})
    assert rejected(doc).path == "linux.timeOffsets"


def test_time_offsets_with_new_time_namespace() -> None:
    check_config(with_namespaces("uts", "time", timeOffsets={"monotonic": {"secs": -5, "nanosecs": 1}}))


def test_no_linux_section_and_no_hostname() -> None:
    doc = minimal()
    del doc["linux"], doc["hostname"]
    check_config(doc)


# --- process ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("process", "path", "reason"),
    [
        ({"cwd": "/"}, "args", "at least one argument"),
        ({"cwd": "/", "args": []}, "args", "at least one argument"),
        ({"cwd": "tmp", "args": ["sh"]}, "cwd", "must be an absolute path, got 'tmp'"),
        ({"cwd": "/", "args": ["sh"], "env": ["=x"]}, "env[0]", "is not of the form KEY=value"),
        ({"cwd": "/", "args": ["sh"], "env": ["A=\0"]}, "env[0]", "contains a NUL byte"),
        (
            {"cwd": "/", "args": ["sh"], "scheduler": {"policy": "SCHED_FIFO", "runtime": 5}},
            "scheduler.runtime",
            "SCHED_DEADLINE",
        ),
    ],
)
def test_process_file_rules(process: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ConfigInvalid) as info:
        check_process_file(process)
    assert info.value.path == path
    assert reason in info.value.reason


def test_process_file_passes_with_rt_priority() -> None:
    check_process_file(
        {"cwd": "/", "args": ["sh"], "env": ["EMPTY="], "scheduler": {"policy": "SCHED_RR", "priority": 5}}
    )


# --- mounts -------------------------------------------------------------------------------------


def test_relative_mount_destination_is_valid_but_warned() -> None:
    doc = load(CONFIGS / "valid" / "relative-mount-destination.json")
    check_config(doc)
    assert config_warnings(doc) == [
        ("mounts[1].destination", "relative destination is deprecated, taken relative to /")
    ]
    assert config_warnings(minimal()) == []


@pytest.mark.parametrize(
    "mount",
    [
        {"destination": "/d", "type": "bind"},
        {"destination": "/d", "type": "none", "source": "", "options": ["bind"]},
    ],
)
def test_bind_mount_needs_a_source(mount: dict[str, Any]) -> None:
    doc = minimal()
    doc["mounts"].append(mount)
    assert rejected(doc).path == "mounts[1].source"


# --- cgroups ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/ociruntime/ctr", True),
        ("relative/ctr", True),
        ("/a/../b", True),
        ("/a/./b/..", True),
        ("system.slice:docker:abc", True),
        ("..", False),
        ("/../x", False),
        ("a/../../x", False),
        ("user.slice:.:x", False),
    ],
)
def test_cgroups_path(path: str, ok: bool) -> None:
    doc = with_namespaces("uts", cgroupsPath=path)
    if ok:
        check_config(doc)
    else:
        assert rejected(doc).path == "linux.cgroupsPath"


def test_cpu_burst_equal_to_quota_and_unlimited_quota() -> None:
    check_config(with_namespaces("uts", resources={"cpu": {"quota": 1000, "burst": 1000}}))
    check_config(with_namespaces("uts", resources={"cpu": {"quota": -1, "burst": 5000}}))


# --- seccomp and memory policy ------------------------------------------------------------------


def test_seccomp_notify_default_action_needs_listener() -> None:
    doc = with_namespaces("uts", seccomp={"defaultAction": "SCMP_ACT_NOTIFY"})
    assert rejected(doc).path == "linux.seccomp.listenerPath"
    doc["linux"]["seccomp"]["listenerPath"] = "/run/agent.sock"
    check_config(doc)


@pytest.mark.parametrize("action", ["SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"])
def test_errno_ret_allowed_for_errno_actions(action: str) -> None:
    seccomp = {
        "defaultAction": action,
        "defaultErrnoRet": 38,
        "syscalls": [{"names": ["x"], "action": action, "errnoRet": 1}],
    }
    check_config(with_namespaces("uts", seccomp=seccomp))


@pytest.mark.parametrize(
    ("policy", "ok"),
    [
        ({"mode": "MPOL_DEFAULT"}, True),
        ({"mode": "MPOL_PREFERRED"}, True),
        ({"mode": "MPOL_PREFERRED", "nodes": "1"}, True),
        ({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0-3"}, True),
        ({"mode": "MPOL_PREFERRED_MANY"}, False),
        ({"mode": "MPOL_DEFAULT", "nodes": "0"}, False),
    ],
)
def test_memory_policy(policy: dict[str, Any], ok: bool) -> None:
    doc = with_namespaces("uts", memoryPolicy=policy)
    if ok:
        check_config(doc)
    else:
        assert rejected(doc).path == "linux.memoryPolicy.nodes"


# --- purity -------------------------------------------------------------------------------------


def test_check_config_does_not_modify_its_input() -> None:
    doc = load(CONFIGS / "valid" / "full-linux.json")
    before = copy.deepcopy(doc)
    check_config(doc)
    assert doc == before
