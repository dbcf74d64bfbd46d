"""Typed config (ociruntime.spec.model), device plans (ociruntime.spec.devices), default config (spec.default)."""

from __future__ import annotations

import copy
import stat
from typing import Any

import pytest

from ociruntime.spec.default import DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS, default_config
from ociruntime.spec.devices import DEFAULT_DEVICES, DEFAULT_LINKS, Device, parse_devices, plan_devices
from ociruntime.spec.model import (
    DEFAULT_PATH,
    IdMapping,
    Mount,
    Namespace,
    Process,
    User,
    parse_config,
    parse_mappings,
)
from ociruntime.spec.schema import validate_config
from ociruntime.spec.semantic import check_config

BUNDLE = "/bundles/b1"


def minimal() -> dict[str, Any]:
    return {"ociVersion": "1.3.0", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"}}


# --- parse_config: defaults --------------------------------------------------------------------------


def test_defaults_of_minimal_config() -> None:
    spec = parse_config(minimal(), BUNDLE)
    assert spec.oci_version == "1.3.0"
    assert spec.bundle == BUNDLE
    assert spec.rootfs == "/bundles/b1/rootfs"
    assert spec.root_readonly is False
    assert spec.hostname is None
    assert spec.domainname is None
    assert spec.mounts == ()
    assert spec.namespaces == ()
    assert spec.uid_mappings == ()
    assert spec.gid_mappings == ()
    assert spec.time_offsets == {}
    assert spec.cgroups_path is None
    assert spec.rootfs_propagation is None
    assert spec.masked_paths == ()
    assert spec.readonly_paths == ()
    assert spec.annotations == {}
    assert spec.process == Process(args=("sh",), env=(), cwd="/", user=User(0, 0, None, ()))


def test_empty_document() -> None:
    spec = parse_config({}, BUNDLE)
    assert spec.oci_version == ""
    assert spec.rootfs == "/bundles/b1/rootfs"
    assert spec.process is None
    assert spec.raw == {}


def test_process_fields() -> None:
    doc = minimal()
    doc["process"] = {
        "args": ["/bin/app", "-x"],
        "env": ["A=1", "B=2"],
        "cwd": "/work",
        "terminal": True,
        "noNewPrivileges": True,
        "user": {"uid": 1000, "gid": 100, "umask": 0o22, "additionalGids": [5, 6]},
    }
    process = parse_config(doc, BUNDLE).process
    assert process == Process(
        args=("/bin/app", "-x"),
        env=("A=1", "B=2"),
        cwd="/work",
        user=User(uid=1000, gid=100, umask=0o22, additional_gids=(5, 6)),
        terminal=True,
        no_new_privileges=True,
    )
    assert process is not None and process.raw is doc["process"]


def test_process_cwd_default() -> None:
    doc = minimal()
    del doc["process"]["cwd"]
    process = parse_config(doc, BUNDLE).process
    assert process is not None and process.cwd == "/"


# --- root path -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root_path", "rootfs"),
    [
        ("rootfs", "/bundles/b1/rootfs"),
        ("./rootfs/", "/bundles/b1/rootfs"),
        ("sub/../other", "/bundles/b1/other"),
        ("../shared/rootfs", "/bundles/shared/rootfs"),
        ("/var/lib/images/alpine", "/var/lib/images/alpine"),
        ("/var/lib//images/./alpine/", "/var/lib/images/alpine"),
    ],
)
def test_root_path(root_path: str, rootfs: str) -> None:
    doc = minimal()
    doc["root"] = {"path": root_path, "readonly": True}
    spec = parse_config(doc, BUNDLE)
    assert spec.rootfs == rootfs
    assert spec.root_readonly is True


# --- namespaces, mappings, time offsets --------------------------------------------------------------


def test_namespaces_with_and_without_path() -> None:
    doc = minimal()
    doc["linux"] = {
        "namespaces": [
            {"type": "pid"},
            {"type": "network", "path": "/var/run/netns/n1"},
            {"type": "ipc", "path": ""},
            {"type": "mount"},
        ]
    }
    spec = parse_config(doc, BUNDLE)
    assert spec.namespaces == (
        Namespace("pid"),
        Namespace("network", "/var/run/netns/n1"),
        Namespace("ipc", None),
        Namespace("mount"),
    )
    assert spec.namespace("network") == Namespace("network", "/var/run/netns/n1")
    assert spec.namespace("user") is None
    assert spec.new_namespace("pid") is True
    assert spec.new_namespace("network") is False
    assert spec.new_namespace("ipc") is True  # an empty path means "create"
    assert spec.new_namespace("uts") is False


def test_mappings() -> None:
    doc = minimal()
    doc["linux"] = {
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [
            {"containerID": 0, "hostID": 200000, "size": 1},
            {"containerID": 1, "hostID": 300000, "size": 10},
        ],
    }
    spec = parse_config(doc, BUNDLE)
    assert spec.uid_mappings == (IdMapping(0, 100000, 65536),)
    assert spec.gid_mappings == (IdMapping(0, 200000, 1), IdMapping(1, 300000, 10))
    assert spec.uid_mappings[0].line() == "0 100000 65536\n"
    assert parse_mappings(None) == ()
    assert parse_mappings([]) == ()


def test_time_offsets() -> None:
    doc = minimal()
    doc["linux"] = {
        "timeOffsets": {"monotonic": {"secs": 86400, "nanosecs": 5}, "boottime": {"secs": -3}},
    }
    assert parse_config(doc, BUNDLE).time_offsets == {"monotonic": (86400, 5), "boottime": (-3, 0)}


def test_other_linux_fields() -> None:
    doc = minimal()
    doc["hostname"] = "h"
    doc["domainname"] = "d"
    doc["annotations"] = {"k": "v"}
    doc["mounts"] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data", "source": "/host", "options": ["rbind", "ro"]},
    ]
    doc["linux"] = {
        "cgroupsPath": "/a/b",
        "rootfsPropagation": "rprivate",
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
    }
    spec = parse_config(doc, BUNDLE)
    assert (spec.hostname, spec.domainname, spec.annotations) == ("h", "d", {"k": "v"})
    assert spec.mounts == (
        Mount("/proc", "proc", "proc", ()),
        Mount("/data", None, "/host", ("rbind", "ro")),
    )
    assert spec.cgroups_path == "/a/b"
    assert spec.rootfs_propagation == "rprivate"
    assert spec.masked_paths == ("/proc/kcore",)
    assert spec.readonly_paths == ("/proc/sys",)


def test_empty_strings_mean_unset() -> None:
    doc = minimal()
    doc["linux"] = {"cgroupsPath": "", "rootfsPropagation": ""}
    spec = parse_config(doc, BUNDLE)
    assert spec.cgroups_path is None
    assert spec.rootfs_propagation is None


def test_parse_does_not_modify_document() -> None:
    doc = minimal()
    doc["linux"] = {"namespaces": [{"type": "pid"}], "uidMappings": []}
    before = copy.deepcopy(doc)
    parse_config(doc, BUNDLE)
    assert doc == before


# --- env_value ------------------------------------------------------------------------------------


def test_env_value_last_wins() -> None:
    process = Process(args=("sh",), env=("PATH=/a", "HOME=/root", "PATH=/b", "EMPTY=", "X=a=b"), cwd="/", user=User())
    assert process.env_value("PATH") == "/b"
    assert process.env_value("HOME") == "/root"
    assert process.env_value("EMPTY") == ""
    assert process.env_value("X") == "a=b"
    assert process.env_value("MISSING") is None
    assert process.env_value("PAT") is None  # a prefix of a name is not the name
    assert process.env_value("HOM") is None


# --- devices --------------------------------------------------------------------------------------


def test_default_devices() -> None:
    assert [(d.path, d.kind, d.major, d.minor, d.file_mode, d.uid, d.gid) for d in DEFAULT_DEVICES] == [
        ("/dev/null", "c", 1, 3, 0o666, 0, 0),
        ("/dev/zero", "c", 1, 5, 0o666, 0, 0),
        ("/dev/full", "c", 1, 7, 0o666, 0, 0),
        ("/dev/random", "c", 1, 8, 0o666, 0, 0),
        ("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
        ("/dev/tty", "c", 5, 0, 0o666, 0, 0),
    ]
    assert plan_devices(None) == DEFAULT_DEVICES
    assert plan_devices([]) == DEFAULT_DEVICES


def test_default_links() -> None:
    assert DEFAULT_LINKS == (
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
    )


def test_configured_device_overrides_default_by_path() -> None:
    planned = plan_devices(
        [
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 5, "gid": 6},
            {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0},
        ]
    )
    assert [d.path for d in planned] == [
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/null",
        "/dev/sda",
    ]
    assert planned[-2] == Device("/dev/null", "c", 1, 3, 0o600, 5, 6)
    assert planned[-1] == Device("/dev/sda", "b", 8, 0, 0o666, 0, 0)


def test_parse_devices_defaults() -> None:
    assert parse_devices([{"path": "/dev/fifo", "type": "p"}], uid=7, gid=8) == (
        Device("/dev/fifo", "p", 0, 0, 0o666, 7, 8),
    )


@pytest.mark.parametrize(
    ("kind", "file_mode", "mode"),
    [
        ("c", 0o666, stat.S_IFCHR | 0o666),
        ("u", 0o620, stat.S_IFCHR | 0o620),
        ("b", 0o660, stat.S_IFBLK | 0o660),
        ("p", 0o600, stat.S_IFIFO | 0o600),
        ("c", 0o100666, stat.S_IFCHR | 0o666),  # type bits in fileMode are replaced by `type`
        ("b", 0o4755, stat.S_IFBLK | 0o4755),
    ],
)
def test_mode_bits(kind: str, file_mode: int, mode: int) -> None:
    assert Device("/dev/x", kind, 1, 2, file_mode, 0, 0).mode_bits == mode


def test_mode_bits_literal() -> None:
    assert Device("/dev/null", "c", 1, 3, 0o666, 0, 0).mode_bits == 0o20666
    assert Device("/dev/sda", "b", 8, 0, 0o660, 0, 0).mode_bits == 0o60660
    assert Device("/dev/p", "p", 0, 0, 0o644, 0, 0).mode_bits == 0o10644


# --- default_config --------------------------------------------------------------------------------


def test_default_config_is_valid() -> None:
    doc = default_config()
    validate_config(doc)
    check_config(doc)


def test_default_rootless_config_is_valid() -> None:
    doc = default_config(rootless=True)
    validate_config(doc)
    check_config(doc, rootless=True)


def test_default_config_contents() -> None:
    doc = default_config()
    assert doc["ociVersion"] == "1.3.0"
    assert doc["root"] == {"path": "rootfs", "readonly": True}
    assert doc["process"]["args"] == ["sh"]
    assert doc["process"]["env"] == [f"PATH={DEFAULT_PATH}", "TERM=xterm"]
    assert doc["process"]["capabilities"] == {s: DEFAULT_CAPS for s in ("bounding", "effective", "permitted")}
    assert [n["type"] for n in doc["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    assert [m["destination"] for m in doc["mounts"]] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ]
    assert doc["linux"]["resources"] == {"devices": [{"allow": False, "access": "rwm"}]}
    assert doc["linux"]["maskedPaths"] == MASKED_PATHS
    assert doc["linux"]["readonlyPaths"] == READONLY_PATHS
    assert "uidMappings" not in doc["linux"]


def test_default_rootless_contents() -> None:
    doc = default_config(rootless=True)
    linux = doc["linux"]
    assert [n["type"] for n in linux["namespaces"]][-1] == "user"
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert "resources" not in linux
    mounts = {m["destination"]: m for m in doc["mounts"]}
    assert mounts["/sys"] == {
        "destination": "/sys",
        "type": "none",
        "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }
    assert "/sys/fs/cgroup" not in mounts
    assert "gid=5" not in mounts["/dev/pts"]["options"]


def test_default_configs_are_independent() -> None:
    a = default_config()
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    a["mounts"][0]["options"] = ["ro"]
    b = default_config()
    assert b["process"]["capabilities"]["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    assert "options" not in b["mounts"][0]


@pytest.mark.parametrize("key", ["maskedPaths", "readonlyPaths"])
def test_default_config_does_not_share_path_lists(key: str) -> None:
    # Checked by identity so that the bug, while it exists, cannot leak into other tests.
    first = default_config()["linux"][key]
    assert first is not default_config()["linux"][key]
    assert first is not (MASKED_PATHS if key == "maskedPaths" else READONLY_PATHS)


def test_default_config_parses() -> None:
    spec = parse_config(default_config(), BUNDLE)
    assert spec.rootfs == "/bundles/b1/rootfs"
    assert spec.root_readonly is True
    assert spec.hostname == "ociruntime"
    assert spec.process is not None and spec.process.env_value("PATH") == DEFAULT_PATH
