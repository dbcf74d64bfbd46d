"""ociruntime.spec.sysctl: which namespace a key belongs to, and refusals naming the key."""

from __future__ import annotations

import pytest

from ociruntime.errors import ConfigInvalid
from ociruntime.spec.sysctl import namespace_of, normalize, plan_sysctl

ALL = {"ipc", "uts", "network"}


@pytest.mark.parametrize(
    ("key", "namespace"),
    [("kernel.msgmax", "ipc"), ("kernel.msgmnb", "ipc"), ("kernel.sem", "ipc"), ("kernel.shmall", "ipc"),
     ("kernel.shm_rmid_forced", "ipc"), ("fs.mqueue.queues_max", "ipc"), ("kernel.hostname", "uts"),
     ("kernel.domainname", "uts"), ("net.ipv4.ip_forward", "network"), ("net.core.somaxconn", "network"),
     ("kernel.panic", None), ("kernel.semx", None), ("vm.swappiness", None), ("fs.file-max", None),
     ("kernel.hostnamex", None), ("netfilter.x", None)],
)  # fmt: skip
def test_namespace_of(key: str, namespace: str | None) -> None:
    assert namespace_of(key) == namespace


def test_both_key_forms() -> None:
    assert normalize("net.ipv4.ip_forward") == ("net.ipv4.ip_forward", "net/ipv4/ip_forward")
    assert normalize("net/ipv4/conf/eth0.100/forwarding") == (
        "net.ipv4.conf.eth0.100.forwarding",
        "net/ipv4/conf/eth0.100/forwarding",
    )
    for bad in ("", "net..x", "net/../kernel/panic", "net/./x", ".net"):
        with pytest.raises(ValueError):
            normalize(bad)


def test_plan() -> None:
    writes = plan_sysctl({"net.ipv4.ip_forward": "1", "kernel.shmmax": "5"}, ALL)
    assert [(w.path, w.value, w.namespace) for w in writes] == [
        ("net/ipv4/ip_forward", "1", "network"),
        ("kernel/shmmax", "5", "ipc"),
    ]
    assert writes[0].field == 'linux.sysctl["net.ipv4.ip_forward"]'


@pytest.mark.parametrize(
    ("settings", "owned", "reason"),
    [({"net.ipv4.ip_forward": "1"}, {"ipc", "uts"}, "own network namespace"),
     ({"kernel.shmmax": "1"}, {"network"}, "own ipc namespace"),
     ({"kernel.panic": "1"}, ALL, "not in a separate kernel namespace"),
     ({"net/../../etc": "1"}, ALL, "is not a sysctl name"),
     ({"net.core.somaxconn": "1\n2"}, ALL, "one line")],
)  # fmt: skip
def test_refusals(settings: dict[str, str], owned: set[str], reason: str) -> None:
    with pytest.raises(ConfigInvalid, match=reason) as info:
        plan_sysctl(settings, owned)
    assert info.value.path == f'linux.sysctl["{next(iter(settings))}"]'


def test_ownership_check_can_be_skipped() -> None:
    assert plan_sysctl({"net.ipv4.ip_forward": "1"}, None)[0].namespace == "network"
