"""Bad inputs fail cleanly: exit code != 0, one stderr line naming the problem, nothing left behind.

Where runc is installed it gets the same input and must fail too (parity); where runc accepts what we
refuse, or the other way round, a comment says so instead of an assertion.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")


def one_line_failure(runtime: Runtime, *args: str, global_args: list[str] | None = None) -> str:
    """Run a command that must fail; return its single stderr line (without the program prefix)."""
    result = runtime(*args, global_args=global_args, stdin=open(os.devnull))
    assert result.returncode != 0, f"{args} succeeded: {result.stdout!r}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {result.stderr!r}"
    return lines[0]


def failed_create(runtime: Runtime, bundle: Path | Bundle, cid: str | None = None) -> str:
    """`create` that must fail and leave no state directory behind."""
    path = bundle.path if isinstance(bundle, Bundle) else bundle
    line = one_line_failure(runtime, "create", "-b", str(path), cid if cid is not None else new_id())
    assert runtime.container_dirs() == [], "state directory left after a failed create"
    return line


def runc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """runc with its own state root, or None when runc is not installed."""
    if RUNC is None:
        return None
    root = tmp_path / "runc-state"
    # Files, not pipes: a detached container's init keeps its stdio open.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            [RUNC, "--root", str(root), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def assert_runc_fails(tmp_path: Path, *args: str) -> None:
    """Parity: runc refuses the same input. Anything runc created by accident is removed."""
    result = runc(tmp_path, *args)
    if result is None:
        return
    if result.returncode == 0 and args[0] in ("create", "run"):
        runc(tmp_path, "delete", "--force", args[-1])
    assert result.returncode != 0, f"runc accepted {args}: {result.stdout!r}"


def assert_runc_create_fails(tmp_path: Path, bundle: Path | Bundle) -> None:
    path = bundle.path if isinstance(bundle, Bundle) else bundle
    assert_runc_fails(tmp_path, "create", "-b", str(path), new_id())


def set_namespace(bundle: Bundle, ns_type: str, **fields: str) -> Bundle:
    for ns in bundle.config["linux"]["namespaces"]:
        if ns["type"] == ns_type:
            ns.update(fields)
    return bundle.write()


# --- the bundle and config.json ---------------------------------------------------------------------


def test_missing_bundle_directory(runtime: Runtime, tmp_path: Path, no_trace: None) -> None:
    missing = tmp_path / "no-such-bundle"
    line = failed_create(runtime, missing)
    assert str(missing) in line
    assert_runc_create_fails(tmp_path, missing)


def test_bundle_without_config(runtime: Runtime, tmp_path: Path, no_trace: None) -> None:
    empty = tmp_path / "empty-bundle"
    empty.mkdir()
    line = failed_create(runtime, empty)
    assert "config.json" in line
    assert_runc_create_fails(tmp_path, empty)


def test_config_is_a_directory(runtime: Runtime, tmp_path: Path, no_trace: None) -> None:
    bundle = tmp_path / "dir-bundle"
    (bundle / "config.json").mkdir(parents=True)
    line = failed_create(runtime, bundle)
    assert "config.json" in line
    assert_runc_create_fails(tmp_path, bundle)


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"ociVersion": "1.3.0",}', b"", b"\xff\xfe{}", b"[1, 2]", b'"just a string"'],
    ids=["truncated", "trailing-comma", "empty", "invalid-utf8", "array", "string"],
)
def test_config_not_a_json_object(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, content: bytes, no_trace: None
) -> None:
    bundle = make_bundle()
    (bundle.path / "config.json").write_bytes(content)
    line = failed_create(runtime, bundle)
    assert "config.json" in line
    assert_runc_create_fails(tmp_path, bundle)


def test_schema_invalid_namespace_type(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle()
    assert bundle.config["linux"]["namespaces"][2]["type"] == "ipc"
    bundle.config["linux"]["namespaces"][2]["type"] = "pidd"
    bundle.write()
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[2].type" in line and "pidd" in line
    assert_runc_create_fails(tmp_path, bundle)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["process"].__setitem__("args", "sh"), "process.args"),
        (lambda c: c["process"]["user"].__setitem__("uid", -1), "process.user.uid"),
        (lambda c: c["mounts"][0].pop("destination"), "mounts[0]"),
        (lambda c: c.pop("ociVersion"), "ociVersion"),
    ],
    ids=["args-not-array", "negative-uid", "mount-without-destination", "no-ociVersion"],
)
def test_schema_invalid_field_is_named(
    runtime: Runtime, make_bundle: BundleFactory, change, field: str, no_trace: None
) -> None:
    bundle = make_bundle()
    change(bundle.config)
    bundle.write()
    assert field in failed_create(runtime, bundle)


def test_duplicate_namespace_types(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle()
    bundle.config["linux"]["namespaces"].append({"type": "ipc"})
    bundle.write()
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[6].type" in line and "ipc" in line
    assert_runc_create_fails(tmp_path, bundle)


def test_relative_namespace_path(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = set_namespace(make_bundle(), "network", path="run/netns/x")
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[1].path" in line and "run/netns/x" in line
    assert_runc_create_fails(tmp_path, bundle)  # runc: lstat run/netns/x: no such file or directory


def test_namespace_path_that_does_not_exist(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    missing = str(tmp_path / "no-such-netns")
    bundle = set_namespace(make_bundle(), "network", path=missing)
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[1].path" in line and missing in line
    assert_runc_create_fails(tmp_path, bundle)


def test_namespace_path_of_the_wrong_type(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = set_namespace(make_bundle(), "network", path="/proc/self/ns/ipc")
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[1].path" in line and "network" in line
    assert_runc_create_fails(tmp_path, bundle)  # runc fails late, inside nsexec, with two lines


def test_namespace_path_that_is_not_a_namespace(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    plain = tmp_path / "plain-file"
    plain.write_text("")
    bundle = set_namespace(make_bundle(), "ipc", path=str(plain))
    line = failed_create(runtime, bundle)
    assert "linux.namespaces[2].path" in line and str(plain) in line
    assert_runc_create_fails(tmp_path, bundle)


def test_rootfs_that_does_not_exist(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle()
    bundle.config["root"]["path"] = "no-such-rootfs"
    bundle.write()
    line = failed_create(runtime, bundle)
    assert str(bundle.path / "no-such-rootfs") in line
    assert_runc_create_fails(tmp_path, bundle)


def test_rootfs_that_is_a_file(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle()
    (bundle.path / "rootfs-file").write_text("")
    bundle.config["root"]["path"] = "rootfs-file"
    bundle.write()
    assert "rootfs-file" in failed_create(runtime, bundle)
    assert_runc_create_fails(tmp_path, bundle)


# --- container ids ----------------------------------------------------------------------------------


def test_duplicate_id(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    first, second = make_bundle(["sleep", "100"]), make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("create", "-b", str(first.path), cid, stdin=open(os.devnull))
    before = runtime.state(cid)
    line = one_line_failure(runtime, "create", "-b", str(second.path), cid)
    assert cid in line and "exists" in line
    assert runtime.container_dirs() == [cid]
    after = runtime.state(cid)
    assert after["status"] == "created"
    assert (after["pid"], after["bundle"]) == (before["pid"], str(first.path))
    assert os.path.exists(f"/proc/{after['pid']}")
    from tests.conftest import cgroup_dirs

    assert cgroup_dirs(second.cgroup) == []  # the loser made no cgroup
    runtime.ok("delete", cid)
    # runc refuses a second create of the same id as well ("container with id exists"); not run here
    # because it needs a live runc container.


@pytest.mark.parametrize("verb", ["state", "start", "kill", "delete"])
def test_unknown_id(runtime: Runtime, tmp_path: Path, verb: str, no_trace: None) -> None:
    line = one_line_failure(runtime, verb, "no-such-container")
    assert line.endswith("container does not exist")
    assert runtime.container_dirs() == []
    assert_runc_fails(tmp_path, verb, "no-such-container")


def test_force_delete_of_unknown_id_succeeds(runtime: Runtime, tmp_path: Path, no_trace: None) -> None:
    result = runtime("delete", "--force", "no-such-container")
    assert result.returncode == 0 and result.stderr == ""
    oracle = runc(tmp_path, "delete", "--force", "no-such-container")
    if oracle is not None:
        assert oracle.returncode == 0


@pytest.mark.parametrize("bad_id", ["../x", "a/b", ".", "..", "", "/abs", "x\ny", "a b"])
def test_invalid_id_for_create(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, bad_id: str, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    line = failed_create(runtime, bundle, bad_id)
    assert "invalid container id" in line
    assert not (runtime.root.parent / "x").exists()  # "../x" did not escape --root
    assert_runc_fails(tmp_path, "create", "-b", str(bundle.path), bad_id)


@pytest.mark.parametrize("verb", ["state", "start", "kill", "delete"])
@pytest.mark.parametrize("bad_id", ["../x", "a/b", "..", ""])
def test_invalid_id_for_other_verbs(runtime: Runtime, tmp_path: Path, verb: str, bad_id: str, no_trace: None) -> None:
    line = one_line_failure(runtime, verb, bad_id)
    assert "invalid container id" in line or "does not exist" in line
    assert_runc_fails(tmp_path, verb, bad_id)


# --- commands against a container in the wrong status ------------------------------------------------


def running_container(runtime: Runtime, make_bundle: BundleFactory) -> tuple[str, int]:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    state = runtime.state(cid)
    assert state["status"] == "running"
    return cid, state["pid"]


def test_start_a_running_container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    cid, pid = running_container(runtime, make_bundle)
    line = one_line_failure(runtime, "start", cid)
    assert "running" in line
    assert runtime.state(cid)["status"] == "running" and runtime.state(cid)["pid"] == pid
    runtime.ok("delete", "--force", cid)


def test_start_a_stopped_container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["true"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    deadline = time.monotonic() + 10
    while runtime.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    line = one_line_failure(runtime, "start", cid)
    assert "stopped" in line
    runtime.ok("delete", cid)


def test_delete_a_running_container_without_force(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    cid, pid = running_container(runtime, make_bundle)
    line = one_line_failure(runtime, "delete", cid)
    assert cid in line and "running" in line
    assert runtime.container_dirs() == [cid]
    assert runtime.state(cid)["status"] == "running"
    assert os.path.exists(f"/proc/{pid}")
    runtime.ok("delete", "--force", cid)


UNKNOWN_SIGNALS = ["FOO", "SIGFOO", "99999", "-1", "KILL9"]


@pytest.mark.parametrize("sig", UNKNOWN_SIGNALS)
def test_kill_with_unknown_signal(runtime: Runtime, make_bundle: BundleFactory, sig: str, no_trace: None) -> None:
    cid, pid = running_container(runtime, make_bundle)
    line = one_line_failure(runtime, "kill", cid, sig)
    assert sig.lstrip("-") in line or "signal" in line
    time.sleep(0.1)
    assert runtime.state(cid)["status"] == "running"
    assert os.path.exists(f"/proc/{pid}")
    runtime.ok("delete", "--force", cid)


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
def test_runc_rejects_the_same_signals(make_bundle: BundleFactory, tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    started = runc(tmp_path, "run", "-d", "-b", str(bundle.path), cid)
    assert started is not None and started.returncode == 0, started
    try:
        for sig in UNKNOWN_SIGNALS:
            result = runc(tmp_path, "kill", cid, "--", sig)
            assert result is not None and result.returncode != 0, sig
    finally:
        runc(tmp_path, "delete", "--force", cid)


def test_kill_signal_zero_probes_like_runc(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    cid, pid = running_container(runtime, make_bundle)
    try:
        result = runtime("kill", cid, "0")
        assert result.returncode == 0, result.stderr
        assert runtime.state(cid)["status"] == "running"
    finally:
        runtime.ok("delete", "--force", cid)


def test_kill_a_stopped_container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["true"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    deadline = time.monotonic() + 10
    while runtime.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert one_line_failure(runtime, "kill", cid, "KILL").endswith("container not running")
    runtime.ok("delete", cid)


# --- the log file -----------------------------------------------------------------------------------


def test_json_log_holds_the_error(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle()
    bundle.config["linux"]["namespaces"][2]["type"] = "pidd"
    bundle.write()
    log = tmp_path / "runtime.log"
    line = one_line_failure(
        runtime, "create", "-b", str(bundle.path), new_id(), global_args=["--log", str(log), "--log-format", "json"]
    )
    assert runtime.container_dirs() == []
    records = log.read_text().splitlines()
    assert len(records) == 1, records
    record = json.loads(records[0])
    assert set(record) >= {"level", "msg", "time"}
    assert record["level"] == "error"
    assert line.endswith(record["msg"]) and line.split(": ", 1)[1] == record["msg"]
    assert "linux.namespaces[2].type" in record["msg"]
    assert record["time"].endswith("Z") and record["time"][:4].isdigit()


def test_json_log_for_an_error_inside_init(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(["no-such-binary"])
    log = tmp_path / "runtime.log"
    line = one_line_failure(
        runtime, "create", "-b", str(bundle.path), new_id(), global_args=["--log", str(log), "--log-format", "json"]
    )
    assert runtime.container_dirs() == []
    records = [json.loads(r) for r in log.read_text().splitlines()]
    errors = [r for r in records if r["level"] == "error"]
    assert len(errors) == 1 and line.endswith(errors[0]["msg"])
    assert "no-such-binary" in errors[0]["msg"]


# --- failures inside init (after namespaces and cgroups exist) ----------------------------------------


def test_bind_mount_source_missing(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(copy_rootfs=True)
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": "no-such-dir", "options": ["rbind"]}
    )
    bundle.write()
    line = failed_create(runtime, bundle)
    assert str(bundle.path / "no-such-dir") in line
    assert_runc_create_fails(tmp_path, bundle)


def test_mount_of_unknown_filesystem_type(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(copy_rootfs=True)
    bundle.config["mounts"].append({"destination": "/weird", "type": "nosuchfs", "source": "none"})
    bundle.write()
    line = failed_create(runtime, bundle)
    assert "/weird" in line or "nosuchfs" in line
    assert_runc_create_fails(tmp_path, bundle)


def test_init_failure_names_its_step(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """The parent rebuilds the child's error with the name of the step that failed."""
    bundle = make_bundle(copy_rootfs=True)
    bundle.config["mounts"].append({"destination": "/weird", "type": "nosuchfs", "source": "none"})
    bundle.write()
    line = failed_create(runtime, bundle)
    assert "mounts" in line.split(":")[1], line


def test_cwd_that_is_a_file(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle(copy_rootfs=True)
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.write()
    line = failed_create(runtime, bundle)
    assert "/etc/passwd" in line or "cwd" in line
    assert_runc_create_fails(tmp_path, bundle)
