"""`create`, `run` and `exec` import a feature's modules only for a config that uses the feature.

Each call is a new interpreter, so an import is paid on every call (issue #10). The decisions are
made from the config (ociruntime.spec.model lists the fields); these tests check the lists agree with
what the planners read, and that a config without the features loads none of their modules.
tests/integration/test_import_cost.py checks real `run` and `exec` calls as root.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ociruntime.spec import attributes as spec_attributes
from ociruntime.spec import mounts
from ociruntime.spec.default import default_config
from ociruntime.spec.model import (
    LINUX_ATTRIBUTE_FIELDS,
    LINUX_LABEL_FIELDS,
    PROCESS_ATTRIBUTE_FIELDS,
    PROCESS_LABEL_FIELDS,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]

# One valid value for every field a planner reads.
PROCESS_ATTRIBUTES: dict[str, Any] = {
    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}],
    "oomScoreAdj": 0,
    "scheduler": {"policy": "SCHED_BATCH"},
    "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
    "execCPUAffinity": {"initial": "0"},
}
LINUX_ATTRIBUTES: dict[str, Any] = {
    "personality": {"domain": "LINUX"},
    "memoryPolicy": {"mode": "MPOL_LOCAL"},
}

# Modules no `create`, `run` or `exec` of a plain config may load: costly ones, and those of features.
NOT_LOADED = (
    "dataclasses", "typing", "shutil", "contextlib", "inspect", "copy", "socket", "subprocess", "pathlib",
    "jsonschema", "ociruntime.linux.seccomp", "ociruntime.spec.seccomp", "ociruntime.linux.lsm",
    "ociruntime.linux.attributes", "ociruntime.spec.attributes", "ociruntime.linux.console",
    "ociruntime.linux.idmap", "ociruntime.linux.sysctl", "ociruntime.spec.sysctl", "ociruntime.linux.netdevices",
    "ociruntime.linux.procfiles",
)  # fmt: skip


def spec_with(process: dict[str, Any] | None = None, linux: dict[str, Any] | None = None) -> Any:
    doc = default_config()
    doc["process"].pop("rlimits", None)
    doc["process"].update(process or {})
    doc["linux"].update(linux or {})
    return parse_config(doc, "/bundle")


def test_the_field_lists_name_what_the_attribute_planner_reads() -> None:
    assert set(PROCESS_ATTRIBUTE_FIELDS) == set(PROCESS_ATTRIBUTES)
    assert set(LINUX_ATTRIBUTE_FIELDS) == set(LINUX_ATTRIBUTES)
    everything = spec_attributes.plan_attributes(PROCESS_ATTRIBUTES, LINUX_ATTRIBUTES, is_init=False)
    for name in (*PROCESS_ATTRIBUTES, *LINUX_ATTRIBUTES):
        # Each field on its own changes the plan: it is read, and listed.
        process = {name: PROCESS_ATTRIBUTES[name]} if name in PROCESS_ATTRIBUTES else {}
        linux = {name: LINUX_ATTRIBUTES[name]} if name in LINUX_ATTRIBUTES else {}
        assert not spec_attributes.plan_attributes(process, linux, is_init=False).empty, name
        assert spec_with(process, linux).sets_process_attributes(), name
    # And nothing else is read: a document full of every other field plans nothing.
    others = {k: v for k, v in default_config()["process"].items() if k not in PROCESS_ATTRIBUTES}
    linux_others = {k: v for k, v in default_config()["linux"].items() if k not in LINUX_ATTRIBUTES}
    assert spec_attributes.plan_attributes(others, linux_others, is_init=False).empty
    assert not everything.empty


def test_a_config_without_attributes_or_labels_says_so() -> None:
    spec = spec_with()
    assert not spec.sets_process_attributes()
    assert not spec.sets_labels()


@pytest.mark.parametrize(
    ("process", "linux"),
    [({name: "x"}, {}) for name in PROCESS_LABEL_FIELDS] + [({}, {name: "x"}) for name in LINUX_LABEL_FIELDS],
)
def test_labels_are_noticed(process: dict[str, Any], linux: dict[str, Any]) -> None:
    assert spec_with(process, linux).sets_labels()


def test_idmapped_mounts_are_noticed() -> None:
    assert mounts.is_idmapped(("rbind", "idmap"))
    assert mounts.is_idmapped(("ridmap",))
    assert not mounts.is_idmapped(("rbind", "ro"))


_PREPARE = """
import json, sys
sys.path[:] = [{repo!r}, *{path!r}]  # this interpreter's, as bin/ociruntime sets it up without site
from ociruntime.container import create, exec, run  # noqa: F401 - every module the three verbs load
from ociruntime.container.create import CreateOptions, _prepare
from ociruntime.process.optional import plan_attributes
prepared = _prepare(CreateOptions({bundle!r}), None)
attributes = plan_attributes(prepared.spec, is_init=True)
prepared.close()
print(json.dumps([attributes is not None, sorted(sys.modules)]))
"""


def prepare_in_fresh_interpreter(bundle: Path, config: dict[str, Any]) -> tuple[bool, set[str]]:
    """`create`'s checks up to forking (no root needed), as bin/ociruntime runs them (-I -S)."""
    (bundle / "rootfs").mkdir(exist_ok=True)
    config["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    code = _PREPARE.format(repo=str(REPO), path=sys.path, bundle=str(bundle))
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    has_attributes, modules = json.loads(result.stdout.splitlines()[-1])
    return has_attributes, set(modules)


def test_a_plain_config_loads_no_feature_module(tmp_path: Path) -> None:
    config = default_config()
    config["process"].pop("rlimits", None)
    has_attributes, modules = prepare_in_fresh_interpreter(tmp_path, config)
    assert not has_attributes
    assert sorted(m for m in NOT_LOADED if m in modules) == []


def test_the_features_a_config_uses_are_loaded(tmp_path: Path) -> None:
    config = default_config()  # with rlimits
    config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    has_attributes, modules = prepare_in_fresh_interpreter(tmp_path, config)
    assert has_attributes
    assert {"ociruntime.linux.attributes", "ociruntime.linux.seccomp"} <= modules
    assert "ociruntime.linux.lsm" not in modules
