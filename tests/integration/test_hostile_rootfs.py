"""A hostile rootfs: symlinks planted where the runtime mounts, creates or binds things.

Each case plants a link pointing at a host directory the test owns (an absolute link, and a `../..`
one). The container must either start with the mount or node landing inside the rootfs, or fail
cleanly; the host directory must be unchanged either way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    target = tmp_path / "host-target"
    target.mkdir()
    (target / "keep").write_text("host file\n")
    return target


def snapshot(path: Path) -> set[str]:
    """Every entry below `path` with its type: what 'unchanged' is compared on."""
    return {f"{p.relative_to(path)}:{p.is_dir()}:{p.is_symlink()}" for p in path.rglob("*")} | {
        f"mounts:{sum(1 for line in open('/proc/self/mountinfo') if str(path) in line)}"
    }


def run(runtime: Runtime, bundle: Bundle) -> tuple[int, str, str]:
    result = runtime("run", "-b", str(bundle.path), new_id())
    return result.returncode, result.stdout, result.stderr


def assert_clean_outcome(code: int, err: str) -> None:
    # Either it worked, or it failed with one line (and no_trace checks nothing was left).
    assert code == 0 or len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("style", ["absolute", "dotdot"])
def test_link_planted_at_proc(
    runtime: Runtime, make_bundle: BundleFactory, host_dir: Path, style: str, no_trace: None
) -> None:
    bundle = make_bundle(["sh", "-c", "ls /proc/self/ns | head -1"], copy_rootfs=True)
    (bundle.rootfs / "proc").rmdir()
    target = str(host_dir) if style == "absolute" else "../" * 12 + str(host_dir).lstrip("/")
    (bundle.rootfs / "proc").symlink_to(target)
    before = snapshot(host_dir)
    code, out, err = run(runtime, bundle)
    assert_clean_outcome(code, err)
    assert snapshot(host_dir) == before
    if code == 0:
        assert out.strip() == "cgroup"  # a real procfs, mounted inside the rootfs


def test_link_planted_at_a_parent_directory(
    runtime: Runtime, make_bundle: BundleFactory, host_dir: Path, tmp_path: Path, no_trace: None
) -> None:
    source = tmp_path / "data"
    source.mkdir()
    (source / "payload").write_text("from the bind source\n")
    bundle = make_bundle(["cat", "/srv/inner/payload"], copy_rootfs=True)
    (bundle.rootfs / "srv").symlink_to(str(host_dir))  # /srv/inner would be created on the host
    bundle.config["mounts"].append(
        {"destination": "/srv/inner", "type": "bind", "source": str(source), "options": ["bind"]}
    )
    bundle.write()
    before = snapshot(host_dir)
    code, out, err = run(runtime, bundle)
    assert_clean_outcome(code, err)
    assert snapshot(host_dir) == before
    if code == 0:
        assert out == "from the bind source\n"
        assert (bundle.rootfs / "tmp").exists()  # the rootfs is intact


def test_link_planted_at_dev_null_without_a_dev_mount(
    runtime: Runtime, make_bundle: BundleFactory, host_dir: Path, no_trace: None
) -> None:
    """Without a /dev tmpfs the image's /dev is used: a planted /dev/null link is replaced by the real
    node inside the rootfs, never followed to create or bind on the host."""
    bundle = make_bundle(
        ["sh", "-c", "stat -c '%t:%T' /dev/null; echo x > /dev/null && echo writable"], copy_rootfs=True
    )
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    (bundle.rootfs / "dev").mkdir(exist_ok=True)
    (bundle.rootfs / "dev" / "null").symlink_to(str(host_dir / "keep"))
    bundle.write()
    before = (host_dir / "keep").read_text()
    code, out, err = run(runtime, bundle)
    assert_clean_outcome(code, err)
    assert (host_dir / "keep").read_text() == before
    if code == 0:
        assert out.split() == ["1:3", "writable"]


def test_link_planted_at_a_device_parent(
    runtime: Runtime, make_bundle: BundleFactory, host_dir: Path, no_trace: None
) -> None:
    bundle = make_bundle(["stat", "-c", "%t:%T", "/dev/extra/mynull"], copy_rootfs=True)
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    (bundle.rootfs / "dev").mkdir(exist_ok=True)
    (bundle.rootfs / "dev" / "extra").symlink_to(str(host_dir))
    bundle.config["linux"]["devices"] = [{"path": "/dev/extra/mynull", "type": "c", "major": 1, "minor": 3}]
    bundle.write()
    before = snapshot(host_dir)
    code, out, err = run(runtime, bundle)
    assert_clean_outcome(code, err)
    assert snapshot(host_dir) == before
    assert not (host_dir / "mynull").exists()


def test_link_planted_at_cwd(runtime: Runtime, make_bundle: BundleFactory, host_dir: Path, no_trace: None) -> None:
    bundle = make_bundle(["pwd"], copy_rootfs=True)
    (bundle.rootfs / "work").symlink_to(str(host_dir))
    bundle.config["process"]["cwd"] = "/work/sub"  # created if missing: never on the host
    bundle.write()
    before = snapshot(host_dir)
    code, _, err = run(runtime, bundle)
    assert_clean_outcome(code, err)
    assert snapshot(host_dir) == before
    assert not (host_dir / "sub").exists()
