"""AppArmor / SELinux decisions (ociruntime.linux.lsm.plan_labels) and host detection, without root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ociruntime import errors
from ociruntime.linux import lsm, procfiles
from ociruntime.linux.lsm import HostLsm, ProcessLabels, plan_labels

NONE = HostLsm(apparmor=False, selinux=False)
BOTH = HostLsm(apparmor=True, selinux=True)


def test_nothing_requested_nothing_planned() -> None:
    assert plan_labels({}, {}, NONE) == lsm.LabelPlan(None, None, ())
    assert plan_labels({"apparmorProfile": "", "selinuxLabel": ""}, {"mountLabel": ""}, NONE).process is None


def test_apparmor_profile_without_apparmor_is_an_error() -> None:
    with pytest.raises(errors.NotSupported) as info:
        plan_labels({"apparmorProfile": "docker-default"}, {}, HostLsm(apparmor=False, selinux=True))
    assert info.value.what == "process.apparmorProfile"
    assert "apparmor is disabled or not supported" in str(info.value)


def test_selinux_label_without_selinux_is_runcs_error() -> None:
    with pytest.raises(errors.NotSupported) as info:
        plan_labels({"selinuxLabel": "system_u:system_r:container_t:s0"}, {}, HostLsm(apparmor=True, selinux=False))
    assert info.value.what == "process.selinuxLabel"
    assert info.value.reason == "selinux label is specified in config, but selinux is disabled or not supported"


def test_mount_label_without_selinux_is_ignored_with_a_note() -> None:
    result = plan_labels({}, {"mountLabel": "system_u:object_r:container_file_t:s0"}, NONE)
    assert result.mount_label is None
    assert result.process is None
    assert result.notes == ("linux.mountLabel is ignored: SELinux is not enabled on this host",)


def test_labels_kept_when_the_host_has_the_lsm() -> None:
    result = plan_labels({"apparmorProfile": "p", "selinuxLabel": "l"}, {"mountLabel": "m"}, BOTH)
    assert result.process == ProcessLabels("p", "l")
    assert result.mount_label == "m"
    assert result.process.writes() == [(("attr/apparmor/exec", "attr/exec"), "exec p"), (("attr/exec",), "l")]


def test_mount_data_with_label() -> None:
    assert lsm.mount_data_with_label(None, None) is None
    assert lsm.mount_data_with_label("mode=755", None) == "mode=755"
    assert lsm.mount_data_with_label("mode=755", "s0") == 'mode=755,context="s0"'
    assert lsm.mount_data_with_label(None, "s0") == 'context="s0"'


# --- detection from fake /sys and /proc trees --------------------------------------------------------


def make_tree(tmp_path: Path, files: dict[str, str], dirs: tuple[str, ...] = ()) -> tuple[str, str]:
    for d in dirs:
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return str(tmp_path / "sys"), str(tmp_path / "proc")


def test_detect_nothing(tmp_path: Path) -> None:
    assert lsm.detect(*make_tree(tmp_path, {})) == NONE


def test_detect_apparmor(tmp_path: Path) -> None:
    trees = make_tree(tmp_path, {"sys/module/apparmor/parameters/enabled": "Y\n"}, ("sys/kernel/security/apparmor",))
    assert lsm.detect(*trees) == HostLsm(apparmor=True, selinux=False)


def test_detect_apparmor_module_present_but_disabled(tmp_path: Path) -> None:
    trees = make_tree(tmp_path, {"sys/module/apparmor/parameters/enabled": "N\n"}, ("sys/kernel/security/apparmor",))
    assert lsm.detect(*trees) == NONE


def test_detect_selinux(tmp_path: Path) -> None:
    files = {"sys/fs/selinux/enforce": "1", "proc/self/attr/current": "unconfined_u:unconfined_r:unconfined_t:s0\0"}
    assert lsm.detect(*make_tree(tmp_path, files)) == HostLsm(apparmor=False, selinux=True)


def test_detect_selinux_kernel_label_means_off(tmp_path: Path) -> None:
    files = {"sys/fs/selinux/enforce": "0", "proc/self/attr/current": "kernel\0"}
    assert lsm.detect(*make_tree(tmp_path, files)) == NONE


def test_this_host_has_neither() -> None:
    # The integration suite relies on it (the decision is an error here, never a silent skip).
    assert lsm.detect() == NONE


# --- procfs writes go to the real procfs -------------------------------------------------------------


def test_proc_root_must_be_procfs(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        procfiles.open_proc_root(str(tmp_path))
    fd = procfiles.open_proc_root()
    try:
        assert procfiles.fs_type(fd) == procfiles.PROC_SUPER_MAGIC
        with pytest.raises(OSError):  # "self" is a symlink: refused
            procfiles.open_in_procfs(fd, "self/status", os.O_RDONLY)
        ok = procfiles.open_in_procfs(fd, f"{os.getpid()}/status", os.O_RDONLY)
        assert os.read(ok, 5) == b"Name:"
        os.close(ok)
    finally:
        os.close(fd)


def test_attr_write_without_lsm_fails_closed() -> None:
    with pytest.raises(OSError):
        ProcessLabels(apparmor_profile="nope").apply()
