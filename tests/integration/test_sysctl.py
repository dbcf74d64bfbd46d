"""linux.sysctl: written inside the container's own namespaces, read back from /proc/sys inside, the
host's values untouched; keys of namespaces the container does not own are refused before anything runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

SETTINGS = {
    "net.ipv4.ip_forward": "1",
    "net/ipv4/tcp_syncookies": "0",
    "kernel.shmmax": "123456789",
    "kernel.msgmax": "4096",
    "fs.mqueue.msg_max": "33",
    "kernel.domainname": "sysctl.example",
}


def host_value(key: str) -> str:
    return Path("/proc/sys", key.replace(".", "/") if "/" not in key else key).read_text().strip()


def test_sysctl_inside_not_on_the_host(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    before = {key: host_value(key) for key in SETTINGS}
    paths = " ".join("/proc/sys/" + (k.replace(".", "/") if "/" not in k else k) for k in SETTINGS)
    bundle = make_bundle(["sh", "-c", f"cat {paths}"])
    bundle.config["linux"]["sysctl"] = SETTINGS
    bundle.write()
    out = runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout
    assert out.split() == list(SETTINGS.values())
    assert {key: host_value(key) for key in SETTINGS} == before


def failed_create(runtime: Runtime, make_bundle: BundleFactory, sysctl: dict[str, str], **linux: object) -> str:
    bundle = make_bundle(["true"])
    bundle.config["linux"]["sysctl"] = sysctl
    bundle.config["linux"].update(linux)
    if not any(ns["type"] == "uts" for ns in bundle.config["linux"]["namespaces"]):
        bundle.config.pop("hostname", None)
    bundle.write()
    result = runtime("create", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def namespaces_without(kind: str) -> list[dict[str, str]]:
    return [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount") if t != kind]


@pytest.mark.parametrize(
    ("key", "missing"),
    [("net.ipv4.ip_forward", "network"), ("kernel.shmmax", "ipc"), ("fs.mqueue.queues_max", "ipc"),
     ("kernel.hostname", "uts")],
)  # fmt: skip
def test_key_of_a_namespace_the_container_does_not_own(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, key: str, missing: str
) -> None:
    line = failed_create(runtime, make_bundle, {key: "1"}, namespaces=namespaces_without(missing))
    assert f'linux.sysctl["{key}"]: needs the container to have its own {missing} namespace' in line


@pytest.mark.parametrize("key", ["kernel.panic", "vm.swappiness", "fs.file-max", "net/../kernel/panic", "net..x"])
def test_host_wide_or_malformed_key(runtime: Runtime, make_bundle: BundleFactory, no_trace: None, key: str) -> None:
    before = host_value("kernel.panic")
    line = failed_create(runtime, make_bundle, {key: "7"})
    assert f'linux.sysctl["{key}"]: ' in line
    assert host_value("kernel.panic") == before


def test_joined_host_network_namespace_is_refused(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    namespaces = namespaces_without("network") + [{"type": "network", "path": f"/proc/{os.getpid()}/ns/net"}]
    line = failed_create(runtime, make_bundle, {"net.ipv4.ip_forward": "1"}, namespaces=namespaces)
    assert "is the runtime's own (the host's)" in line


def test_unknown_key_and_bad_value_fail_create(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    line = failed_create(runtime, make_bundle, {"net.ipv4.no_such_setting": "1"})
    assert 'linux.sysctl["net.ipv4.no_such_setting"]: /proc/sys/net/ipv4/no_such_setting: No such file' in line
    line = failed_create(runtime, make_bundle, {"net.ipv4.ip_forward": "yes please"})
    assert 'linux.sysctl["net.ipv4.ip_forward"]: /proc/sys/net/ipv4/ip_forward: Invalid argument' in line
