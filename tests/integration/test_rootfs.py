"""The container's filesystem and process settings, observed from inside real containers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")


def run_output(runtime: Runtime, bundle: Bundle, *flags: str) -> str:
    """Run the bundle to completion; its stdout (the test fails if the program fails)."""
    return runtime.ok("run", *flags, "-b", str(bundle.path), new_id(), stdin=open(os.devnull)).stdout


def runc_output(bundle: Bundle, tmp_path: Path) -> str | None:
    """The same bundle run by runc (the oracle), or None when runc is not installed."""
    if RUNC is None:
        return None
    result = subprocess.run(
        [RUNC, "--root", str(tmp_path / "runc-state"), "run", "-b", str(bundle.path), new_id()],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"runc failed: {result.stderr}"
    return result.stdout


@dataclass
class MountEntry:
    mountpoint: str
    options: set[str]
    optional: list[str]
    fstype: str
    source: str
    super_options: set[str]


def parse_mountinfo(text: str) -> dict[str, MountEntry]:
    """mountinfo lines by mount point (the last mount wins, as the kernel shows it)."""
    entries: dict[str, MountEntry] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        fstype, source, super_options = right.split()[:3]
        entries[fields[4]] = MountEntry(
            fields[4], set(fields[5].split(",")), fields[6:], fstype, source, set(super_options.split(","))
        )
    return entries


def mountinfo_inside(runtime: Runtime, bundle: Bundle, *flags: str) -> dict[str, MountEntry]:
    bundle.config["process"]["args"] = ["cat", "/proc/self/mountinfo"]
    bundle.write()
    return parse_mountinfo(run_output(runtime, bundle, *flags))


def add_mounts(bundle: Bundle, *mounts: dict) -> Bundle:
    bundle.config["mounts"].extend(mounts)
    return bundle.write()


# --- mounts ---------------------------------------------------------------------------------------


def test_mount_flags_and_fstype(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = add_mounts(
        make_bundle(copy_rootfs=True),
        {
            "destination": "/mnt/locked",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["ro", "nosuid", "nodev", "noexec", "size=1m"],
        },
        {"destination": "/mnt/open", "type": "tmpfs", "source": "tmpfs", "options": ["rw"]},
    )
    mounts = mountinfo_inside(runtime, bundle)
    locked = mounts["/mnt/locked"]
    assert locked.fstype == "tmpfs"
    assert {"ro", "nosuid", "nodev", "noexec"} <= locked.options
    assert "size=1024k" in locked.super_options
    opened = mounts["/mnt/open"]
    assert "rw" in opened.options and not {"ro", "nosuid", "nodev", "noexec"} & opened.options
    # The example config's own mounts
    assert mounts["/proc"].fstype == "proc"
    assert mounts["/sys"].fstype == "sysfs" and "ro" in mounts["/sys"].options
    assert mounts["/dev/pts"].fstype == "devpts"
    assert mounts["/dev/shm"].fstype == "tmpfs" and {"nosuid", "noexec", "nodev"} <= mounts["/dev/shm"].options
    assert mounts["/dev/mqueue"].fstype == "mqueue"


def test_bind_mounts_of_host_dir_and_file_relative_to_bundle(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(
        ["sh", "-c", "cat /data/inner.txt /etc/greeting; ls -d /new/deep/dir; touch /data/written"], copy_rootfs=True
    )
    (bundle.path / "shared").mkdir()
    (bundle.path / "shared" / "inner.txt").write_text("from a directory\n")
    (bundle.path / "greeting.txt").write_text("from a file\n")
    add_mounts(
        bundle,
        {"destination": "/data", "type": "bind", "source": "shared", "options": ["rbind", "rw"]},
        {"destination": "/etc/greeting", "type": "bind", "source": "greeting.txt", "options": ["bind", "ro"]},
        {"destination": "/new/deep/dir", "type": "tmpfs", "source": "tmpfs"},
    )
    assert not (bundle.rootfs / "etc" / "greeting").exists()
    assert run_output(runtime, bundle).splitlines() == ["from a directory", "from a file", "/new/deep/dir"]
    assert (bundle.path / "shared" / "written").exists()  # the same directory, seen from both sides
    assert (bundle.rootfs / "new" / "deep" / "dir").is_dir()  # the missing destination was created
    assert (bundle.rootfs / "etc" / "greeting").is_file()


def test_readonly_bind_mount_refuses_writes(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "touch /data/x 2>&1; echo rc=$?"], copy_rootfs=True)
    (bundle.path / "shared").mkdir()
    add_mounts(
        bundle, {"destination": "/data", "type": "none", "source": "shared", "options": ["bind", "ro", "nosuid"]}
    )
    out = run_output(runtime, bundle)
    assert "Read-only file system" in out and "rc=1" in out
    assert not (bundle.path / "shared" / "x").exists()
    mounts = mountinfo_inside(runtime, bundle)
    assert {"ro", "nosuid"} <= mounts["/data"].options


@pytest.fixture
def shared_source(tmp_path: Path) -> Iterator[Path]:
    """A host directory that is a mount point of its own peer group (the host's "/" is private here)."""
    source = tmp_path / "shared-src"
    source.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(source)], check=True)
    subprocess.run(["mount", "--make-shared", str(source)], check=True)
    try:
        yield source
    finally:
        subprocess.run(["umount", "-l", str(source)], check=False)


def optional_kinds(entry: MountEntry) -> set[str]:
    return {field.split(":")[0] for field in entry.optional}


@pytest.mark.parametrize(
    ("option", "expected"),
    # The container's "/" is a slave of the host's mounts, so a shared bind mount of a host mount is
    # both shared (its own peer group) and a slave (master:N) - the kernel's rule, runc shows the same.
    [("rshared", {"shared", "master"}), ("rslave", {"master"}), ("rprivate", set()), ("private", set())],
)
def test_bind_mount_propagation(
    runtime: Runtime, make_bundle: BundleFactory, shared_source: Path, option: str, expected: set[str], no_trace: None
) -> None:
    bundle = add_mounts(
        make_bundle(copy_rootfs=True),
        {"destination": "/prop", "type": "bind", "source": str(shared_source), "options": ["rbind", option]},
    )
    entry = mountinfo_inside(runtime, bundle)["/prop"]
    assert optional_kinds(entry) == expected, entry.optional


def test_slave_mount_receives_host_mounts(
    runtime: Runtime, make_bundle: BundleFactory, shared_source: Path, no_trace: None
) -> None:
    (shared_source / "sub").mkdir()
    bundle = add_mounts(
        make_bundle(["sleep", "100"], copy_rootfs=True),
        {"destination": "/prop", "type": "bind", "source": str(shared_source), "options": ["rbind", "rslave"]},
    )
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    pid = runtime.state(cid)["pid"]
    try:
        assert " /prop/sub " not in Path(f"/proc/{pid}/mountinfo").read_text()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shared_source / "sub")], check=True)
        mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
        assert " /prop/sub " in mountinfo
    finally:
        subprocess.run(["umount", "-l", str(shared_source / "sub")], check=False)
        runtime.ok("delete", "--force", cid)


@pytest.mark.parametrize(("propagation", "expected"), [("shared", {"shared"}), ("private", set()), ("slave", set())])
def test_rootfs_propagation(
    runtime: Runtime, make_bundle: BundleFactory, propagation: str, expected: set[str], no_trace: None
) -> None:
    # "slave" of a private host "/" has no master: the kernel shows it like a private mount.
    bundle = make_bundle()
    bundle.config["linux"]["rootfsPropagation"] = propagation
    assert optional_kinds(mountinfo_inside(runtime, bundle)["/"]) == expected


def test_readonly_root_with_writable_tmpfs(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = add_mounts(
        make_bundle(["sh", "-c", "touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok"]),
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    )
    assert bundle.config["root"]["readonly"] is True
    lines = run_output(runtime, bundle).splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1:] == ["rc=1", "tmp-ok"]
    assert "ro" in mountinfo_inside(runtime, bundle)["/"].options


def test_writable_root(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "echo hi > /x && cat /x"], copy_rootfs=True)
    assert run_output(runtime, bundle) == "hi\n"
    assert (bundle.rootfs / "x").read_text() == "hi\n"


# --- /dev -------------------------------------------------------------------------------------------

DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


def test_default_devices(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    names = " ".join(f"/dev/{n}" for n in DEFAULT_DEVICES)
    bundle = make_bundle(["stat", "-c", "%n|%F|%t|%T|%a|%u|%g", *names.split()])
    out = run_output(runtime, bundle)
    seen = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}
    for name, (major, minor) in DEFAULT_DEVICES.items():
        kind, t, T, mode, uid, gid = seen[f"/dev/{name}"]
        assert kind == "character special file"
        assert (int(t, 16), int(T, 16)) == (major, minor), name
        assert mode == "666", name
        assert (uid, gid) == ("0", "0")
    oracle = runc_output(bundle, tmp_path)
    if oracle is not None:
        assert out == oracle


def test_default_dev_links(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    links = ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/ptmx"]
    bundle = make_bundle(
        ["sh", "-c", "for l in " + " ".join(links) + "; do echo $l $(readlink $l); done; echo ok > /dev/null"]
    )
    out = run_output(runtime, bundle).splitlines()
    assert out[:5] == [
        "/dev/fd /proc/self/fd",
        "/dev/stdin /proc/self/fd/0",
        "/dev/stdout /proc/self/fd/1",
        "/dev/stderr /proc/self/fd/2",
        "/dev/ptmx pts/ptmx",
    ]


def test_configured_device(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle(["stat", "-c", "%F|%t|%T|%a|%u|%g", "/dev/mydev", "/dev/sub/blk"])
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1000},
        {"path": "/dev/sub/blk", "type": "b", "major": 7, "minor": 0, "fileMode": 0o640, "uid": 0, "gid": 6},
    ]
    bundle.write()
    out = run_output(runtime, bundle)
    assert out.splitlines() == ["character special file|1|3|600|1000|1000", "block special file|7|0|640|0|6"]
    oracle = runc_output(bundle, tmp_path)
    if oracle is not None:
        assert out == oracle


# --- masked and read-only paths ------------------------------------------------------------------------


def test_masked_paths(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(
        [
            "sh",
            "-c",
            "cat /etc/secret | wc -c; ls -A /secrets | wc -l; touch /secrets/x 2>&1; echo rc=$?;"
            " cat /proc/kcore | wc -c",
        ],
        copy_rootfs=True,
    )
    (bundle.rootfs / "etc" / "secret").write_text("s3cret\n")
    (bundle.rootfs / "secrets").mkdir()
    (bundle.rootfs / "secrets" / "key").write_text("k\n")
    bundle.config["linux"]["maskedPaths"] += ["/etc/secret", "/secrets", "/does/not/exist"]
    bundle.write()
    lines = [line.strip() for line in run_output(runtime, bundle).splitlines()]
    assert lines[0] == "0"  # the file reads empty
    assert lines[1] == "0"  # the directory is empty
    assert "Read-only file system" in lines[2] and lines[3] == "rc=1"
    assert lines[4] == "0"
    mounts = mountinfo_inside(runtime, bundle)
    assert mounts["/secrets"].fstype == "tmpfs" and "ro" in mounts["/secrets"].options
    assert (bundle.rootfs / "etc" / "secret").read_text() == "s3cret\n"  # only hidden, never changed


def test_readonly_paths(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(
        [
            "sh",
            "-c",
            "touch /frozen/x 2>&1; echo rc=$?; touch /thawed/y && echo ok;"
            " { echo 1 > /proc/sys/kernel/ns_last_pid; } 2>&1; echo rc=$?",
        ],
        copy_rootfs=True,
    )
    (bundle.rootfs / "frozen").mkdir()
    (bundle.rootfs / "thawed").mkdir()
    bundle.config["linux"]["readonlyPaths"] += ["/frozen"]
    bundle.write()
    lines = run_output(runtime, bundle).splitlines()
    assert "Read-only file system" in lines[0] and lines[1] == "rc=1"
    assert lines[2] == "ok"
    assert "Read-only file system" in lines[3] and lines[4] == "rc=1"
    assert not (bundle.rootfs / "frozen" / "x").exists()
    assert "ro" in mountinfo_inside(runtime, bundle)["/frozen"].options


def test_no_pivot(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "ls /; test -e /work && echo host-visible; cat /proc/1/cmdline; echo"])
    out = run_output(runtime, bundle, "--no-pivot").splitlines()
    assert "bin" in out and "proc" in out
    assert "host-visible" not in out
    assert str(bundle.path) not in "".join(out)
    mounts = mountinfo_inside(runtime, bundle, "--no-pivot")
    assert "/" in mounts and "/proc" in mounts and "ro" in mounts["/"].options


# --- process ----------------------------------------------------------------------------------------


def test_user_and_groups(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle(
        ["sh", "-c", "id -u; id -g; grep '^Groups:' /proc/self/status; grep '^[UG]id:' /proc/self/status"]
    )
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [2000, 2001]}
    bundle.write()
    out = run_output(runtime, bundle)
    lines = out.splitlines()
    assert lines[0:2] == ["1000", "1001"]
    assert sorted(lines[2].split()[1:]) == ["2000", "2001"]
    assert lines[3].split()[1:] == ["1000"] * 4
    assert lines[4].split()[1:] == ["1001"] * 4
    oracle = runc_output(bundle, tmp_path)
    if oracle is not None:
        assert out == oracle


@pytest.mark.parametrize(("umask", "expected"), [(0o027, "0027"), (0o077, "0077"), (None, "0022")])
def test_umask(runtime: Runtime, make_bundle: BundleFactory, umask: int | None, expected: str, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "umask"])
    if umask is not None:
        bundle.config["process"]["user"]["umask"] = umask
    bundle.write()
    assert run_output(runtime, bundle).strip() == expected


def test_cwd_is_created_when_missing(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["pwd"], copy_rootfs=True)
    bundle.config["process"]["cwd"] = "/work/here/deep"
    bundle.write()
    assert run_output(runtime, bundle) == "/work/here/deep\n"
    assert (bundle.rootfs / "work" / "here" / "deep").is_dir()


def test_cwd_existing(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "pwd; ls"])
    bundle.config["process"]["cwd"] = "/bin"
    bundle.write()
    out = run_output(runtime, bundle).splitlines()
    assert out[0] == "/bin" and "busybox" in out


def test_env(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle(["env"])
    bundle.config["process"]["env"] = ["PATH=/usr/bin:/bin", "FOO=bar baz", "EMPTY=", "WITH_EQ=a=b"]
    bundle.write()
    out = run_output(runtime, bundle)
    seen = set(out.splitlines())
    assert {"PATH=/usr/bin:/bin", "FOO=bar baz", "EMPTY=", "WITH_EQ=a=b", "HOME=/root"} <= seen
    assert not any(line.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST")) for line in seen)  # nothing of the host's
    oracle = runc_output(bundle, tmp_path)
    if oracle is not None:
        # Both add HOME from /etc/passwd when the env lacks it: see test_home_from_passwd_when_unset.
        assert seen == set(oracle.splitlines())


@pytest.mark.parametrize(("uid", "home"), [(0, "/root"), (1000, "/home/user"), (4242, "/")])
def test_home_from_passwd_when_unset(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, uid: int, home: str, no_trace: None
) -> None:
    bundle = make_bundle(["sh", "-c", "echo HOME=$HOME"])
    bundle.config["process"]["user"] = {"uid": uid, "gid": uid}
    bundle.write()
    out = run_output(runtime, bundle)
    oracle = runc_output(bundle, tmp_path)
    if oracle is not None:
        assert oracle == f"HOME={home}\n"
    assert out == f"HOME={home}\n"


def test_home_from_env_is_kept(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "echo HOME=$HOME"])
    bundle.config["process"]["env"].append("HOME=/custom")
    bundle.write()
    assert run_output(runtime, bundle) == "HOME=/custom\n"


def test_args_resolved_with_container_path(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["mytool", "one", "two words"], copy_rootfs=True)
    tools = bundle.rootfs / "opt" / "tools"
    tools.mkdir(parents=True)
    (tools / "mytool").write_text('#!/bin/sh\necho "tool: $0 [$1] [$2]"\n')
    (tools / "mytool").chmod(0o755)
    bundle.config["process"]["env"] = ["PATH=/opt/tools:/bin"]
    bundle.write()
    assert run_output(runtime, bundle) == "tool: /opt/tools/mytool [one] [two words]\n"


def test_missing_binary_fails_create_cleanly(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["no-such-binary-here", "arg"])
    result = runtime("create", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    assert runtime.container_dirs() == []
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-such-binary-here" in lines[0] and "executable file not found" in lines[0]
