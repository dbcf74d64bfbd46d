"""config-linux.md Network Devices: moving a host interface into the container's network namespace.

The suite makes its own veth pairs (cnf<pid><x> and its peer cnf<pid><x>p) and removes any that remain;
one end is moved into the container, the peer stays on the host.
"""

from __future__ import annotations

import os
import subprocess

from conformance.harness import Ctx, Skip, check, expect


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def dummy(ctx: Ctx, suffix: str) -> str:
    """A fresh veth pair; returns the end to move (its peer stays on the host)."""
    name = f"cnf{os.getpid() % 100000}{suffix}"
    made = ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    if made.returncode != 0:
        raise Skip(f"cannot create a veth pair on this host: {made.stderr.strip()}")
    ctx.cleanups.append(lambda: ip("link", "del", f"{name}p"))
    ctx.cleanups.append(lambda: ip("link", "del", name))
    return name


@check("netdevices.moved")
def moved(ctx: Ctx) -> None:
    """A listed device appears in the container under its new name, up, with its global addresses."""
    name = dummy(ctx, "a")
    ip("addr", "add", "192.0.2.10/24", "dev", name)
    c = ctx.container()
    c.config["linux"]["netDevices"] = {name: {"name": "conf0"}}
    c.config["process"]["args"] += ["ip -o link show conf0", "ip -o addr show conf0"]
    probe = c.run_probe()
    rc, link = probe.cmd(0)
    expect(rc == 0, f"no conf0 in the container: {link.strip()[:120]}")
    expect(",UP" in link or "<UP" in link, f"conf0 is not up: {link.strip()[:120]}")
    expect("192.0.2.10/24" in probe.cmd(1)[1], f"the address was not kept: {probe.cmd(1)[1].strip()[:160]}")


@check("netdevices.errors")
def errors(ctx: Ctx) -> None:
    """Moving a missing device, or onto a name already in the container, fails create."""
    c = ctx.container()
    c.config["linux"]["netDevices"] = {"cnfmissing0": {}}
    ctx.expect_create_error(c, "a netDevice that does not exist")
    name = dummy(ctx, "b")
    c = ctx.container()
    c.config["linux"]["netDevices"] = {name: {"name": "lo"}}
    ctx.expect_create_error(c, "a netDevice renamed to 'lo', which the container already has")
    expect(ip("link", "show", name).returncode == 0, "the failed create lost the host device")


@check("netdevices.template")
def template(ctx: Ctx) -> None:
    """A new name ending in %d is a template: the move is allowed and the kernel picks the number."""
    name = dummy(ctx, "c")
    c = ctx.container()
    c.config["linux"]["netDevices"] = {name: {"name": "lo%d"}}
    c.config["process"]["args"] += ["ip -o link show"]
    out = c.run_probe().cmd(0)[1]
    # `ip link` prints a veth as "lo0@ifNN:"; a physical device as "lo0:".
    numbered = any(f": lo{n}{end}" in out for n in (0, 1) for end in (":", "@"))
    expect(numbered, f"no lo<N> device in the container: {out.strip()[:200]}")


@check("netdevices.not-moved-back")
def not_moved_back(ctx: Ctx) -> None:
    """The runtime does not move the device back before deletion (a veth end dies with the namespace)."""
    name = dummy(ctx, "d")
    c = ctx.container(["true"])
    c.config["linux"]["netDevices"] = {name: {}}
    c.create()
    expect(ip("link", "show", name).returncode != 0, "the device is still on the host after create")
    c.start()
    c.wait_status("stopped")
    c.delete()
    expect(ip("link", "show", name).returncode != 0, "the device came back to the host")
