"""config.md Mounts: order, destinations, every MUST-level Linux mount option, id-mapped mounts.

The option checks share one container (one mount per option under /o/<option>); if that container cannot
be created, each option is tried in a container of its own so one bad option does not hide the others.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.harness import Ctx, Fail, Probe, check, expect, fail

Mount = dict[str, Any]


def _no(flag: str) -> Callable[[Mount], str | None]:
    return lambda m: f"{flag!r} still set: {sorted(m['options'])}" if flag in m["options"] else None


def _has(flag: str) -> Callable[[Mount], str | None]:
    return lambda m: None if flag in m["options"] else f"{flag!r} missing: {sorted(m['options'])}"


def _super_has(flag: str) -> Callable[[Mount], str | None]:
    return lambda m: None if flag in m["super"] else f"{flag!r} missing from super options {sorted(m['super'])}"


def _super_no(flag: str) -> Callable[[Mount], str | None]:
    return lambda m: f"{flag!r} still in super options" if flag in m["super"] else None


def _present(_m: Mount) -> str | None:
    return None


def _optional(shared: bool, master: bool, unbindable: bool = False) -> Callable[[Mount], str | None]:
    def verify(m: Mount) -> str | None:
        fields = " ".join(m["optional"])
        got = ("shared:" in fields, "master:" in fields, "unbindable" in fields)
        if got != (shared, master, unbindable):
            return f"propagation fields are {fields or '(none)'!r}"
        return None

    return verify


def _strictatime(m: Mount) -> str | None:
    return f"atime flags {sorted(m['options'])} are not strictatime" if {"relatime", "noatime"} & m["options"] else None


@dataclass(frozen=True)
class Option:
    options: list[str]
    verify: Callable[[Mount], str | None]
    source: str = "tmpfs"  # tmpfs | bind (a host dir with a file) | rbind (host dir with a submount) | shared


OPTIONS: dict[str, Option] = {
    "async": Option(["sync", "async"], _super_no("sync")),
    "atime": Option(["noatime", "atime"], _no("noatime")),
    "bind": Option(["bind"], _present, "bind"),
    "defaults": Option(["defaults"], _has("rw")),
    "dev": Option(["nodev", "dev"], _no("nodev")),
    "diratime": Option(["nodiratime", "diratime"], _no("nodiratime")),
    "dirsync": Option(["dirsync"], _super_has("dirsync")),
    "exec": Option(["noexec", "exec"], _no("noexec")),
    "iversion": Option(["iversion"], _present),
    "lazytime": Option(["lazytime"], _super_has("lazytime")),
    "loud": Option(["silent", "loud"], _present),
    "noatime": Option(["noatime"], _has("noatime")),
    "nodev": Option(["nodev"], _has("nodev")),
    "nodiratime": Option(["nodiratime"], _has("nodiratime")),
    "noexec": Option(["noexec"], _has("noexec")),
    "noiversion": Option(["noiversion"], _present),
    "nolazytime": Option(["lazytime", "nolazytime"], _super_no("lazytime")),
    "norelatime": Option(["norelatime"], _no("noatime")),
    "nostrictatime": Option(["strictatime", "nostrictatime"], _has("relatime")),
    "nosuid": Option(["nosuid"], _has("nosuid")),
    "private": Option(["bind", "private"], _optional(False, False), "shared"),
    "rbind": Option(["rbind"], _present, "rbind"),
    "relatime": Option(["relatime"], _has("relatime")),
    "remount": Option(["remount", "ro"], _has("ro")),
    "ro": Option(["ro"], _has("ro")),
    "rprivate": Option(["rbind", "rprivate"], _optional(False, False), "shared"),
    "rshared": Option(["rshared"], _optional(True, False)),
    "rslave": Option(["rbind", "rslave"], _optional(False, True), "shared"),
    "runbindable": Option(["rbind", "runbindable"], _optional(False, False, True), "shared"),
    "rw": Option(["ro", "rw"], _has("rw")),
    "shared": Option(["shared"], _optional(True, False)),
    "silent": Option(["silent"], _present),
    "slave": Option(["bind", "slave"], _optional(False, True), "shared"),
    "strictatime": Option(["strictatime"], _strictatime),
    "suid": Option(["nosuid", "suid"], _no("nosuid")),
    "sync": Option(["sync"], _super_has("sync")),
    "unbindable": Option(["bind", "unbindable"], _optional(False, False, True), "shared"),
}


def host_mount(ctx: Ctx, args: list[str]) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def shared_source(ctx: Ctx) -> Path:
    """A host tmpfs made shared (so slave/private are observable), unmounted when the check ends."""
    path = ctx.host_dir("shared-src")
    if not os.path.ismount(path):
        host_mount(ctx, ["-t", "tmpfs", "conformance-shared", str(path)])
        ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", str(path)], check=False))
        host_mount(ctx, ["--make-shared", str(path)])
        (path / "file").write_text("shared")
    return path


def rbind_source(ctx: Ctx) -> Path:
    path = ctx.host_dir("rbind-src")
    sub = path / "sub"
    if not os.path.ismount(sub):
        sub.mkdir(exist_ok=True)
        host_mount(ctx, ["-t", "tmpfs", "conformance-sub", str(sub)])
        ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", str(sub)], check=False))
        (sub / "file").write_text("sub")
    return path


def mount_entries(ctx: Ctx, name: str, option: Option) -> list[Mount]:
    destination = f"/o/{name}"
    if option.source == "tmpfs":
        entry: Mount = {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": option.options}
    else:
        if option.source == "bind":
            source = ctx.host_dir(f"bind-src-{name}")
            (source / "file").write_text(name)
        elif option.source == "rbind":
            source = rbind_source(ctx)
        else:
            source = shared_source(ctx)
        entry = {"destination": destination, "type": "bind", "source": str(source), "options": option.options}
    if name == "remount":
        return [{"destination": destination, "type": "tmpfs", "source": "tmpfs"}, entry]
    return [entry]


def extra_check(name: str, probe: Probe, index: int) -> str | None:
    """Options whose effect is seen through a file rather than the mount table."""
    if name not in ("bind", "rbind"):
        return None
    rc, out = probe.cmd(index)
    want = "bind" if name == "bind" else "sub"
    return None if rc == 0 and out.strip() == want else f"the bound content is not visible ({rc}: {out[:80]!r})"


def content_command(name: str) -> str:
    return {"bind": "cat /o/bind/file", "rbind": "cat /o/rbind/sub/file"}.get(name, "true")


def run_options(ctx: Ctx, names: list[str]) -> dict[str, str | None]:
    """One container mounting each named option; verdict per option (None = as required)."""
    c = ctx.container()
    for name in names:
        c.config["mounts"] += mount_entries(ctx, name, OPTIONS[name])
    c.config["process"]["args"] += [content_command(name) for name in names]
    probe = c.run_probe()
    verdicts: dict[str, str | None] = {}
    for index, name in enumerate(names):
        mount = probe.mount_at(f"/o/{name}")
        if mount is None:
            verdicts[name] = "no mount at the destination"
            continue
        verdicts[name] = OPTIONS[name].verify(mount) or extra_check(name, probe, index)
    if "remount" in names and len([m for m in probe.mounts() if m["mountpoint"] == "/o/remount"]) != 1:
        verdicts["remount"] = "remount stacked a new mount instead of changing the existing one"
    return verdicts


def all_option_verdicts(ctx: Ctx) -> dict[str, str | None]:
    try:
        return run_options(ctx, sorted(OPTIONS))
    except Fail:
        pass
    verdicts: dict[str, str | None] = {}
    for name in sorted(OPTIONS):
        try:
            verdicts[name] = run_options(ctx, [name])[name]
        except Fail as exc:
            verdicts[name] = f"container with this option failed: {exc}"
    return verdicts


def option_check(name: str) -> Callable[[Ctx], None]:
    def run(ctx: Ctx) -> None:
        verdict = ctx.suite.cached("mount-options", all_option_verdicts)[name]
        if verdict:
            fail(verdict)

    run.__doc__ = f"The {name!r} mount option has its mount(8) meaning ({' + '.join(OPTIONS[name].options)})."
    return run


for _name in OPTIONS:
    check(f"mounts.option.{_name}")(option_check(_name))


@check("mounts.order")
def order(ctx: Ctx) -> None:
    """Mounts are made in the listed order: a later mount at the same place lands on top of the earlier one."""
    c = ctx.container()
    c.config["mounts"] += [
        {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["mode=700"]},
        {"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": ["mode=711"]},
        {"destination": "/n", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/n/inner", "type": "tmpfs", "source": "tmpfs"},
    ]
    probe = c.run_probe()
    stack = [m for m in probe.mounts() if m["mountpoint"] == "/m"]
    modes = [next((o for o in m["super"] if o.startswith("mode=")), "?") for m in stack]
    expect(modes == ["mode=700", "mode=711"], f"tmpfs mounts at /m, bottom to top: {modes}")
    expect(stack[1]["parent"] == stack[0]["id"], "the second /m mount is not on top of the first")
    outer, inner = probe.mount_at("/n"), probe.mount_at("/n/inner")
    expect(outer and inner and inner["parent"] == outer["id"], "/n/inner is not mounted on top of /n")


@check("mounts.relative-destination")
def relative_destination(ctx: Ctx) -> None:
    """A relative mount destination is taken relative to / in the container."""
    c = ctx.container()
    c.config["mounts"].append({"destination": "conformance-rel", "type": "tmpfs", "source": "tmpfs"})
    probe = c.run_probe()
    expect(probe.mount_at("/conformance-rel") is not None, "no mount at /conformance-rel")


def idmap_source(ctx: Ctx) -> Path:
    path = ctx.host_dir("idmap-src")
    (path / "file").write_text("x")
    os.chown(path / "file", 1000, 1000)
    return path


@check("mounts.idmap-needs-mapping")
def idmap_needs_mapping(ctx: Ctx) -> None:
    """idmap/ridmap without mappings in a container without a user namespace is an error."""
    for option in ("idmap", "ridmap"):
        c = ctx.container()
        c.config["mounts"].append(
            {"destination": "/id", "type": "bind", "source": str(idmap_source(ctx)), "options": ["rbind", option]}
        )
        ctx.expect_create_error(c, f"{option} without uidMappings/gidMappings or a user namespace")


@check("mounts.idmap-applied")
def idmap_applied(ctx: Ctx) -> None:
    """A mount with idmap and uid/gidMappings shows host IDs through the mount's own mapping."""
    for option in ("idmap", "ridmap"):
        c = ctx.container()
        mapping = [{"containerID": 0, "hostID": 1000, "size": 1}]
        c.config["mounts"].append(
            {
                "destination": "/id",
                "type": "bind",
                "source": str(idmap_source(ctx)),
                "options": ["rbind", option],
                "uidMappings": mapping,
                "gidMappings": mapping,
            }
        )
        c.config["process"]["args"] += ["stat -c %u:%g /id/file"]
        out = c.run_probe().cmd(0)[1].strip()
        expect(out == "0:0", f"with {option}, a file of host 1000:1000 shows as {out!r}, not 0:0")


@check("mounts.mappings-in-pairs")
def mappings_in_pairs(ctx: Ctx) -> None:
    """A mount with uidMappings but no gidMappings (or the reverse) is invalid: create fails."""
    for present in ("uidMappings", "gidMappings"):
        c = ctx.container()
        c.config["mounts"].append(
            {
                "destination": "/id",
                "type": "bind",
                "source": str(idmap_source(ctx)),
                "options": ["rbind", "idmap"],
                present: [{"containerID": 0, "hostID": 1000, "size": 1}],
            }
        )
        ctx.expect_create_error(c, f"only {present} on a mount")


@check("paths.masked")
def masked(ctx: Ctx) -> None:
    """maskedPaths cannot be read inside; a relative masked path is invalid and fails create."""
    c = ctx.container()
    c.config["linux"]["maskedPaths"] = ["/proc/kcore", "/etc/passwd"]
    c.config["process"]["args"] += ["cat /etc/passwd | wc -c"]
    out = c.run_probe().cmd(0)[1].strip()
    expect(out == "0", f"/etc/passwd still readable inside ({out} bytes)")
    c = ctx.container()
    c.config["linux"]["maskedPaths"] = ["etc/passwd"]
    ctx.expect_create_error(c, "a relative masked path")


@check("paths.readonly")
def readonly(ctx: Ctx) -> None:
    """readonlyPaths are read-only inside; a relative readonly path is invalid and fails create."""
    c = ctx.container()
    c.config["root"]["readonly"] = False
    c.config["linux"]["readonlyPaths"] = ["/etc"]
    c.config["process"]["args"] += ["touch /etc/conformance"]
    expect(c.run_probe().cmd(0)[0] != 0, "writing under a readonly path succeeded")
    c = ctx.container()
    c.config["linux"]["readonlyPaths"] = ["etc"]
    ctx.expect_create_error(c, "a relative readonly path")
