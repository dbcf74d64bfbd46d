"""Path resolution inside a hostile rootfs (ociruntime.linux.paths) on tmp_path: no root needed."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from ociruntime.linux.paths import make_dirs_in_root, make_file_in_root, resolve_in_root


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    for d in ("etc", "usr/lib", "var", "dev", "proc"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "hostname").write_text("container\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the rootfs that nothing may ever touch."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret").write_text("host\n")
    return out


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --- resolve_in_root -------------------------------------------------------------------------------


def test_plain_paths(rootfs: Path) -> None:
    r = str(rootfs)
    assert resolve_in_root(r, "/etc/hostname") == f"{r}/etc/hostname"
    assert resolve_in_root(r, "etc/hostname") == f"{r}/etc/hostname"
    assert resolve_in_root(r, "/") == r
    assert resolve_in_root(r, "") == r
    assert resolve_in_root(r, "//etc/./hostname/") == f"{r}/etc/hostname"


def test_missing_components_taken_literally(rootfs: Path) -> None:
    assert resolve_in_root(str(rootfs), "/new/dir/file") == f"{rootfs}/new/dir/file"


def test_absolute_link_restarts_at_root(rootfs: Path) -> None:
    (rootfs / "link").symlink_to("/etc")
    assert resolve_in_root(str(rootfs), "/link") == f"{rootfs}/etc"
    assert resolve_in_root(str(rootfs), "/link/hostname") == f"{rootfs}/etc/hostname"


def test_dotdot_beyond_root_stays_at_root(rootfs: Path) -> None:
    r = str(rootfs)
    assert resolve_in_root(r, "/../../../etc") == f"{r}/etc"
    assert resolve_in_root(r, "/etc/../../..") == r
    assert resolve_in_root(r, "/usr/lib/../../var") == f"{r}/var"


def test_relative_link_resolved_from_its_directory(rootfs: Path) -> None:
    (rootfs / "usr" / "lib" / "up").symlink_to("../../etc")
    assert resolve_in_root(str(rootfs), "/usr/lib/up/hostname") == f"{rootfs}/etc/hostname"


def test_relative_link_escaping_stays_inside(rootfs: Path, outside: Path) -> None:
    (rootfs / "var" / "esc").symlink_to("../../../../../outside")
    assert resolve_in_root(str(rootfs), "/var/esc/secret") == f"{rootfs}/outside/secret"


def test_absolute_link_to_host_path_stays_inside(rootfs: Path, outside: Path) -> None:
    (rootfs / "hostlink").symlink_to(str(outside))
    resolved = resolve_in_root(str(rootfs), "/hostlink/secret")
    assert resolved == f"{rootfs}{outside}/secret"


def test_link_chain(rootfs: Path) -> None:
    (rootfs / "a").symlink_to("b")
    (rootfs / "b").symlink_to("/c")
    (rootfs / "c").symlink_to("usr/lib")
    assert resolve_in_root(str(rootfs), "/a/x") == f"{rootfs}/usr/lib/x"


def test_link_loop_is_eloop(rootfs: Path) -> None:
    (rootfs / "x").symlink_to("y")
    (rootfs / "y").symlink_to("/x")
    with pytest.raises(OSError) as info:
        resolve_in_root(str(rootfs), "/x/file")
    assert info.value.errno == errno.ELOOP


def test_self_loop_is_eloop(rootfs: Path) -> None:
    (rootfs / "self").symlink_to("self")
    with pytest.raises(OSError) as info:
        resolve_in_root(str(rootfs), "/self")
    assert info.value.errno == errno.ELOOP


@pytest.mark.parametrize("target", ["/", "../../..", "..", "/..", "../../../../../../.."])
def test_intermediate_link_to_root(rootfs: Path, target: str) -> None:
    (rootfs / "var" / "run").symlink_to(target)
    assert resolve_in_root(str(rootfs), "/var/run/etc/hostname") == f"{rootfs}/etc/hostname"


def test_final_dangling_absolute_link(rootfs: Path) -> None:
    (rootfs / "dev" / "ptmx").symlink_to("/nonexistent/ptmx")
    assert resolve_in_root(str(rootfs), "/dev/ptmx") == f"{rootfs}/nonexistent/ptmx"


# --- make_dirs_in_root -----------------------------------------------------------------------------


def test_make_dirs_plain(rootfs: Path) -> None:
    old = os.umask(0o022)
    try:
        result = make_dirs_in_root(str(rootfs), "/a/b/c", 0o750)
    finally:
        os.umask(old)
    assert result == f"{rootfs}/a/b/c"
    assert [stat.S_IMODE(os.stat(rootfs / p).st_mode) for p in ("a", "a/b", "a/b/c")] == [0o750] * 3


def test_make_dirs_existing(rootfs: Path) -> None:
    assert make_dirs_in_root(str(rootfs), "/usr/lib") == f"{rootfs}/usr/lib"
    assert make_dirs_in_root(str(rootfs), "/") == str(rootfs)


def test_make_dirs_through_file_is_enotdir(rootfs: Path) -> None:
    with pytest.raises(NotADirectoryError):
        make_dirs_in_root(str(rootfs), "/etc/hostname")


@pytest.mark.parametrize("target", ["/", "../../..", "OUTSIDE", "OUTSIDE/deeper"])
def test_make_dirs_through_planted_link_stays_inside(rootfs: Path, outside: Path, tmp_path: Path, target: str) -> None:
    target = target.replace("OUTSIDE", str(outside))
    (rootfs / "var" / "lib").symlink_to(target)
    (rootfs / "proc").rmdir()
    (rootfs / "proc").symlink_to("../../../" + outside.name)
    before_outside = tree(outside)
    before_tmp = sorted(os.listdir(tmp_path))
    for path in ("/var/lib/containers/storage", "/proc/sys/kernel", "/var/lib/../../../../escape"):
        result = make_dirs_in_root(str(rootfs), path)
        assert result.startswith(str(rootfs) + "/")
        assert os.path.isdir(result)
    assert tree(outside) == before_outside
    assert sorted(os.listdir(tmp_path)) == before_tmp


def test_make_dirs_through_link_to_root(rootfs: Path) -> None:
    (rootfs / "var" / "lib").symlink_to("/")
    assert make_dirs_in_root(str(rootfs), "/var/lib/new/dir") == f"{rootfs}/new/dir"
    assert (rootfs / "new" / "dir").is_dir()


# --- make_file_in_root -----------------------------------------------------------------------------


def test_make_file(rootfs: Path) -> None:
    old = os.umask(0o022)
    try:
        result = make_file_in_root(str(rootfs), "/run/secrets/token", 0o600)
    finally:
        os.umask(old)
    assert result == f"{rootfs}/run/secrets/token"
    assert (rootfs / "run" / "secrets").is_dir()
    assert Path(result).is_file()
    assert stat.S_IMODE(os.stat(result).st_mode) == 0o600


def test_make_file_existing_is_untouched(rootfs: Path) -> None:
    assert make_file_in_root(str(rootfs), "/etc/hostname") == f"{rootfs}/etc/hostname"
    assert (rootfs / "etc" / "hostname").read_text() == "container\n"


def test_make_file_final_link_into_rootfs(rootfs: Path) -> None:
    (rootfs / "etc" / "resolv.conf").symlink_to("/var/resolv.conf")
    assert make_file_in_root(str(rootfs), "/etc/resolv.conf") == f"{rootfs}/var/resolv.conf"
    assert (rootfs / "var" / "resolv.conf").is_file()


def test_make_file_dangling_absolute_link_to_host(rootfs: Path, outside: Path, tmp_path: Path) -> None:
    """A link /etc/hosts -> <outside>/pwned: must land inside the rootfs or fail, never create outside."""
    (rootfs / "etc" / "hosts").symlink_to(str(outside / "pwned"))
    before_outside = tree(outside)
    before_tmp = sorted(os.listdir(tmp_path))
    try:
        result = make_file_in_root(str(rootfs), "/etc/hosts")
    except OSError:
        pass
    else:
        assert result.startswith(str(rootfs) + "/")
        assert os.path.lexists(result)
    assert tree(outside) == before_outside
    assert not (outside / "pwned").exists()
    assert sorted(os.listdir(tmp_path)) == before_tmp


def test_make_file_dangling_link_into_existing_dir(rootfs: Path) -> None:
    (rootfs / "dev" / "console").symlink_to("/etc/console-target")
    assert make_file_in_root(str(rootfs), "/dev/console") == f"{rootfs}/etc/console-target"
    assert (rootfs / "etc" / "console-target").is_file()


def test_make_file_dangling_relative_escape(rootfs: Path, outside: Path) -> None:
    (rootfs / "etc" / "escape").symlink_to("../../../../../../" + outside.name + "/pwned2")
    before = tree(outside)
    try:
        result = make_file_in_root(str(rootfs), "/etc/escape")
    except OSError:
        pass
    else:
        assert result.startswith(str(rootfs) + "/")
    assert tree(outside) == before


def test_make_file_parent_is_planted_link(rootfs: Path, outside: Path) -> None:
    (rootfs / "run").symlink_to(str(outside))
    before = tree(outside)
    result = make_file_in_root(str(rootfs), "/run/file")
    assert result == f"{rootfs}{outside}/file"
    assert Path(result).is_file()
    assert tree(outside) == before
