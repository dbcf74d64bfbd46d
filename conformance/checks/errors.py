"""runtime.md Errors/Operations error paths and config.md Extensibility / Valid values.

Every error check verifies the error (exit status != 0) and that nothing was left behind: no state,
not listed, no cgroup directory, no process rooted in the bundle's rootfs.
"""

from __future__ import annotations

from pathlib import Path

from conformance.harness import Ctx, check, expect


@check("errors.missing-id")
def missing_id(ctx: Ctx) -> None:
    """state, create, start, kill and delete without a container ID all fail."""
    c = ctx.container()
    c.write_config()
    for args in (["state"], ["create", "--bundle", str(c.bundle)], ["start"], ["kill"], ["delete"]):
        result = ctx.runtime(*args)
        expect(result.returncode != 0, f"`{' '.join(args[:1])}` without an ID succeeded")
    expect(not ctx.listed_ids(), f"a container exists after create without ID: {ctx.listed_ids()}")


@check("errors.unknown-container")
def unknown_container(ctx: Ctx) -> None:
    """state, start, kill and delete of a container that does not exist fail."""
    for args in (["state"], ["start"], ["kill"], ["delete"]):
        result = ctx.runtime(*args, "conformance-no-such-container")
        expect(result.returncode != 0, f"`{args[0]}` of a nonexistent container succeeded")


@check("errors.create-without-bundle")
def create_without_bundle(ctx: Ctx) -> None:
    """create with no bundle (none given, none in the working directory) fails and creates nothing."""
    c = ctx.container()
    empty = ctx.host_dir("empty-cwd")
    result = ctx.runtime("create", c.id, cwd=empty)
    expect(result.returncode != 0, "create without a bundle succeeded")
    ctx.expect_no_container(c, "after create without bundle")


@check("errors.duplicate-id")
def duplicate_id(ctx: Ctx) -> None:
    """A second create with an ID in use fails, creates nothing and leaves the first container alone."""
    first = ctx.container()
    first.create()
    before = first.must_state()
    second = ctx.container()
    second.id = first.id
    result = second.create(check=False)
    expect(result.returncode != 0, "create with a duplicate ID succeeded")
    after = first.must_state()
    expect(after["pid"] == before["pid"] and after["status"] == "created", f"the first container changed: {after}")
    expect(str(Path(after["bundle"]).resolve()) == str(first.bundle.resolve()), "state now points at the second bundle")
    expect(second.cgroups_path and not _exists(second.cgroups_path), "the second create made its cgroup")


def _exists(path: str) -> bool:
    from conformance.harness import cgroup_dirs

    return bool(cgroup_dirs(path))


@check("errors.invalid-id")
def invalid_id(ctx: Ctx) -> None:
    """create with an ID that is not valid (path separators, '..', empty) fails and creates nothing."""
    outside = ctx.dir / "escaped"
    for bad in ("../escaped", "a/b", "", ".."):
        c = ctx.container()
        c.id = bad
        result = c.create(check=False)
        expect(result.returncode != 0, f"create with ID {bad!r} succeeded")
        expect(not outside.exists(), f"create with ID {bad!r} wrote outside --root")
        expect(not _exists(c.cgroups_path), f"create with ID {bad!r} made a cgroup")
    expect(not ctx.listed_ids(), f"containers exist after invalid IDs: {ctx.listed_ids()}")


@check("errors.unapplicable-property")
def unapplicable_property(ctx: Ctx) -> None:
    """A property that cannot be applied (bind mount of a missing source) fails create, leaving nothing."""
    c = ctx.container()
    c.config["mounts"].append(
        {"destination": "/missing", "type": "bind", "source": str(ctx.dir / "no-such-dir"), "options": ["rbind"]}
    )
    ctx.expect_create_error(c, "a bind mount of a missing source")


@check("errors.invalid-values")
def invalid_values(ctx: Ctx) -> None:
    """Invalid values (unknown namespace type, unknown filesystem type) fail create, leaving nothing."""
    c = ctx.container()
    c.config["linux"]["namespaces"].append({"type": "conformance-bogus"})
    ctx.expect_create_error(c, "namespace type 'conformance-bogus'")
    c = ctx.container()
    c.config["mounts"].append({"destination": "/x", "type": "conformancefs", "source": "none"})
    ctx.expect_create_error(c, "filesystem type 'conformancefs'")


@check("errors.ociversion-invalid")
def ociversion_invalid(ctx: Ctx) -> None:
    """An ociVersion that is not SemVer 2.0.0 is an invalid value: create fails."""
    c = ctx.container()
    c.config["ociVersion"] = "not-a-version"
    ctx.expect_create_error(c, "ociVersion 'not-a-version'")


@check("errors.unknown-properties-ignored")
def unknown_properties_ignored(ctx: Ctx) -> None:
    """Unknown properties and unknown annotation keys are ignored: the container runs."""
    c = ctx.container()
    c.config["com.example.conformance"] = {"anything": [1, 2]}
    c.config["process"]["com.example.conformance"] = True
    c.config["linux"]["com.example.conformance"] = "x"
    c.config["annotations"] = {"com.example.conformance.unknown": "value"}
    c.run_probe()


def bad_annotations(ctx: Ctx, value: object, what: str) -> None:
    c = ctx.container()
    c.config["annotations"] = value
    ctx.expect_create_error(c, what)


@check("errors.annotations-not-map")
def annotations_not_map(ctx: Ctx) -> None:
    """annotations that is not a map is an invalid value: create fails."""
    bad_annotations(ctx, ["a", "b"], "annotations as a list")


@check("errors.annotation-empty-key")
def annotation_empty_key(ctx: Ctx) -> None:
    """An empty annotation key is an invalid value: create fails."""
    bad_annotations(ctx, {"": "v"}, "an empty annotation key")


@check("errors.annotation-value-not-string")
def annotation_value_not_string(ctx: Ctx) -> None:
    """A non-string annotation value is an invalid value: create fails."""
    bad_annotations(ctx, {"com.example.n": 1}, "a non-string annotation value")
