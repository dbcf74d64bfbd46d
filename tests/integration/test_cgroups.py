"""cgroups on real containers, on whichever version this kernel has (the host: v1 hybrid; the
cgroup2-vm: v2). Each test reads the container's cgroup files and, where the kernel shows an effect,
checks the effect from inside the container: fork refused, OOM kill, device denied, processes frozen.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ociruntime.cgroups.hierarchy import read_layout
from ociruntime.state.store import STATE_FILE
from tests.conftest import Bundle, BundleFactory, Runtime, cgroup_dirs, new_id

pytestmark = pytest.mark.root

LAYOUT = read_layout()
V2 = LAYOUT.is_v2
NULL = open(os.devnull)  # noqa: SIM115 - the container's stdin for the whole module


def cg_file(bundle: Bundle, controller: str, name: str) -> Path:
    """A file of the container's cgroup: in the v1 hierarchy of `controller`, or the v2 directory."""
    if V2:
        return Path(LAYOUT.hierarchies[0].mountpoint) / bundle.cgroup.lstrip("/") / name
    for h in LAYOUT.hierarchies:
        if controller in h.key.split(","):
            return Path(h.mountpoint) / bundle.cgroup.lstrip("/") / name
    raise AssertionError(f"no v1 hierarchy for {controller}")


def read(bundle: Bundle, controller: str, name: str) -> str:
    return cg_file(bundle, controller, name).read_text().strip()


def with_resources(make_bundle: BundleFactory, args: list[str], resources: dict[str, Any], **kw: Any) -> Bundle:
    bundle = make_bundle(args, **kw)
    bundle.config["linux"]["resources"] = resources
    return bundle.write()


def start(runtime: Runtime, bundle: Bundle) -> str:
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=NULL)
    return cid


def wait_for(predicate: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# --- resources -----------------------------------------------------------------------------------


def test_memory_cpu_pids_files(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    resources = {
        "memory": {"limit": 64 << 20, "swap": 96 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "cpus": "0", "mems": "0", "idle": 0},
        "pids": {"limit": 40},
        "blockIO": {"weight": 300},
    }
    if not V2:
        resources["memory"] |= {"swappiness": 10, "disableOOMKiller": False}
    bundle = with_resources(make_bundle, ["sleep", "100"], resources)
    cid = start(runtime, bundle)
    if V2:
        assert read(bundle, "", "memory.max") == str(64 << 20)
        assert read(bundle, "", "memory.swap.max") == str(32 << 20)  # swap only: total minus memory
        assert read(bundle, "", "memory.low") == str(32 << 20)
        assert read(bundle, "", "cpu.weight") == "20"  # runc's conversion of 512 shares
        assert read(bundle, "", "cpu.max") == "50000 100000"
        assert read(bundle, "", "cpu.max.burst") == "1000"
        assert read(bundle, "", "cpu.idle") == "0"
        assert read(bundle, "", "cpuset.cpus") == "0"
        weight = cg_file(bundle, "", "io.bfq.weight")
        assert (
            (weight.read_text().split()[1] == "300")
            if weight.exists()
            else read(bundle, "", "io.weight") == "default 2930"
        )
    else:
        assert read(bundle, "memory", "memory.limit_in_bytes") == str(64 << 20)
        assert read(bundle, "memory", "memory.memsw.limit_in_bytes") == str(96 << 20)
        assert read(bundle, "memory", "memory.soft_limit_in_bytes") == str(32 << 20)
        assert read(bundle, "memory", "memory.swappiness") == "10"
        assert read(bundle, "cpu", "cpu.shares") == "512"
        assert read(bundle, "cpu", "cpu.cfs_quota_us") == "50000"
        assert read(bundle, "cpu", "cpu.cfs_period_us") == "100000"
        assert read(bundle, "cpu", "cpu.cfs_burst_us") == "1000"
        assert read(bundle, "cpuset", "cpuset.cpus") == "0"
        assert read(bundle, "cpuset", "cpuset.mems") == "0"
        assert read(bundle, "blkio", "blkio.bfq.weight").split()[-1] == "300"
    assert read(bundle, "pids", "pids.max") == "40"
    runtime.ok("delete", "--force", cid)


def test_block_io_throttle(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    disks = [line.split() for line in Path("/proc/partitions").read_text().splitlines()[2:] if line.strip()]
    if not disks:
        # The cgroup2 VM has no block device: then a throttle the kernel cannot apply must be a clear
        # error naming the file and the value, with nothing left behind.
        bundle = with_resources(
            make_bundle, ["true"], {"blockIO": {"throttleReadBpsDevice": [{"major": 7, "minor": 99, "rate": 1048576}]}}
        )
        result = runtime("run", "-b", str(bundle.path), new_id(), stdin=NULL)
        assert result.returncode == 1
        assert "io.max" in result.stderr and "7:99" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        return
    major, minor = int(disks[0][0]), int(disks[0][1])
    dev = {"major": major, "minor": minor}
    resources = {
        "blockIO": {
            "throttleReadBpsDevice": [dev | {"rate": 1048576}],
            "throttleWriteBpsDevice": [dev | {"rate": 2097152}],
            "throttleReadIOPSDevice": [dev | {"rate": 100}],
            "throttleWriteIOPSDevice": [dev | {"rate": 200}],
        }
    }
    bundle = with_resources(make_bundle, ["sleep", "100"], resources)
    cid = start(runtime, bundle)
    if V2:
        assert f"{major}:{minor} rbps=1048576 wbps=2097152 riops=100 wiops=200" in read(bundle, "", "io.max")
    else:
        assert read(bundle, "blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"
        assert read(bundle, "blkio", "blkio.throttle.write_bps_device") == f"{major}:{minor} 2097152"
        assert read(bundle, "blkio", "blkio.throttle.read_iops_device") == f"{major}:{minor} 100"
        assert read(bundle, "blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 200"
    runtime.ok("delete", "--force", cid)


def test_hugetlb_rdma_network_unified(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """Applied where this host has the controller; otherwise create fails naming what is missing."""
    huge = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]}
    net = {"network": {"classID": 1048577}}
    unified = {"unified": {"memory.high": str(48 << 20)}}
    if V2:
        bundle = with_resources(make_bundle, ["sleep", "100"], huge | unified)
        cid = start(runtime, bundle)
        assert read(bundle, "", "hugetlb.2MB.max") == str(4 << 20)
        assert read(bundle, "", "memory.high") == str(48 << 20)
        runtime.ok("delete", "--force", cid)
        expect_create_error(runtime, make_bundle, net, "net_cls")
        expect_create_error(runtime, make_bundle, {"cpu": {"realtimeRuntime": 1000}}, "realtime")
    else:
        mounted = {c for h in LAYOUT.hierarchies for c in h.key.split(",")}
        for resources, controller in (
            (huge, "hugetlb"),
            (net, "net_cls"),
            ({"rdma": {"x": {"hcaHandles": 1}}}, "rdma"),
        ):
            assert controller not in mounted, "this host mounts it now: extend the test to read its files"
            expect_create_error(runtime, make_bundle, resources, f"{controller} controller")
        expect_create_error(runtime, make_bundle, unified, "needs cgroup v2")
    # rdma with no such device: the kernel refuses, and the error names file and value
    expect_create_error(runtime, make_bundle, {"rdma": {"nosuchdev": {"hcaHandles": 1}}}, "rdma")


def expect_create_error(runtime: Runtime, make_bundle: BundleFactory, resources: dict[str, Any], text: str) -> None:
    bundle = with_resources(make_bundle, ["true"], resources)
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=NULL)
    assert result.returncode == 1 and text in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert runtime.container_dirs() == [] and cgroup_dirs(bundle.cgroup) == []


def test_bad_value_names_file_and_value(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    expect_create_error(runtime, make_bundle, {"cpu": {"cpus": "999"}}, "cpuset.cpus: cannot write '999'")


def test_engine_configs_apply(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """podman and docker send memory+swap, pids and device lists: they must apply as sent."""
    fixtures = Path("/work/shared/fixtures/engine-configs")
    if not fixtures.is_dir():
        pytest.skip("engine config fixtures not on this machine")
    for name in ("podman-create-4.json", "docker-create-4.json", "containerd-create-3.json"):
        resources = json.loads((fixtures / name).read_text())["linux"]["resources"]
        bundle = with_resources(
            make_bundle, ["sh", "-c", "echo x > /dev/null && head -c1 /dev/zero | wc -c"], resources
        )
        result = runtime("run", "-b", str(bundle.path), new_id(), stdin=NULL)
        assert (result.returncode, result.stdout.strip()) == (0, "1"), (name, result.stderr)


# --- effects seen from inside ----------------------------------------------------------------------


def test_pids_limit_stops_fork(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    script = "for i in 1 2 3 4 5 6; do sleep 5 & done; echo forked"
    bundle = with_resources(make_bundle, ["sh", "-c", script], {"pids": {"limit": 4}})
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=NULL)
    assert "fork" in result.stderr and "Resource temporarily unavailable" in result.stderr, result.stderr


def test_denied_device_cannot_be_opened(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    deny_zero = [
        {"allow": False, "access": "rwm"},
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    ]
    script = (
        "test -c /dev/zero && echo present; head -c1 /dev/zero >/dev/null; echo zero=$?; echo >/dev/null; echo null=$?"
    )
    bundle = with_resources(make_bundle, ["sh", "-c", script], {"devices": deny_zero})
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=NULL)
    assert result.stdout.split() == ["present", "zero=1", "null=0"], result.stderr
    assert "Operation not permitted" in result.stderr


def test_device_rules_in_devices_list(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    if V2:
        # No devices.list on v2: the same rules, seen through the eBPF program. A node the config creates
        # is allowed first, then the config's deny-all (applied in its listed order) takes it back; the
        # runtime's default devices come after and stay usable.
        bundle = with_resources(
            make_bundle,
            ["sh", "-c", "head -c0 /dev/null && echo null=ok; head -c1 /dev/port >/dev/null 2>&1 || echo port=denied"],
            {"devices": [{"allow": False, "access": "rwm"}]},
        )
        bundle.config["linux"]["devices"] = [{"path": "/dev/port", "type": "c", "major": 1, "minor": 4}]
        bundle.write()
        result = runtime("run", "-b", str(bundle.path), new_id(), stdin=NULL)
        assert result.stdout.split() == ["null=ok", "port=denied"], result.stderr
        return
    bundle = with_resources(make_bundle, ["sleep", "100"], {"devices": [{"allow": False, "access": "rwm"}]})
    cid = start(runtime, bundle)
    listed = set(read(bundle, "devices", "devices.list").splitlines())
    assert listed == {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                      "c 5:0 rwm", "c 5:2 rwm", "c 10:200 rwm", "c 136:* rwm"}  # what runc 1.1.5 leaves  # fmt: skip
    runtime.ok("delete", "--force", cid)


def test_oom_kill_and_events(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    limit = 32 << 20
    memory = {"limit": limit, "swap": limit}  # no swap to escape into
    # awk doubles a string until the limit: memory it writes itself, in user space. The rootfs is a copy
    # under tmp_path (tmpfs in the cgroup2 VM) so that, with no swap, reclaim cannot keep evicting and
    # refaulting the program's own text instead of giving up and OOM-killing it.
    hog = """awk 'BEGIN { s = "x"; while (1) s = s s }'"""
    script = f"while [ ! -e /tmp/go ]; do sleep 0.05; done; {hog}; sleep 100"  # starts once events listens
    bundle = with_resources(make_bundle, ["sh", "-c", script], {"memory": memory}, copy_rootfs=True)
    cid = start(runtime, bundle)
    out = tmp_path / "events.out"
    with out.open("w") as f:
        events = subprocess.Popen([runtime.binary, "--root", str(runtime.root), "events", "--interval", "1s", cid],
                                  stdout=f, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert wait_for(lambda: '"type":"stats"' in out.read_text(), 30)
        (bundle.rootfs / "tmp" / "go").touch()
        assert wait_for(lambda: '"type":"oom"' in out.read_text(), 30), out.read_text()
    finally:
        runtime.ok("kill", cid, "KILL")
        events.wait(timeout=10)  # the stream ends when the container stops
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"type": "oom", "id": cid} in lines
    assert any(e["type"] == "stats" and e["data"]["memory"]["usage"]["limit"] == limit for e in lines)
    runtime.ok("delete", cid)


def test_pause_freezes_and_resume_thaws(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    script = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done"
    bundle = make_bundle(["sh", "-c", script], copy_rootfs=True)
    cid = start(runtime, bundle)
    counter = bundle.rootfs / "tmp" / "count"

    def value() -> int:
        # The loop rewrites the file constantly: a read can catch it truncated or half-written.
        text = counter.read_text().strip("\x00 \n") if counter.exists() else ""
        return int(text) if text.isdigit() else -1

    assert wait_for(lambda: value() > 10)
    runtime.ok("pause", cid)
    assert runtime.state(cid)["status"] == "paused"
    assert json.loads(runtime.ok("list", "--format", "json").stdout)[0]["status"] == "paused"
    frozen = value()
    time.sleep(0.5)
    assert value() == frozen
    assert runtime("pause", cid).returncode == 1
    runtime.ok("resume", cid)
    assert runtime.state(cid)["status"] == "running"
    assert wait_for(lambda: value() > frozen + 10)
    result = runtime("resume", cid)
    assert result.returncode == 1 and "not paused" in result.stderr
    runtime.ok("pause", cid)
    runtime.ok("delete", "--force", cid)  # a paused container is thawed to be killed


def test_update_running_container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = with_resources(make_bundle, ["sleep", "100"], {"memory": {"limit": 64 << 20}, "pids": {"limit": 40}})
    cid = start(runtime, bundle)
    runtime.ok("update", "--memory", "100m", "--memory-swap", "200m", "--pids-limit", "9", "--cpu-quota", "20000",
               "--cpu-period", "100000", "--cpu-share", "256", cid)  # fmt: skip
    assert read(bundle, "pids", "pids.max") == "9"
    if V2:
        assert read(bundle, "", "memory.max") == str(100 << 20)
        assert read(bundle, "", "memory.swap.max") == str(100 << 20)
        assert read(bundle, "", "cpu.max") == "20000 100000"
        assert read(bundle, "", "cpu.weight") == "10"
    else:
        assert read(bundle, "memory", "memory.limit_in_bytes") == str(100 << 20)
        assert read(bundle, "memory", "memory.memsw.limit_in_bytes") == str(200 << 20)
        assert read(bundle, "cpu", "cpu.cfs_quota_us") == "20000"
        assert read(bundle, "cpu", "cpu.shares") == "256"
    # lowering memory below memory+swap's old value needs the other write order: handled
    runtime.ok("update", "--resources", "-", cid, input=b'{"memory": {"limit": 50000000, "swap": 60000000}}')
    memory_file = ("", "memory.max") if V2 else ("memory", "memory.limit_in_bytes")
    assert int(read(bundle, *memory_file)) == 50000000 // 4096 * 4096
    stored = marshal.loads((runtime.root / cid / STATE_FILE).read_bytes())["config"]["linux"]["resources"]
    assert stored["memory"] == {"limit": 50000000, "swap": 60000000}
    assert stored["pids"] == {"limit": 9} and stored["cpu"]["quota"] == 20000
    # a limit below current usage with checkBeforeUpdate is refused, and nothing changes
    body = b'{"memory": {"limit": 4096, "checkBeforeUpdate": true}}'
    result = runtime("update", "-r", "-", cid, input=body)
    assert result.returncode == 1 and "checkBeforeUpdate" in result.stderr
    assert int(read(bundle, *memory_file)) == 50000000 // 4096 * 4096
    runtime.ok("delete", "--force", cid)
    assert runtime("update", "--pids-limit", "3", cid).returncode == 1


def test_ps_formats(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    cid = start(runtime, bundle)
    assert wait_for(lambda: len(json.loads(runtime.ok("ps", "--format", "json", cid).stdout)) == 3)
    pids = json.loads(runtime.ok("ps", "--format", "json", cid).stdout)
    assert pids == sorted(int(p) for p in read(bundle, "pids", "cgroup.procs").split())
    table = runtime.ok("ps", cid).stdout.splitlines()
    assert table[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]  # ps -ef, as runc
    assert sorted(int(line.split()[1]) for line in table[1:]) == pids
    custom = runtime.ok("ps", cid, "-o", "pid,comm").stdout.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"] and sorted(c.split()[1] for c in custom[1:]) == [
        "sh",
        "sleep",
        "sleep",
    ]
    runtime.ok("delete", "--force", cid)


def test_kill_all_signals_every_process(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    cid = start(runtime, bundle)
    assert wait_for(lambda: len(json.loads(runtime.ok("ps", "-f", "json", cid).stdout)) == 3)
    pids = json.loads(runtime.ok("ps", "-f", "json", cid).stdout)
    runtime.ok("kill", "--all", cid, "KILL")
    assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}/cmdline") and Path(f"/proc/{p}/cmdline").read_bytes()
                                    for p in pids))  # fmt: skip
    assert wait_for(lambda: runtime.state(cid)["status"] == "stopped")
    runtime.ok("delete", cid)


# --- events --stats against runc's names ----------------------------------------------------------


def stats_of(binary: str, root: Path, bundle: Bundle) -> dict[str, Any]:
    cid = new_id()
    run = [binary, "--root", str(root)]
    # no pipes: the container's init would hold them open (see Runtime.__call__)
    subprocess.run([*run, "run", "-d", "-b", str(bundle.path), cid], stdin=NULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)  # fmt: skip
    try:
        out = subprocess.run([*run, "events", "--stats", cid], check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run([*run, "delete", "--force", cid], capture_output=True)
    event = json.loads(out)
    assert (event["type"], event["id"]) == ("stats", cid)
    return dict(event["data"])


def test_events_stats_names_match_runc(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path,
                                        no_trace: None) -> None:  # fmt: skip
    resources = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    ours = stats_of(runtime.binary, runtime.root, with_resources(make_bundle, ["sleep", "100"], resources))
    assert ours["pids"] == {"current": 1, "limit": 50}
    assert ours["memory"]["usage"]["limit"] == 64 << 20
    assert ours["cpu"]["usage"]["total"] > 0
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed: field names checked against our own expectations only")
    theirs = stats_of(runc, tmp_path / "runc-state", with_resources(make_bundle, ["sleep", "100"], resources))
    assert ours.keys() == theirs.keys()
    for section in ("cpu", "memory", "pids"):
        assert ours[section].keys() <= theirs[section].keys() | {"cache"}, section
    # runc 1.1 leaves cpus and mems out on v2 (it reads no cpuset files there); we report them
    assert theirs["cpuset"].keys() <= ours["cpuset"].keys() <= theirs["cpuset"].keys() | {"cpus", "mems"}
    assert ours["cpu"]["usage"].keys() >= {"kernel", "user"} and theirs["cpu"]["usage"].keys() >= {"kernel", "user"}
    # runc 1.1 has no v2 peak (memory.peak is newer); "max" is its v1 name for it
    assert theirs["memory"]["usage"].keys() <= ours["memory"]["usage"].keys() <= {"limit", "usage", "max", "failcnt"}
    assert ours["memory"]["raw"].keys() == theirs["memory"]["raw"].keys()


# --- cgroup paths, namespace, mount, delete ------------------------------------------------------


def test_cgroup_namespace_and_mount_show_own_subtree(runtime: Runtime, make_bundle: BundleFactory,
                                                     no_trace: None) -> None:  # fmt: skip
    bundle = make_bundle(["sh", "-c", "cat /proc/self/cgroup; echo ---; cat /sys/fs/cgroup/pids.max "
                          "/sys/fs/cgroup/pids/pids.max 2>/dev/null; true"])  # fmt: skip
    bundle.config["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                    "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})  # fmt: skip
    bundle.config["linux"]["resources"] = {"pids": {"limit": 33}}
    bundle.write()
    result = runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=NULL)
    own, _, limit = result.stdout.partition("---\n")
    # inside its cgroup namespace the container's cgroup is the root, in every hierarchy
    assert {line.split(":", 2)[2] for line in own.splitlines()} == {"/"}, own
    assert limit.strip() == "33"  # the mount shows the container's own cgroup, not the host's root


def test_delete_removes_only_what_it_created(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    parent = bundle.cgroup  # made here, before the container: not the container's to remove
    for h in LAYOUT.hierarchies:
        made = Path(h.mountpoint)
        for part in parent.strip("/").split("/"):
            made = made / part
            if made.is_dir():
                continue
            made.mkdir()
            if "cpuset" in h.key.split(","):  # a v1 cpuset cgroup takes no task until it has cpus and mems
                for name in ("cpuset.cpus", "cpuset.mems"):
                    (made / name).write_text((made.parent / name).read_text())
    try:
        bundle.config["linux"]["cgroupsPath"] = parent + "/leaf"
        bundle.write()
        cid = start(runtime, bundle)
        leaf = cg_file(bundle, "pids", "leaf")
        (leaf / "nested").mkdir()  # a cgroup made inside the container's own: removed with it
        runtime.ok("delete", "--force", cid)
        assert not leaf.exists()
        assert all((Path(h.mountpoint) / parent.lstrip("/")).is_dir() for h in LAYOUT.hierarchies)
        # joining an existing cgroup: used as is, never removed
        bundle.config["linux"]["cgroupsPath"] = parent
        bundle.write()
        cid = start(runtime, bundle)
        assert str(runtime.state(cid)["pid"]) in read(bundle, "pids", "cgroup.procs").split()
        runtime.ok("delete", "--force", cid)
        assert all((Path(h.mountpoint) / parent.lstrip("/")).is_dir() for h in LAYOUT.hierarchies)
    finally:
        for directory in sorted(cgroup_dirs(parent), key=lambda p: -len(str(p))):
            directory.rmdir()
