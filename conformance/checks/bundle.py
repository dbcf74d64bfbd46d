"""bundle.md and config.md Root: where config.json and the root filesystem are found."""

from __future__ import annotations

import shutil

from conformance.harness import Ctx, check, expect


@check("bundle.config-json-at-root")
def config_json_at_root(ctx: Ctx) -> None:
    """Only a file named exactly config.json at the bundle root is the configuration."""
    c = ctx.container()
    c.write_config()
    (c.bundle / "sub").mkdir()
    shutil.move(str(c.bundle / "config.json"), str(c.bundle / "sub" / "config.json"))
    result = ctx.runtime("create", "--bundle", str(c.bundle), c.id)
    expect(result.returncode != 0, "create succeeded with config.json only in a subdirectory")
    ctx.expect_no_container(c, "config.json in a subdirectory")
    shutil.move(str(c.bundle / "sub" / "config.json"), str(c.bundle / "Config.json"))
    result = ctx.runtime("create", "--bundle", str(c.bundle), c.id)
    expect(result.returncode != 0, "create succeeded with the configuration named Config.json")
    ctx.expect_no_container(c, "Config.json")


@check("bundle.relative-root")
def relative_root(ctx: Ctx) -> None:
    """A relative root.path is taken relative to the bundle, whatever the caller's working directory."""
    c = ctx.container()
    c.write_config()
    with open(c.out, "wb") as out:
        result = ctx.runtime("create", "--bundle", str(c.bundle), c.id, cwd=ctx.host_dir("elsewhere"), stdout=out)
    expect(result.returncode == 0, f"create from another directory failed: {c.output_text()[-200:]}")
    c.start()
    c.probe()


@check("root.missing")
def root_missing(ctx: Ctx) -> None:
    """A root.path with no directory there fails create, leaving nothing."""
    c = ctx.container()
    c.config["root"]["path"] = "no-such-rootfs"
    ctx.expect_create_error(c, "root.path naming no directory")


@check("root.readonly")
def root_readonly(ctx: Ctx) -> None:
    """root.readonly true makes / read-only inside; false leaves it writable."""
    c = ctx.container()
    c.config["process"]["args"] += ["touch /conformance-written"]
    probe = c.run_probe()
    root = probe.mount_at("/")
    expect(root is not None and "ro" in root["options"], f"/ is not mounted ro: {root and root['options']}")
    expect(probe.cmd(0)[0] != 0, "writing to / succeeded with root.readonly")
    c = ctx.container()
    c.config["root"]["readonly"] = False
    c.config["process"]["args"] += ["touch /conformance-written"]
    expect(c.run_probe().cmd(0)[0] == 0, "writing to / failed without root.readonly")
