"""Mount options beyond mount(2) flags: recursive attributes, idmapped mounts, tmpcopyup, iversion,
and devices that collide with existing files. Observed from inside real containers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root


def run_output(runtime: Runtime, bundle: Bundle) -> str:
    return runtime.ok("run", "-b", str(bundle.path), new_id()).stdout


def mount_line(mountinfo: str, target: str) -> list[str]:
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == target:
            return fields
    raise AssertionError(f"{target} not mounted:\n{mountinfo}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A host directory with a submount (a tmpfs) and a file owned by uid/gid 1000."""
    top = tmp_path / "tree"
    (top / "sub").mkdir(parents=True)
    (top / "owned").write_text("x")
    os.chown(top / "owned", 1000, 1000)
    return top


def test_rro_makes_submounts_read_only(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    source = tmp_path / "src"
    (source / "inner").mkdir(parents=True)
    bundle = make_bundle(["sh", "-c", "cat /proc/self/mountinfo; touch /m/inner/x 2>&1; echo rc=$?"])
    bundle.config["mounts"] += [
        {"destination": "/m", "type": "bind", "source": str(source), "options": ["rbind", "rro", "rnosuid"]},
        {"destination": "/m/inner", "type": "tmpfs", "source": "tmpfs", "options": []},
    ]
    bundle.write()
    # The tmpfs is mounted after the rro bind (config order), so it is not covered: check the bind.
    out = run_output(runtime, bundle)
    fields = mount_line(out, "/m")
    assert "ro" in fields[5].split(",") and "nosuid" in fields[5].split(",")


def test_rro_covers_mounts_below_the_source(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # /sys/fs/cgroup has one mount per hierarchy below it: rbind brings them all, rro must cover each.
    bundle = make_bundle(["sh", "-c", "grep ' /hostrun' /proc/self/mountinfo"])
    bundle.config["mounts"].append(
        {"destination": "/hostrun", "type": "bind", "source": "/sys/fs/cgroup", "options": ["rbind", "rro"]}
    )
    bundle.write()
    out = run_output(runtime, bundle)
    lines = [line.split() for line in out.splitlines()]
    assert len(lines) > 1, out  # the cgroup hierarchies below /sys/fs/cgroup came along
    assert all("ro" in fields[5].split(",") for fields in lines), out


def test_plain_ro_bind_leaves_submounts_writable(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """The contrast that shows rro is doing the work: `ro` only affects the top mount."""
    bundle = make_bundle(["sh", "-c", "grep ' /hostrun' /proc/self/mountinfo"])
    bundle.config["mounts"].append(
        {"destination": "/hostrun", "type": "bind", "source": "/sys/fs/cgroup", "options": ["rbind", "ro"]}
    )
    bundle.write()
    lines = [line.split() for line in run_output(runtime, bundle).splitlines()]
    assert any("rw" in fields[5].split(",") for fields in lines[1:])


def test_idmap_with_the_mounts_own_mappings(
    runtime: Runtime, make_bundle: BundleFactory, tree: Path, no_trace: None
) -> None:
    """mounts[].uidMappings {containerID 0, hostID 1000}: a file of host uid 1000 shows as 0."""
    bundle = make_bundle(["sh", "-c", "stat -c '%u %g' /data/owned; grep ' /data ' /proc/self/mountinfo"])
    mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(tree), "options": ["bind", "idmap"],
         "uidMappings": mapping, "gidMappings": mapping}
    )  # fmt: skip
    bundle.write()
    first, mount = run_output(runtime, bundle).splitlines()[:2]
    assert first == "0 0"
    assert "idmapped" in mount.split()[5].split(",")
    assert (tree / "owned").stat().st_uid == 1000  # the host's view is unchanged


def test_idmap_without_user_namespace_or_mappings_is_refused(
    runtime: Runtime, make_bundle: BundleFactory, tree: Path, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(tree), "options": ["idmap"]})
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.returncode == 1
    assert "mounts[" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert runtime.container_dirs() == []


def test_tmpcopyup_starts_with_the_image_content(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "cat /etc/passwd | head -1; grep ' /etc ' /proc/self/mountinfo; touch /etc/new"])
    bundle.config["mounts"].append(
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}
    )
    bundle.write()
    out = run_output(runtime, bundle).splitlines()
    assert out[0].startswith("root:x:0:0")
    assert "tmpfs" in out[1]
    assert not (bundle.rootfs / "etc" / "new").exists()  # writes went to the tmpfs, not the image


def test_iversion_is_a_mount_flag(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # MS_I_VERSION is a flag, not filesystem data: tmpfs would refuse "iversion" as data.
    bundle = make_bundle(["sh", "-c", "grep ' /iv ' /proc/self/mountinfo"])
    bundle.config["mounts"].append({"destination": "/iv", "type": "tmpfs", "source": "tmpfs", "options": ["iversion"]})
    bundle.write()
    assert "tmpfs" in run_output(runtime, bundle)


def test_device_path_holding_another_file_is_an_error(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    """runtime-spec: a file at a device's path that is not that device is an error (runc quietly
    keeps whatever is there)."""
    bundle = make_bundle(["true"], copy_rootfs=True)
    bundle.config["linux"]["devices"] = [{"path": "/etc/hosts", "type": "c", "major": 1, "minor": 3}]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.returncode == 1
    assert "/etc/hosts" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert (bundle.rootfs / "etc" / "hosts").is_file()


def test_same_device_already_present_is_kept(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["stat", "-c", "%t:%T", "/dev/mynull"], copy_rootfs=True)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]
    os.mknod(bundle.rootfs / "dev" / "mynull", 0o20666, os.makedev(1, 3))
    bundle.config["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3}]
    bundle.write()
    assert run_output(runtime, bundle).strip() == "1:3"
