"""config-linux.md Control groups: cgroupsPath placement, unified, pids, blockIO, intelRdt errors.

Every container has an absolute cgroupsPath under the suite's own parent; nothing else is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

from conformance.harness import Ctx, Skip, cgroup_dirs, check, expect, fail


def init_cgroups(pid: int) -> dict[str, str]:
    """/proc/<pid>/cgroup as {controllers: path}."""
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        out[controllers] = path
    return out


@check("cgroups.absolute-path")
def absolute_path(ctx: Ctx) -> None:
    """An absolute cgroupsPath is taken from the cgroup mount point, in every controller hierarchy."""
    c = ctx.container()
    c.create()
    pid = int(c.must_state()["pid"])
    seen = init_cgroups(pid)
    wrong = {k: v for k, v in seen.items() if k and not k.startswith("name=") and v != c.cgroups_path}
    expect(not wrong, f"init is not at {c.cgroups_path} in: {wrong}")
    expect(cgroup_dirs(c.cgroups_path), f"no directory {c.cgroups_path} under /sys/fs/cgroup")


@check("cgroups.same-path")
def same_path(ctx: Ctx) -> None:
    """The same cgroupsPath always lands in the same place (two containers, one after the other)."""
    places = []
    path = f"{ctx.suite.cgroup_parent}/{ctx.suite.next_name('same')}"
    for _ in range(2):
        c = ctx.container(["sh", "-c", "cat /proc/self/cgroup"])
        c.config["linux"]["cgroupsPath"] = path
        c.config["linux"]["namespaces"] = [n for n in c.config["linux"]["namespaces"] if n["type"] != "cgroup"]
        c.create()
        places.append(sorted(init_cgroups(int(c.must_state()["pid"])).items()))
        c.kill("KILL")
        c.wait_status("stopped")
        c.delete()
    expect(places[0] == places[1], f"the same cgroupsPath gave {places[0]} then {places[1]}")


@check("cgroups.unified-missing-controller")
def unified_missing_controller(ctx: Ctx) -> None:
    """linux.resources.unified naming a controller that is not available fails create."""
    c = ctx.container()
    c.config["linux"]["resources"] = {"unified": {"conformancebogus.max": "1"}}
    ctx.expect_create_error(c, "unified key for the nonexistent controller 'conformancebogus'")


@check("cgroups.pids-zero")
def pids_zero(ctx: Ctx) -> None:
    """A pids limit of 0 is a real limit of 0, not 'unset' (SHOULD)."""
    c = ctx.container()
    c.config["linux"]["resources"] = {"pids": {"limit": 0}}
    c.create()
    files = [d / "pids.max" for d in cgroup_dirs(c.cgroups_path) if (d / "pids.max").exists()]
    if not files:
        raise Skip("no pids controller directory for the container")
    values = {f.read_text().strip() for f in files}
    expect(values == {"0"}, f"pids.max is {values}, not 0")


@check("cgroups.blkio-weight-device-empty")
def blkio_weight_device_empty(ctx: Ctx) -> None:
    """A blockIO.weightDevice entry with neither weight nor leafWeight is invalid: create fails."""
    dev = os.stat("/").st_dev
    c = ctx.container()
    c.config["linux"]["resources"] = {"blockIO": {"weightDevice": [{"major": os.major(dev), "minor": os.minor(dev)}]}}
    ctx.expect_create_error(c, "a weightDevice entry without weight or leafWeight")


@check("cgroups.intelrdt-no-resctrl")
def intelrdt_no_resctrl(ctx: Ctx) -> None:
    """linux.intelRdt without a mounted resctrl filesystem fails create."""
    mounts = Path("/proc/self/mountinfo").read_text()
    if " - resctrl " in mounts:
        raise Skip("resctrl is mounted on this host; the no-resctrl error path cannot be exercised")
    c = ctx.container()
    c.config["linux"]["intelRdt"] = {"closID": "conformance"}
    ctx.expect_create_error(c, "intelRdt on a host without resctrl")
    if Path("/sys/fs/resctrl/conformance").exists():
        fail("a resctrl group was created")
