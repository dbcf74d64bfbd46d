"""`features` is valid against our features schema, and every feature it advertises works in a real
container: each namespace is created, each capability granted, each mount option accepted by a
container mount, each memory policy mode and flag applied."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from ociruntime.features import features
from ociruntime.spec.schema import validate_features
from tests.conftest import BundleFactory, Runtime, new_id
from tests.integration.test_attributes import GET_MEMPOLICY, MPOL, PROBE_MOUNT, python_probe, run_in_container

pytestmark = pytest.mark.root

ADVERTISED = features()


def test_features_verb_prints_a_valid_document(runtime: Runtime) -> None:
    doc = json.loads(runtime.ok("features").stdout)
    validate_features(doc)
    assert doc["ociVersionMax"] == "1.3.0"
    assert doc == json.loads(json.dumps(ADVERTISED))


def test_every_advertised_namespace_is_created(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    kinds = ADVERTISED["linux"]["namespaces"]
    proc_names = {"mount": "mnt", "network": "net"}
    files = [proc_names.get(kind, kind) for kind in kinds]
    # A pid namespace (and a time namespace) applies to children: read the links from a child, not sh.
    script = "; ".join(f"readlink /proc/self/ns/{name}" for name in files)
    bundle = make_bundle(["sh", "-c", script])
    bundle.config["linux"]["namespaces"] = [{"type": kind} for kind in kinds]
    if "user" in kinds:
        bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    bundle.write()
    inside = runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout.split()
    host = [os.readlink(f"/proc/self/ns/{name}") for name in files]
    assert len(inside) == len(kinds)
    same = [kind for kind, a, b in zip(kinds, inside, host, strict=True) if a == b]
    assert same == [], f"namespaces not created: {same}"


def test_every_advertised_capability_is_granted(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    from ociruntime.spec.capabilities import CAPABILITIES

    names = ADVERTISED["linux"]["capabilities"]
    expected = sum(1 << CAPABILITIES[name] for name in names)
    bundle = make_bundle(["grep", "^Cap", "/proc/self/status"])
    sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
    bundle.config["process"]["capabilities"] = {s: names for s in sets}
    bundle.write()
    out = runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout
    seen = {line.split(":")[0]: int(line.split()[1], 16) for line in out.splitlines()}
    assert seen == {"CapInh": expected, "CapPrm": expected, "CapEff": expected, "CapBnd": expected, "CapAmb": expected}


def mount_for(option: str, source: Path) -> list[dict[str, Any]]:
    if option in ("bind", "rbind"):
        return [{"destination": "/tmp", "type": "bind", "source": str(source), "options": [option]}]
    if option in ("idmap", "ridmap"):  # a bind mount with its own mappings
        mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
        return [{"destination": "/tmp", "type": "bind", "source": str(source), "options": ["rbind", option],
                 "uidMappings": mapping, "gidMappings": mapping}]  # fmt: skip
    if option == "remount":  # only meaningful on something already mounted there
        return [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]}]  # fmt: skip
    return [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [option]}]


@pytest.mark.parametrize("option", ADVERTISED["mountOptions"])
def test_every_advertised_mount_option_is_accepted(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, tmp_path: Path, option: str
) -> None:
    source = tmp_path / "bind-source"
    source.mkdir()
    (source / "marker").write_text("here\n")
    out = run_in_container(
        runtime, make_bundle, ["grep", " /tmp ", "/proc/self/mountinfo"], mounts=mount_for(option, source)
    )
    assert " /tmp " in out


def policy_for(mode: str, flags: list[str]) -> dict[str, Any]:
    policy: dict[str, Any] = {"mode": mode, "flags": flags}
    if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL"):
        policy["nodes"] = "0"
    return policy


MPOL_FLAG_BITS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_STATIC_NODES": 1 << 15}


@pytest.mark.parametrize(
    ("mode", "flags"),
    [(mode, []) for mode in ADVERTISED["linux"]["memoryPolicy"]["modes"]]
    + [("MPOL_BIND", [flag]) for flag in ADVERTISED["linux"]["memoryPolicy"]["flags"]],
)
def test_every_advertised_memory_policy_applies(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, mode: str, flags: list[str]
) -> None:
    args, env = python_probe(GET_MEMPOLICY)
    out = run_in_container(
        runtime, make_bundle, args, linux={"memoryPolicy": policy_for(mode, flags)}, mounts=[PROBE_MOUNT], env=env
    )
    got_mode, got_nodes = map(int, out.split())
    expected = MPOL[mode] | sum(MPOL_FLAG_BITS[f] for f in flags)
    if mode == "MPOL_LOCAL":
        expected = MPOL["MPOL_LOCAL"]  # get_mempolicy reports "local" as such since Linux 5.x
    assert got_mode == expected
    assert got_nodes == (0 if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") else 1)


def test_seccomp_is_advertised_only_when_create_accepts_a_filter(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    assert (result.returncode == 0) == ADVERTISED["linux"]["seccomp"]["enabled"], result.stderr


def test_net_devices_and_intel_rdt_match_what_create_does() -> None:
    assert ADVERTISED["linux"]["netDevices"] == {"enabled": True}
    assert ADVERTISED["linux"]["intelRdt"] == {"enabled": False}  # refused: see test_attributes
    assert ADVERTISED["linux"]["mountExtensions"]["idmap"] == {"enabled": True}  # test_mount_options


def test_output_to_a_closed_pipe_fails_in_one_line(runtime: Runtime) -> None:
    """The command ends with os._exit after flushing its output (ociruntime.cli.main.entry): a reader
    that went away makes that flush fail, which must be a plain non-zero exit, not the interpreter's
    'Exception ignored' traceback nor a silent success."""
    import subprocess

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        result = subprocess.run(
            [runtime.binary, "--root", str(runtime.root), "features"], stdout=write_end, stderr=subprocess.PIPE
        )
    finally:
        os.close(write_end)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr.decode() and "Exception ignored" not in result.stderr.decode()
    assert len(result.stderr.decode().splitlines()) <= 1
