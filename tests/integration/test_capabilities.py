"""Capability sets and no_new_privs as the kernel reports them inside real containers."""

from __future__ import annotations

from typing import Any

import pytest

from ociruntime.spec.capabilities import CAPABILITIES
from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
SCRIPT = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status; id -u; id -g"


def mask(*names: str) -> str:
    value = 0
    for name in names:
        value |= 1 << CAPABILITIES[name]
    return f"{value:016x}"


def status_of(runtime: Runtime, make_bundle: BundleFactory, process: dict[str, Any]) -> dict[str, str]:
    bundle = make_bundle(["sh", "-c", SCRIPT])
    bundle.config["process"].update(process)
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fields = dict(line.split(":\t") for line in lines[:-2])
    fields["uid"], fields["gid"] = lines[-2], lines[-1]
    return fields


def test_example_config_sets(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    three = mask("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
    assert status_of(runtime, make_bundle, {}) == {
        "CapInh": mask(),
        "CapPrm": three,
        "CapEff": three,
        "CapBnd": three,
        "CapAmb": mask(),
        "NoNewPrivs": "1",
        "uid": "0",
        "gid": "0",
    }


def test_root_gets_the_bounding_set_at_execve(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # For uid 0 the kernel fills permitted and effective from the bounding set at execve (as with runc):
    # the bounding set is what limits root.
    caps = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SETPCAP"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_NET_RAW", "CAP_SYS_CHROOT"],
        "ambient": ["CAP_NET_RAW"],
    }
    bounding = mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SETPCAP")
    fields = status_of(runtime, make_bundle, {"capabilities": caps, "noNewPrivileges": False})
    assert fields == {
        "CapInh": mask("CAP_NET_RAW", "CAP_SYS_CHROOT"),
        "CapPrm": bounding,
        "CapEff": bounding,
        "CapBnd": bounding,
        "CapAmb": mask("CAP_NET_RAW"),
        "NoNewPrivs": "0",
        "uid": "0",
        "gid": "0",
    }


def test_non_root_sets_differ(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # For other users, permitted and effective after execve are the ambient set; the rest stays.
    caps = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SETPCAP"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT"],
        "effective": ["CAP_KILL"],
        "inheritable": ["CAP_NET_RAW", "CAP_SYS_CHROOT"],
        "ambient": ["CAP_NET_RAW", "CAP_CHOWN"],  # CAP_CHOWN is not inheritable: not raised
    }
    process = {"capabilities": caps, "user": {"uid": 1000, "gid": 1000}, "noNewPrivileges": False}
    assert status_of(runtime, make_bundle, process) == {
        "CapInh": mask("CAP_NET_RAW", "CAP_SYS_CHROOT"),
        "CapPrm": mask("CAP_NET_RAW"),
        "CapEff": mask("CAP_NET_RAW"),
        "CapBnd": mask("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_SETPCAP"),
        "CapAmb": mask("CAP_NET_RAW"),
        "NoNewPrivs": "0",
        "uid": "1000",
        "gid": "1000",
    }


def test_non_root_user_with_ambient_caps(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    caps = {
        "bounding": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"],
        "permitted": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "ambient": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
    }
    process = {"capabilities": caps, "user": {"uid": 1000, "gid": 1000}, "noNewPrivileges": True}
    both = mask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW")
    assert status_of(runtime, make_bundle, process) == {
        "CapInh": both,
        "CapPrm": both,
        "CapEff": both,
        "CapBnd": mask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_KILL"),
        "CapAmb": both,
        "NoNewPrivs": "1",
        "uid": "1000",
        "gid": "1000",
    }


def test_non_root_user_without_ambient_loses_everything(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    caps = {k: ["CAP_KILL"] for k in ("bounding", "permitted", "effective")}
    fields = status_of(runtime, make_bundle, {"capabilities": caps, "user": {"uid": 1000, "gid": 1000}})
    assert (fields["CapPrm"], fields["CapEff"], fields["CapAmb"], fields["CapBnd"]) == (
        mask(),
        mask(),
        mask(),
        mask("CAP_KILL"),
    )


def test_empty_sets_drop_everything(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    fields = status_of(runtime, make_bundle, {"capabilities": {}, "noNewPrivileges": False})
    assert {k: fields[k] for k in FIELDS} == {
        "CapInh": mask(),
        "CapPrm": mask(),
        "CapEff": mask(),
        "CapBnd": mask(),
        "CapAmb": mask(),
        "NoNewPrivs": "0",
    }


def test_unknown_capability_fails_create_with_its_path(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    bundle.config["process"]["capabilities"] = {"bounding": ["CAP_KILL", "CAP_TELEPORT"]}
    bundle.write()
    result = runtime("create", "-b", str(bundle.path), new_id())
    assert result.returncode == 1
    assert "process.capabilities.bounding[1]" in result.stderr and "CAP_TELEPORT" in result.stderr
    assert runtime.container_dirs() == []
