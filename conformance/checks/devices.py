"""config-linux.md Devices, default devices, the device allowlist; runtime-linux.md /dev symlinks."""

from __future__ import annotations

import os

from conformance.harness import Ctx, Skip, check, expect

DEFAULTS = {
    "/dev/null": "1:3",
    "/dev/zero": "1:5",
    "/dev/full": "1:7",
    "/dev/random": "1:8",
    "/dev/urandom": "1:9",
    "/dev/tty": "5:0",
}


def stat_cmd(path: str) -> str:
    return f"stat -c '%F|%t:%T|%a|%u:%g' {path}"


@check("devices.listed")
def listed(ctx: Ctx) -> None:
    """Devices listed in linux.devices exist with their type, numbers, mode and owner."""
    c = ctx.container()
    c.config["linux"]["devices"] = [
        {
            "path": "/dev/conformance-null",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o640,
            "uid": 1000,
            "gid": 100,
        },
        {"path": "/dev/conformance-fifo", "type": "p", "fileMode": 0o600},
        {"path": "/conformance-dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 0o666},
    ]
    c.config["process"]["args"] += [stat_cmd(d["path"]) for d in c.config["linux"]["devices"]]
    probe = c.run_probe()
    wants = ["character special file|1:3|640|1000:100", "fifo|0:0|600|0:0", "character special file|1:5|666|0:0"]
    for index, want in enumerate(wants):
        got = probe.cmd(index)[1].strip()
        expect(got == want, f"{c.config['linux']['devices'][index]['path']} is {got!r}, not {want!r}")


@check("devices.conflict")
def conflict(ctx: Ctx) -> None:
    """A device path where a different file already exists fails create."""
    c = ctx.container()
    c.config["root"]["readonly"] = False
    c.config["linux"]["devices"] = [{"path": "/etc/hosts", "type": "c", "major": 1, "minor": 3}]
    ctx.expect_create_error(c, "a device at /etc/hosts, a regular file in the rootfs")


@check("devices.defaults")
def defaults(ctx: Ctx) -> None:
    """/dev/null, zero, full, random, urandom, tty and ptmx are supplied without being listed."""
    c = ctx.container()
    c.config["process"]["args"] += [stat_cmd(p) for p in DEFAULTS] + ["ls -l /dev/ptmx"]
    probe = c.run_probe()
    for index, (path, numbers) in enumerate(DEFAULTS.items()):
        got = probe.cmd(index)[1].strip().lower()
        expect(
            got.startswith(f"character special file|{int(numbers.split(':')[0]):x}:{int(numbers.split(':')[1]):x}|"),
            f"{path} is {got!r}",
        )
    expect(probe.cmd(len(DEFAULTS))[0] == 0, "/dev/ptmx is missing")


@check("devices.dev-symlinks")
def dev_symlinks(ctx: Ctx) -> None:
    """/dev/fd, stdin, stdout and stderr are symlinks into /proc/self/fd."""
    links = dict(line.split("=", 1) for line in ctx.container().run_probe()["devlinks"].splitlines())
    want = {
        "/dev/fd": "link:/proc/self/fd",
        "/dev/stdin": "link:/proc/self/fd/0",
        "/dev/stdout": "link:/proc/self/fd/1",
        "/dev/stderr": "link:/proc/self/fd/2",
    }
    for path, target in want.items():
        expect(links.get(path) == target, f"{path} is {links.get(path)!r}, not {target!r}")


@check("devices.allowlist-order")
def allowlist_order(ctx: Ctx) -> None:
    """linux.resources.devices entries apply in order: the last matching rule decides."""
    if not os.path.exists("/dev/fuse"):
        raise Skip("the host has no /dev/fuse (10:229) to test with")
    results = []
    for rules in ([True, False], [False, True]):
        c = ctx.container()
        c.config["linux"]["devices"] = [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}
        ]
        c.config["linux"]["resources"] = {
            "devices": [{"allow": False, "access": "rwm"}]
            + [{"allow": allow, "type": "c", "major": 10, "minor": 229, "access": "rw"} for allow in rules]
        }
        c.config["process"]["args"] += ["exec 3<>/dev/fuse && echo opened"]
        results.append(c.run_probe().cmd(0))
    denied, allowed = results
    expect(denied[0] != 0 and "not permitted" in denied[1].lower(), f"allow-then-deny: opening /dev/fuse gave {denied}")
    expect(allowed[0] == 0 and "opened" in allowed[1], f"deny-then-allow: opening /dev/fuse gave {allowed}")
