"""linux.resources → cgroup writes (ociruntime.cgroups.plan): PURE, both cgroup versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ociruntime.cgroups.plan import (
    Version,
    Write,
    blkio_weight_to_io_weight,
    memory_swap_to_v2,
    plan,
    shares_to_weight,
    version_of,
)
from ociruntime.errors import CgroupError

FIXTURES = Path("/work/shared/fixtures/engine-configs")
V1, V2 = Version.V1, Version.V2


def files(writes: list[Write]) -> dict[str, str]:
    return {w.file: w.value for w in writes if w.key != "devices"}


def test_version_from_paths() -> None:
    assert version_of({"": "/sys/fs/cgroup/x"}) is V2
    assert version_of({"": "/sys/fs/cgroup/unified/x", "memory": "/sys/fs/cgroup/memory/x"}) is V1


@pytest.mark.parametrize(("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (262144, 10000)])
def test_shares_to_weight_as_runc(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize(("blkio", "io"), [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight_as_runc(blkio: int, io: int) -> None:
    assert blkio_weight_to_io_weight(blkio) == io


def test_memory_v1() -> None:
    m = {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20, "swappiness": 10, "disableOOMKiller": True}
    assert files(plan({"memory": m}, V1)) == {
        "memory.limit_in_bytes": str(64 << 20),
        "memory.memsw.limit_in_bytes": str(128 << 20),
        "memory.soft_limit_in_bytes": str(32 << 20),
        "memory.swappiness": "10",
        "memory.oom_control": "1",
    }


def test_memory_v2_swap_is_total_minus_memory() -> None:
    got = files(plan({"memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 1 << 20}}, V2))
    assert got == {"memory.max": str(64 << 20), "memory.swap.max": str(64 << 20), "memory.low": str(1 << 20)}


def test_unlimited_memory_means_unlimited_swap() -> None:
    assert files(plan({"memory": {"limit": -1}}, V2)) == {"memory.max": "max", "memory.swap.max": "max"}
    assert files(plan({"memory": {"limit": -1}}, V1))["memory.memsw.limit_in_bytes"] == "-1"


@pytest.mark.parametrize(("swap", "limit", "expected"), [(0, 100, None), (-1, 100, -1), (300, 100, 200)])
def test_memory_swap_to_v2(swap: int, limit: int, expected: int | None) -> None:
    assert memory_swap_to_v2(swap, limit) == expected


@pytest.mark.parametrize(("swap", "limit"), [(100, 0), (50, 100)])
def test_memory_swap_to_v2_refuses(swap: int, limit: int) -> None:
    with pytest.raises(CgroupError, match="memory.swap.max"):
        memory_swap_to_v2(swap, limit)


def test_v2_refuses_what_it_has_no_file_for() -> None:
    for resources, name in [
        ({"memory": {"swappiness": 10}}, "memory.swappiness"),
        ({"memory": {"disableOOMKiller": True}}, "memory.oom_control"),
        ({"cpu": {"realtimeRuntime": 1000}}, "cpu.rt_runtime_us"),
        ({"blockIO": {"leafWeight": 10}}, "io.weight"),
        ({"network": {"classID": 1}}, "net_cls.classid"),
    ]:
        with pytest.raises(CgroupError, match=name.replace(".", r"\.")):
            plan(resources, V2)


def test_unified_only_on_v2_and_only_plain_files() -> None:
    assert files(plan({"unified": {"memory.high": "100000"}}, V2)) == {"memory.high": "100000"}
    with pytest.raises(CgroupError, match="needs cgroup v2"):
        plan({"unified": {"memory.high": "1"}}, V1)
    for bad in ("../x", "cgroup.procs", "a/b", ".."):
        with pytest.raises(CgroupError):
            plan({"unified": {bad: "1"}}, V2)


def test_cpu_v1_and_v2() -> None:
    c = {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0-1", "mems": "0", "idle": 0}
    assert files(plan({"cpu": c}, V1)) == {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "50000",
        "cpu.cfs_burst_us": "1000",
        "cpu.idle": "0",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
    }
    assert files(plan({"cpu": c}, V2)) == {
        "cpu.idle": "0",
        "cpu.weight": "39",
        "cpu.max.burst": "1000",
        "cpu.max": "50000 100000",
        "cpuset.cpus": "0-1",
        "cpuset.mems": "0",
    }
    assert files(plan({"cpu": {"quota": -1}}, V2)) == {"cpu.max": "max"}
    assert [w.key for w in plan({"cpu": c}, V1, with_devices=False)][-2:] == ["cpuset", "cpuset"]


def test_zero_means_unset_as_docker_sends_it() -> None:
    docker = {"blockIO": {"weight": 0}, "cpu": {"shares": 0}, "memory": {"disableOOMKiller": False}}
    assert files(plan(docker, V1)) == {}
    assert plan(docker, V2) == []


def test_pids() -> None:
    assert files(plan({"pids": {"limit": 7}}, V1)) == {"pids.max": "7"}
    assert files(plan({"pids": {"limit": -1}}, V2)) == {"pids.max": "max"}


def test_block_io() -> None:
    b = {
        "weight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
    }
    v1 = plan({"blockIO": b}, V1)
    assert v1[0] == Write("blkio", "blkio.bfq.weight", "300", (("blkio.weight", "300"),))
    assert files(v1)["blkio.throttle.read_bps_device"] == "8:0 1048576"
    assert files(v1)["blkio.throttle.write_iops_device"] == "8:0 100"
    v2 = plan({"blockIO": b}, V2)
    assert v2[0] == Write("", "io.bfq.weight", "300", (("io.weight", "default 2930"),))
    assert [w.value for w in v2 if w.file == "io.max"] == ["8:0 rbps=1048576", "8:0 wiops=100"]
    assert files(plan({"blockIO": {"leafWeight": 20}}, V1)) == {"blkio.leaf_weight": "20"}


def test_hugepages_network_rdma() -> None:
    huge = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}
    assert plan(huge, V1)[0] == Write("hugetlb", "hugetlb.2MB.limit_in_bytes", "4194304")
    assert files(plan(huge, V2)) == {"hugetlb.2MB.max": "4194304"}
    net = {"network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]}}
    assert [(w.key, w.file, w.value) for w in plan(net, V1) if w.key != "devices"] == [
        ("net_cls", "net_cls.classid", "1048577"),
        ("net_prio", "net_prio.ifpriomap", "eth0 5"),
    ]
    rdma = {"rdma": {"mlx5_1": {"hcaHandles": 3}}}
    assert files(plan(rdma, V2)) == {"rdma.max": "mlx5_1 hca_handle=3 hca_object=max"}


def test_devices_only_on_v1_and_not_for_update() -> None:
    v1 = [w for w in plan(None, V1) if w.key == "devices"]
    assert (v1[0].file, v1[0].value) == ("devices.deny", "a")
    assert not [w for w in plan(None, V1, with_devices=False) if w.key == "devices"]
    assert plan(None, V2) == []


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="engine config fixtures not on this machine")
@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*-create-*.json")) if FIXTURES.is_dir() else [])
def test_engine_configs_plan_on_both_versions(name: str) -> None:
    resources = json.loads((FIXTURES / name).read_text())["linux"].get("resources")
    assert plan(resources, V1)
    plan(resources, V2)  # nothing an engine sends is refused
