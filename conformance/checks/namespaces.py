"""config-linux.md Namespaces (and user namespace mappings): new, inherited, joined by path, errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conformance.harness import Ctx, check, expect, ns_of, wait_for

CONFIG_TO_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup"}


def holder(ctx: Ctx, *flags: str) -> int:
    """A host process in fresh namespaces (unshare FLAGS sleep), killed when the check ends."""
    proc = subprocess.Popen(["unshare", *flags, "sleep", "120"])
    ctx.cleanups.append(proc.kill)
    wait_for(lambda: ns_of(proc.pid, "uts") != ns_of(os.getpid(), "uts"), 5, "the holder's namespaces")
    return proc.pid


@check("namespaces.new")
def new(ctx: Ctx) -> None:
    """Each listed namespace type without a path gets a new namespace."""
    probe = ctx.container().run_probe()
    seen = probe.ns()
    for config_name, proc_name in CONFIG_TO_PROC.items():
        expect(seen.get(proc_name) != ns_of(os.getpid(), proc_name), f"{config_name} namespace is the runtime's")


@check("namespaces.inherit")
def inherit(ctx: Ctx) -> None:
    """A namespace type not listed is the runtime's own."""
    c = ctx.container()
    c.config["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"}]
    del c.config["hostname"]
    seen = c.run_probe().ns()
    for proc_name in ("net", "ipc", "uts", "cgroup"):
        expect(seen.get(proc_name) == ns_of(os.getpid(), proc_name), f"{proc_name} namespace is not the runtime's")


@check("namespaces.join-path")
def join_path(ctx: Ctx) -> None:
    """A namespace with a path puts the container process in that namespace."""
    pid = holder(ctx, "--uts", "--net", "--ipc")
    c = ctx.container()
    keep = [n for n in c.config["linux"]["namespaces"] if n["type"] not in ("uts", "network", "ipc")]
    c.config["linux"]["namespaces"] = keep + [
        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
        {"type": "network", "path": f"/proc/{pid}/ns/net"},
        {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
    ]
    del c.config["hostname"]
    seen = c.run_probe().ns()
    for name in ("uts", "net", "ipc"):
        expect(seen.get(name) == ns_of(pid, name), f"{name} namespace is not the one at the given path")


@check("namespaces.path-relative")
def path_relative(ctx: Ctx) -> None:
    """A relative namespace path is invalid: create fails."""
    pid = holder(ctx, "--uts")
    c = ctx.container()
    c.config["linux"]["namespaces"] = [n for n in c.config["linux"]["namespaces"] if n["type"] != "uts"]
    relative = os.path.relpath(f"/proc/{pid}/ns/uts", Path.cwd())
    c.config["linux"]["namespaces"].append({"type": "uts", "path": relative})
    del c.config["hostname"]
    ctx.expect_create_error(c, f"relative namespace path {relative!r}")


@check("namespaces.path-wrong-type")
def path_wrong_type(ctx: Ctx) -> None:
    """A namespace path of another type (a net namespace given as uts) fails create."""
    pid = holder(ctx, "--uts", "--net")
    c = ctx.container()
    c.config["linux"]["namespaces"] = [n for n in c.config["linux"]["namespaces"] if n["type"] != "uts"]
    c.config["linux"]["namespaces"].append({"type": "uts", "path": f"/proc/{pid}/ns/net"})
    del c.config["hostname"]
    ctx.expect_create_error(c, "a net namespace path for type uts")


@check("namespaces.duplicate")
def duplicate(ctx: Ctx) -> None:
    """The same namespace type listed twice fails create."""
    c = ctx.container()
    c.config["linux"]["namespaces"].append({"type": "ipc"})
    ctx.expect_create_error(c, "ipc listed twice")


def userns_config(ctx: Ctx) -> tuple[object, Path]:
    c = ctx.container()
    c.config["linux"]["namespaces"].append({"type": "user"})
    c.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    c.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    c.config["mounts"] = [m for m in c.config["mounts"] if m["destination"] != "/sys"]
    c.config["process"]["args"] += ["cat /proc/self/uid_map"]
    return c, c.rootfs


@check("namespaces.user")
def user(ctx: Ctx) -> None:
    """A user namespace with uid/gid mappings is created and its mapping is in effect."""
    c, _ = userns_config(ctx)
    probe = c.run_probe()  # type: ignore[attr-defined]
    expect(probe.ns().get("user") != ns_of(os.getpid(), "user"), "no new user namespace")
    fields = probe.cmd(0)[1].split()
    expect(fields[:3] == ["0", "200000", "65536"], f"uid_map is {probe.cmd(0)[1].strip()!r}")


@check("namespaces.user-no-chown")
def user_no_chown(ctx: Ctx) -> None:
    """Realizing user namespace mappings does not change the rootfs ownership (SHOULD NOT)."""
    c, rootfs = userns_config(ctx)
    before = {p: os.lstat(p).st_uid for p in (rootfs, rootfs / "bin" / "busybox", rootfs / "etc" / "passwd")}
    c.run_probe()  # type: ignore[attr-defined]
    after = {p: os.lstat(p).st_uid for p in before}
    expect(before == after, f"rootfs ownership changed: {after}")


@check("namespaces.time")
def time_ns(ctx: Ctx) -> None:
    """A time namespace can be requested like the other types."""
    c = ctx.container()
    c.config["linux"]["namespaces"].append({"type": "time"})
    seen = c.run_probe().ns()
    expect(seen.get("time") and seen.get("time") != ns_of(os.getpid(), "time"), "no new time namespace")
