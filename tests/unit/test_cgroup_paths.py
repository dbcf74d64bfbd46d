"""cgroup hierarchy detection and container cgroup paths (ociruntime.cgroups.hierarchy): PURE parsing."""

from __future__ import annotations

from ociruntime.cgroups.hierarchy import (
    UNIFIED,
    Hierarchy,
    Layout,
    container_paths,
    parse_mountinfo,
    parse_proc_cgroup,
)

# This host's /proc/self/mountinfo (v1 hybrid: one mount per controller, a controller-less cgroup2).
HYBRID_MOUNTINFO = """\
22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
23 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

HYBRID_PROC_CGROUP = """\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/68dddd889acc1c85cab3c420ecf3b496
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

V2_MOUNTINFO = """\
24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 24 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
26 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""

# A systemd v1 host: cpu and cpuacct co-mounted, extra super options that are not controllers.
COMOUNTED_MOUNTINFO = """\
25 19 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset,clone_children
32 25 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,net_cls,net_prio
33 25 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
34 25 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids,release_agent=/bin/x
"""

COMOUNTED_PROC_CGROUP = """\
12:pids:/user.slice
5:memory:/user.slice/user-1000.slice
4:net_cls,net_prio:/
3:cpuset:/
2:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-1000.slice/session-2.scope
0::/user.slice/user-1000.slice/session-2.scope
"""


# --- parse_mountinfo -------------------------------------------------------------------------------


def test_parse_hybrid() -> None:
    layout = parse_mountinfo(HYBRID_MOUNTINFO)
    assert layout.hierarchies == (
        Hierarchy("cpu", "/sys/fs/cgroup/cpu", "/"),
        Hierarchy("cpuacct", "/sys/fs/cgroup/cpuacct", "/"),
        Hierarchy("cpuset", "/sys/fs/cgroup/cpuset", "/"),
        Hierarchy("memory", "/sys/fs/cgroup/memory", "/"),
        Hierarchy("devices", "/sys/fs/cgroup/devices", "/"),
        Hierarchy("freezer", "/sys/fs/cgroup/freezer", "/"),
        Hierarchy("blkio", "/sys/fs/cgroup/blkio", "/"),
        Hierarchy("pids", "/sys/fs/cgroup/pids", "/"),
        Hierarchy("name=systemd", "/sys/fs/cgroup/systemd", "/"),
        Hierarchy(UNIFIED, "/sys/fs/cgroup/unified", "/"),
    )
    assert layout.is_v2 is False
    assert layout.get("memory") == Hierarchy("memory", "/sys/fs/cgroup/memory", "/")
    assert layout.get("") == Hierarchy("", "/sys/fs/cgroup/unified", "/")
    assert layout.get("hugetlb") is None


def test_parse_v2() -> None:
    layout = parse_mountinfo(V2_MOUNTINFO)
    assert layout == Layout((Hierarchy("", "/sys/fs/cgroup", "/"),))
    assert layout.is_v2 is True


def test_parse_comounted() -> None:
    layout = parse_mountinfo(COMOUNTED_MOUNTINFO)
    assert [(h.key, h.mountpoint) for h in layout.hierarchies] == [
        ("", "/sys/fs/cgroup/unified"),
        ("name=systemd", "/sys/fs/cgroup/systemd"),
        ("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct"),
        ("cpuset", "/sys/fs/cgroup/cpuset"),
        ("net_cls,net_prio", "/sys/fs/cgroup/net_cls,net_prio"),
        ("memory", "/sys/fs/cgroup/memory"),
        ("pids", "/sys/fs/cgroup/pids"),
    ]
    assert layout.is_v2 is False


def test_parse_no_cgroups() -> None:
    layout = parse_mountinfo("22 1 0:21 / / rw - ext4 /dev/sda1 rw\n")
    assert layout.hierarchies == ()
    assert layout.is_v2 is False
    assert parse_mountinfo("").hierarchies == ()


def test_parse_duplicate_mount_keeps_first() -> None:
    text = V2_MOUNTINFO + "90 80 0:23 /sub /mnt/again rw - cgroup2 cgroup2 rw\n"
    assert parse_mountinfo(text).hierarchies == (Hierarchy("", "/sys/fs/cgroup", "/"),)


def test_parse_ro_cgroup_mount() -> None:
    text = "50 31 0:32 / /sys/fs/cgroup/memory ro,relatime - cgroup cgroup ro,memory\n"
    assert parse_mountinfo(text).hierarchies == (Hierarchy("memory", "/sys/fs/cgroup/memory", "/"),)


def test_parse_mount_root_inside_namespace() -> None:
    text = "60 59 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    assert parse_mountinfo(text).hierarchies == (Hierarchy("cpu", "/sys/fs/cgroup/cpu", "/docker/abc"),)


# --- parse_proc_cgroup -----------------------------------------------------------------------------


def test_parse_proc_cgroup_hybrid() -> None:
    assert parse_proc_cgroup(HYBRID_PROC_CGROUP) == {
        "name=systemd": "/",
        "pids": "/",
        "blkio": "/",
        "freezer": "/",
        "devices": "/",
        "memory": "/process_api/68dddd889acc1c85cab3c420ecf3b496",
        "cpuset": "/",
        "cpuacct": "/",
        "cpu": "/",
        "": "/",
    }


def test_parse_proc_cgroup_v2_and_colons() -> None:
    assert parse_proc_cgroup("0::/a:b/c\n") == {"": "/a:b/c"}
    assert parse_proc_cgroup("0::/\ngarbage\n\n") == {"": "/"}
    assert parse_proc_cgroup("") == {}


# --- container_paths -------------------------------------------------------------------------------


def test_absolute_path_hybrid() -> None:
    layout = parse_mountinfo(HYBRID_MOUNTINFO)
    paths = container_paths(layout, "/ociruntime/c1", parse_proc_cgroup(HYBRID_PROC_CGROUP))
    assert paths == {
        "cpu": "/sys/fs/cgroup/cpu/ociruntime/c1",
        "cpuacct": "/sys/fs/cgroup/cpuacct/ociruntime/c1",
        "cpuset": "/sys/fs/cgroup/cpuset/ociruntime/c1",
        "memory": "/sys/fs/cgroup/memory/ociruntime/c1",
        "devices": "/sys/fs/cgroup/devices/ociruntime/c1",
        "freezer": "/sys/fs/cgroup/freezer/ociruntime/c1",
        "blkio": "/sys/fs/cgroup/blkio/ociruntime/c1",
        "pids": "/sys/fs/cgroup/pids/ociruntime/c1",
        "name=systemd": "/sys/fs/cgroup/systemd/ociruntime/c1",
        "": "/sys/fs/cgroup/unified/ociruntime/c1",
    }


def test_relative_path_joins_own_cgroup_per_hierarchy() -> None:
    layout = parse_mountinfo(HYBRID_MOUNTINFO)
    paths = container_paths(layout, "x", parse_proc_cgroup(HYBRID_PROC_CGROUP))
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/68dddd889acc1c85cab3c420ecf3b496/x"
    assert paths["cpu"] == "/sys/fs/cgroup/cpu/x"
    assert paths[""] == "/sys/fs/cgroup/unified/x"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/x"
    assert len(paths) == 10


def test_relative_path_missing_own_entry_starts_at_root() -> None:
    layout = parse_mountinfo(HYBRID_MOUNTINFO)
    paths = container_paths(layout, "a/b", {})
    assert paths["memory"] == "/sys/fs/cgroup/memory/a/b"


def test_v2_absolute_and_relative() -> None:
    layout = parse_mountinfo(V2_MOUNTINFO)
    own = parse_proc_cgroup("0::/user.slice/session-1.scope\n")
    assert container_paths(layout, "/machine/c1", own) == {"": "/sys/fs/cgroup/machine/c1"}
    assert container_paths(layout, "c1", own) == {"": "/sys/fs/cgroup/user.slice/session-1.scope/c1"}


def test_comounted_relative() -> None:
    layout = parse_mountinfo(COMOUNTED_MOUNTINFO)
    paths = container_paths(layout, "ctr", parse_proc_cgroup(COMOUNTED_PROC_CGROUP))
    assert paths == {
        "": "/sys/fs/cgroup/unified/user.slice/user-1000.slice/session-2.scope/ctr",
        "name=systemd": "/sys/fs/cgroup/systemd/user.slice/user-1000.slice/session-2.scope/ctr",
        "cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/user.slice/ctr",
        "cpuset": "/sys/fs/cgroup/cpuset/ctr",
        "net_cls,net_prio": "/sys/fs/cgroup/net_cls,net_prio/ctr",
        "memory": "/sys/fs/cgroup/memory/user.slice/user-1000.slice/ctr",
        "pids": "/sys/fs/cgroup/pids/user.slice/ctr",
    }


def test_path_is_normalised() -> None:
    layout = parse_mountinfo(V2_MOUNTINFO)
    assert container_paths(layout, "/a//b/./c/", {}) == {"": "/sys/fs/cgroup/a/b/c"}
    assert container_paths(layout, "x/../y", {"": "/p"}) == {"": "/sys/fs/cgroup/p/y"}


def test_mount_root_not_slash_strips_root() -> None:
    # Inside a container without a cgroup namespace: the mount shows /docker/abc of the hierarchy.
    text = (
        "60 59 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
        "61 59 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    )
    layout = parse_mountinfo(text)
    own = {"cpu": "/docker/abc", "memory": "/docker/abc/sub"}
    assert container_paths(layout, "x", own) == {
        "cpu": "/sys/fs/cgroup/cpu/x",
        "memory": "/sys/fs/cgroup/memory/sub/x",
    }
    assert container_paths(layout, "/docker/abc/y", own) == {
        "cpu": "/sys/fs/cgroup/cpu/y",
        "memory": "/sys/fs/cgroup/memory/y",
    }


def test_mount_root_prefix_must_match_whole_component() -> None:
    layout = parse_mountinfo("60 59 0:29 /docker/abc /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
    # /docker/abcdef is not inside /docker/abc: nothing is stripped.
    assert container_paths(layout, "/docker/abcdef/x", {}) == {"cpu": "/sys/fs/cgroup/cpu/docker/abcdef/x"}


def test_v2_mount_root_not_slash() -> None:
    layout = parse_mountinfo("70 69 0:30 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    assert layout.is_v2 is True
    own = {"": "/kubepods/pod1/ctr"}
    assert container_paths(layout, "child", own) == {"": "/sys/fs/cgroup/ctr/child"}


def test_no_hierarchies_no_paths() -> None:
    assert container_paths(Layout(()), "/x", {}) == {}
