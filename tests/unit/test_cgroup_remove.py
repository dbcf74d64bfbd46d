"""cgroups.remove on plain directories, which rmdir refuses the way a busy cgroup does (ENOTEMPTY):
a directory we made that still holds something is waited for, one holding another container's
directory is left alone, and a directory that never frees up is an error, not a silent leftover."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from ociruntime import errors
from ociruntime.cgroups import manager


def test_waits_for_a_busy_directory_to_free_up(tmp_path: Path) -> None:
    # A cgroup whose last task is still exiting: rmdir fails (EBUSY) while cgroup.procs already
    # reads empty. Here a file plays the exiting task and goes away after a moment.
    leaf = tmp_path / "leaf"
    leaf.mkdir()
    (leaf / "exiting-task").touch()
    timer = threading.Timer(0.1, os.unlink, [leaf / "exiting-task"])
    timer.start()
    try:
        manager.remove([str(leaf)], timeout=5)
    finally:
        timer.cancel()
    assert not leaf.exists()


def test_a_parent_holding_another_containers_cgroup_stays(tmp_path: Path) -> None:
    parent, mine, theirs = tmp_path / "parent", tmp_path / "parent" / "mine", tmp_path / "parent" / "theirs"
    mine.mkdir(parents=True)
    theirs.mkdir()
    manager.remove([str(parent), str(mine)], timeout=5)
    assert not mine.exists() and theirs.is_dir()


def test_a_directory_that_stays_busy_is_an_error(tmp_path: Path) -> None:
    leaf = tmp_path / "leaf"
    leaf.mkdir()
    (leaf / "stuck-task").touch()
    with pytest.raises(errors.CgroupError, match="cannot remove"):
        manager.remove([str(leaf)], timeout=0.1)
