"""Namespaces observed from inside real containers: new ones differ from the host's, joined ones match."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

# runtime-spec type → /proc/<pid>/ns/ file name
NS_FILES = {
    "network": "net",
    "ipc": "ipc",
    "uts": "uts",
    "mount": "mnt",
    "pid": "pid",
    "cgroup": "cgroup",
    "time": "time",
}


def run_output(runtime: Runtime, bundle: Bundle) -> str:
    """Run the bundle to completion and return its stdout (the test fails if the program fails)."""
    return runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout


def namespaces(bundle_config: dict, *extra: dict) -> None:
    bundle_config["linux"]["namespaces"] = [*bundle_config["linux"]["namespaces"], *extra]


def host_ns(name: str) -> str:
    return os.readlink(f"/proc/self/ns/{name}")


def wait_running(runtime: Runtime, cid: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while runtime.state(cid)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.02)


# --- pid --------------------------------------------------------------------------------------------


def test_program_is_pid_1_and_sees_only_its_processes(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["sh", "-c", "echo $$; sleep 0.01 & ls /proc | grep '^[0-9]*$' | sort -n | tr '\\n' ' '"])
    first, pids = run_output(runtime, bundle).splitlines()
    assert first == "1"
    seen = [int(p) for p in pids.split()]
    assert seen[0] == 1
    assert max(seen) < 20, f"host processes visible: {seen}"


# --- uts --------------------------------------------------------------------------------------------


def test_hostname_and_domainname(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(
        ["sh", "-c", "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname; hostname"],
        hostname="box-one",
        domainname="example.test",
    )
    assert run_output(runtime, bundle).splitlines() == ["box-one", "example.test", "box-one"]
    # The host's own names are untouched.
    assert Path("/proc/sys/kernel/hostname").read_text().strip() != "box-one"
    assert Path("/proc/sys/kernel/domainname").read_text().strip() != "example.test"


# --- every new namespace is new --------------------------------------------------------------------


def test_each_new_namespace_differs_from_the_host(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    names = list(NS_FILES.values())
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in names)
    bundle = make_bundle(["sh", "-c", script])
    namespaces(bundle.config, {"type": "time"})
    bundle.write()
    inside = dict(zip(names, run_output(runtime, bundle).split(), strict=True))
    assert set(inside) == set(names)
    for name in names:
        assert inside[name].startswith(f"{name}:[")
        assert inside[name] != host_ns(name), f"{name} namespace is the host's"


def test_without_a_namespace_the_host_one_is_kept(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "readlink /proc/self/ns/ipc; readlink /proc/self/ns/net"])
    bundle.config["linux"]["namespaces"] = [
        ns for ns in bundle.config["linux"]["namespaces"] if ns["type"] not in ("ipc", "network")
    ]
    bundle.write()
    ipc, net = run_output(runtime, bundle).split()
    assert ipc == host_ns("ipc")
    assert net == host_ns("net")


# --- joining by path -------------------------------------------------------------------------------


@pytest.fixture
def named_netns(tmp_path: Path) -> Iterator[Path]:
    """A network namespace kept alive by a bind mount on a file; unmounted and removed afterwards."""
    holder = tmp_path / "netns-holder"
    holder.mkdir()
    subprocess.run(["mount", "--bind", str(holder), str(holder)], check=True)
    subprocess.run(["mount", "--make-private", str(holder)], check=True)
    ns_file = holder / "netns"
    ns_file.touch()
    try:
        subprocess.run(["unshare", f"--net={ns_file}", "true"], check=True)
        yield ns_file
    finally:
        subprocess.run(["umount", str(ns_file)], check=False)
        subprocess.run(["umount", str(holder)], check=False)


def test_join_network_namespace_by_path(
    runtime: Runtime, make_bundle: BundleFactory, named_netns: Path, no_trace: None
) -> None:
    bundle = make_bundle(["readlink", "/proc/self/ns/net"])
    bundle.config["linux"]["namespaces"] = [
        {"type": "network", "path": str(named_netns)} if ns["type"] == "network" else ns
        for ns in bundle.config["linux"]["namespaces"]
    ]
    bundle.write()
    inode = os.stat(named_netns).st_ino
    assert run_output(runtime, bundle).strip() == f"net:[{inode}]"
    assert inode != os.stat("/proc/self/ns/net").st_ino


def test_join_ipc_namespace_of_another_container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    first = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(first.path), cid, stdin=open(os.devnull))
    pid = runtime.state(cid)["pid"]
    target = f"/proc/{pid}/ns/ipc"
    second = make_bundle(["readlink", "/proc/self/ns/ipc"])
    second.config["linux"]["namespaces"] = [
        {"type": "ipc", "path": target} if ns["type"] == "ipc" else ns for ns in second.config["linux"]["namespaces"]
    ]
    second.write()
    try:
        assert run_output(runtime, second).strip() == os.readlink(target)
        assert os.readlink(target) != host_ns("ipc")
    finally:
        runtime.ok("delete", "--force", cid)


# --- network -----------------------------------------------------------------------------------------


def test_loopback_is_up_in_a_new_network_namespace(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["sh", "-c", "ls /sys/class/net; ip -o link show lo"])
    lines = run_output(runtime, bundle).splitlines()
    interfaces = lines[:-1]
    assert interfaces == ["lo"]  # nothing of the host's interfaces
    flags = lines[-1].split("<", 1)[1].split(">", 1)[0].split(",")
    assert "UP" in flags and "LOOPBACK" in flags


# --- user ----------------------------------------------------------------------------------------------

HOST_ID = 100000
RUNC = shutil.which("runc")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory any uid may traverse: a bundle under pytest's 0700 tmp_path is out of reach of a
    container root mapped to an unprivileged host uid (runc fails there too: it cannot mount the rootfs)."""
    path = Path(tempfile.mkdtemp(prefix="ociruntime-userns-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def userns_bundle(
    make_bundle: BundleFactory, args: list[str], uid_map: list[dict], where: Path | None = None
) -> Bundle:
    """A bundle with a new user namespace; its rootfs copy is owned by whatever container root maps to."""
    bundle = make_bundle(args, copy_rootfs=True)
    if where is not None:
        moved = where / bundle.path.name
        shutil.move(str(bundle.path), moved)
        bundle.path = moved
    root_host = next(m["hostID"] for m in uid_map if m["containerID"] == 0)
    subprocess.run(["chown", "-R", "-h", f"{root_host}:{root_host}", str(bundle.rootfs)], check=True)
    namespaces(bundle.config, {"type": "user"})
    bundle.config["linux"]["uidMappings"] = uid_map
    bundle.config["linux"]["gidMappings"] = uid_map
    for caps in bundle.config["process"]["capabilities"].values():
        caps.append("CAP_CHOWN")  # for `chown` inside
    # The network namespace is created inside the user namespace, which owns it: sysfs can be mounted.
    return bundle.write()


def map_lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# Container root is host root, every other id is shifted: host root keeps its rights over the
# runtime's own 0700 state directory, so this works whatever the runtime does with exec.fifo.
SPLIT_MAP = [{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": HOST_ID + 1, "size": 65535}]
SHIFTED_MAP = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]


def test_user_namespace_id_maps_are_written(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = userns_bundle(
        make_bundle,
        ["sh", "-c", "cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user"],
        SPLIT_MAP,
    )
    lines = map_lines(run_output(runtime, bundle))
    expected = [["0", "0", "1"], ["1", str(HOST_ID + 1), "65535"]]
    assert lines[0:2] == expected
    assert lines[2:4] == expected
    assert lines[4] != [host_ns("user")]


def test_user_namespace_chown_inside_maps_to_shifted_host_id(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = userns_bundle(
        make_bundle, ["sh", "-c", "touch /owned && chown 5:7 /owned && stat -c '%u %g' /owned"], SPLIT_MAP
    )
    assert run_output(runtime, bundle).split() == ["5", "7"]
    owned = os.stat(bundle.rootfs / "owned")
    assert (owned.st_uid, owned.st_gid) == (HOST_ID + 5, HOST_ID + 7)


def run_shifted(runtime: Runtime, make_bundle: BundleFactory, open_dir: Path, args: list[str]) -> tuple[Bundle, str]:
    """Run with container root = host uid 100000, after checking that runc accepts the same bundle."""
    bundle = userns_bundle(make_bundle, args, SHIFTED_MAP, where=open_dir)
    if RUNC:
        oracle = subprocess.run(
            [RUNC, "--root", str(open_dir / "runc-state"), "run", "-b", str(bundle.path), new_id()],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert oracle.returncode == 0, f"runc rejects the bundle: {oracle.stderr}"
        for leftover in (bundle.rootfs / "made-inside", bundle.rootfs / "owned"):
            leftover.unlink(missing_ok=True)
    return bundle, run_output(runtime, bundle)


def test_user_namespace_shifted_root_id_maps(
    runtime: Runtime, make_bundle: BundleFactory, open_dir: Path, no_trace: None
) -> None:
    _, out = run_shifted(
        runtime, make_bundle, open_dir, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g"]
    )
    lines = map_lines(out)
    assert lines[0] == ["0", str(HOST_ID), "65536"]
    assert lines[1] == ["0", str(HOST_ID), "65536"]
    assert lines[2:] == [["0"], ["0"]]


def test_user_namespace_shifted_root_file_owner(
    runtime: Runtime, make_bundle: BundleFactory, open_dir: Path, no_trace: None
) -> None:
    bundle, _ = run_shifted(
        runtime, make_bundle, open_dir, ["sh", "-c", "touch /made-inside && touch /owned && chown 5:7 /owned"]
    )
    made = os.stat(bundle.rootfs / "made-inside")
    assert (made.st_uid, made.st_gid) == (HOST_ID, HOST_ID)
    owned = os.stat(bundle.rootfs / "owned")
    assert (owned.st_uid, owned.st_gid) == (HOST_ID + 5, HOST_ID + 7)


# --- time ----------------------------------------------------------------------------------------------


def test_time_namespace_offsets(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    boot_offset = 86400 * 3
    bundle = make_bundle(["cat", "/proc/uptime"])
    namespaces(bundle.config, {"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {
        "boottime": {"secs": boot_offset, "nanosecs": 0},
        "monotonic": {"secs": 7200, "nanosecs": 0},
    }
    bundle.write()
    before = float(Path("/proc/uptime").read_text().split()[0])
    inside = float(run_output(runtime, bundle).split()[0])
    after = float(Path("/proc/uptime").read_text().split()[0])
    assert before + boot_offset - 1 <= inside <= after + boot_offset + 1


def test_time_namespace_without_offsets_keeps_the_clock(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["cat", "/proc/uptime"])
    namespaces(bundle.config, {"type": "time"})
    bundle.write()
    before = float(Path("/proc/uptime").read_text().split()[0])
    inside = float(run_output(runtime, bundle).split()[0])
    after = float(Path("/proc/uptime").read_text().split()[0])
    assert before - 1 <= inside <= after + 1
