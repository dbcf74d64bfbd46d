"""Mount option parsing and mount plans (ociruntime.spec.mounts): PURE, exact flag values."""

from __future__ import annotations

import pytest

from ociruntime import abi as F
from ociruntime.spec.mounts import (
    BIND_REMOUNT_FLAGS,
    FLAG_OPTIONS,
    IGNORED_OPTIONS,
    PROPAGATION_OPTIONS,
    MountPlan,
    parse_options,
    plan_mount,
    root_propagation,
)

# --- parse_options: flags ------------------------------------------------------------------------


def test_empty_options() -> None:
    assert parse_options([]) == (0, (), "")
    assert parse_options(()) == (0, (), "")


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        (["ro"], F.MS_RDONLY),
        (["ro", "rw"], 0),
        (["rw", "ro"], F.MS_RDONLY),
        (["nosuid", "suid"], 0),
        (["suid", "nosuid"], F.MS_NOSUID),
        (["nodev", "dev"], 0),
        (["noexec", "exec"], 0),
        (["sync", "async"], 0),
        (["mand", "nomand"], 0),
        (["noatime", "atime"], 0),
        (["nodiratime", "diratime"], 0),
        (["relatime", "norelatime"], 0),
        (["strictatime", "nostrictatime"], 0),
        (["lazytime", "nolazytime"], 0),
        (["nosymfollow", "symfollow"], 0),
        (["silent", "loud"], 0),
        (["defaults"], 0),
        (["ro", "defaults"], F.MS_RDONLY),  # "defaults" clears nothing
        (["nosuid", "nodev", "noexec"], F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC),
        (["nosuid", "noexec", "ro", "suid"], F.MS_NOEXEC | F.MS_RDONLY),
        (["dirsync"], F.MS_DIRSYNC),
        (["remount", "ro"], F.MS_REMOUNT | F.MS_RDONLY),
        (["sync"], F.MS_SYNCHRONOUS),
        (["strictatime"], F.MS_STRICTATIME),
        (["relatime"], F.MS_RELATIME),
        (["nosymfollow"], F.MS_NOSYMFOLLOW),
        (["lazytime"], F.MS_LAZYTIME),
        (["bind"], F.MS_BIND),
        (["rbind"], F.MS_BIND | F.MS_REC),
        (["rbind", "ro"], F.MS_BIND | F.MS_REC | F.MS_RDONLY),
    ],
)
def test_flags_applied_in_order(options: list[str], flags: int) -> None:
    assert parse_options(options) == (flags, (), "")


def test_kernel_values_of_common_flags() -> None:
    # <sys/mount.h>: a typo in abi.py would silently change every mount.
    assert parse_options(["ro"])[0] == 0x1
    assert parse_options(["nosuid"])[0] == 0x2
    assert parse_options(["nodev"])[0] == 0x4
    assert parse_options(["noexec"])[0] == 0x8
    assert parse_options(["bind"])[0] == 0x1000
    assert parse_options(["rbind"])[0] == 0x5000
    assert parse_options(["strictatime"])[0] == 0x1000000
    assert parse_options(["relatime"])[0] == 0x200000


def test_every_flag_option_is_reversible_or_pure_set() -> None:
    for name, (clear, set_) in FLAG_OPTIONS.items():
        assert clear & set_ == 0, name


# --- parse_options: propagation --------------------------------------------------------------------


def test_propagation_kept_in_order() -> None:
    flags, propagation, data = parse_options(["rprivate", "shared", "ro", "runbindable"])
    assert flags == F.MS_RDONLY
    assert propagation == (F.MS_PRIVATE | F.MS_REC, F.MS_SHARED, F.MS_UNBINDABLE | F.MS_REC)
    assert data == ""


def test_propagation_values() -> None:
    assert PROPAGATION_OPTIONS == {
        "private": 0x40000,
        "rprivate": 0x44000,
        "shared": 0x100000,
        "rshared": 0x104000,
        "slave": 0x80000,
        "rslave": 0x84000,
        "unbindable": 0x20000,
        "runbindable": 0x24000,
    }


def test_propagation_duplicates_are_kept() -> None:
    assert parse_options(["slave", "slave"])[1] == (F.MS_SLAVE, F.MS_SLAVE)


def test_propagation_does_not_touch_flags() -> None:
    assert parse_options(["rslave"]) == (0, (F.MS_SLAVE | F.MS_REC,), "")


# --- parse_options: data and ignored options ------------------------------------------------------


def test_unknown_options_become_data_in_order() -> None:
    flags, propagation, data = parse_options(["nosuid", "strictatime", "mode=755", "size=65536k"])
    assert flags == F.MS_NOSUID | F.MS_STRICTATIME
    assert propagation == ()
    assert data == "mode=755,size=65536k"


def test_devpts_data() -> None:
    options = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    assert parse_options(options) == (F.MS_NOSUID | F.MS_NOEXEC, (), "newinstance,ptmxmode=0666,mode=0620,gid=5")


@pytest.mark.parametrize("option", sorted(IGNORED_OPTIONS))
def test_ignored_options_vanish(option: str) -> None:
    assert parse_options(["ro", option, "size=1k"]) == (F.MS_RDONLY, (), "size=1k")


def test_ignored_set() -> None:
    assert IGNORED_OPTIONS == frozenset({"_netdev", "nofail", "x-systemd.automount"})


def test_runtime_options_are_not_mount_data() -> None:
    # tmpcopyup, idmap and the recursive attributes are instructions to the runtime, not fs data.
    assert parse_options(["tmpcopyup", "idmap", "rro", "rnosuid", "mode=755"]) == (0, (), "mode=755")


def test_recursive_attributes() -> None:
    from ociruntime.spec.mounts import plan_mount, recursive_attributes

    assert recursive_attributes(["rro", "rnosuid", "rnodev"]) == (0x1 | 0x2 | 0x4, 0)
    assert recursive_attributes(["rro", "rrw"]) == (0, 0x1)
    # Setting an atime mode clears the whole atime field (MOUNT_ATTR__ATIME) as mount_setattr requires.
    assert recursive_attributes(["rnoatime"]) == (0x10, 0x70)
    assert recursive_attributes(["rrelatime"]) == (0, 0x70)
    assert recursive_attributes(["rnosymfollow"]) == (0x200000, 0)
    # Clearing one atime mode must clear the whole field, or mount_setattr answers EINVAL.
    assert recursive_attributes(["ratime"]) == (0, 0x70)
    assert recursive_attributes(["rnostrictatime"]) == (0, 0x70)
    plan = plan_mount("/m", "bind", "/src", ("rbind", "rro", "ridmap", "tmpcopyup"))
    assert (plan.recursive_set, plan.idmap, plan.tmpcopyup) == (0x1, "ridmap", True)


def test_options_are_case_sensitive() -> None:
    # "RO" is not a flag name: it goes to the filesystem as data, as mount(8) would.
    assert parse_options(["RO"]) == (0, (), "RO")


# --- plan_mount ------------------------------------------------------------------------------------


def test_plan_tmpfs() -> None:
    plan = plan_mount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k"))
    assert plan == MountPlan(
        destination="/dev",
        source="tmpfs",
        fstype="tmpfs",
        flags=F.MS_NOSUID | F.MS_STRICTATIME,
        data="mode=755,size=65536k",
        propagation=(),
    )
    assert plan.is_bind is False
    assert plan.remount_flags == 0


def test_plan_non_bind_ro_has_no_remount() -> None:
    plan = plan_mount("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro"))
    assert plan.flags == F.MS_NOSUID | F.MS_NOEXEC | F.MS_NODEV | F.MS_RDONLY
    assert plan.fstype == "sysfs"
    assert plan.remount_flags == 0


def test_plan_bind_type_without_options() -> None:
    plan = plan_mount("/data", "bind", "/host/data", ())
    assert plan.flags == F.MS_BIND
    assert plan.fstype is None
    assert plan.source == "/host/data"
    assert plan.is_bind is True
    assert plan.remount_flags == 0


def test_plan_bind_type_with_rbind_option() -> None:
    plan = plan_mount("/data", "bind", "/host/data", ("rbind", "ro", "nosuid"))
    assert plan.flags == F.MS_BIND | F.MS_REC | F.MS_RDONLY | F.MS_NOSUID
    assert plan.fstype is None
    assert plan.remount_flags == F.MS_RDONLY | F.MS_NOSUID


def test_plan_bind_option_with_other_type() -> None:
    # runtime-spec: type "none" (or anything) plus a bind option is a bind mount; fstype is dropped.
    plan = plan_mount("/sys", "none", "/sys", ("rbind", "nosuid", "noexec", "nodev", "ro"))
    assert plan.flags == F.MS_BIND | F.MS_REC | F.MS_NOSUID | F.MS_NOEXEC | F.MS_NODEV | F.MS_RDONLY
    assert plan.fstype is None
    assert plan.remount_flags == F.MS_NOSUID | F.MS_NOEXEC | F.MS_NODEV | F.MS_RDONLY


def test_plan_bind_option_without_type() -> None:
    plan = plan_mount("/x", None, "/y", ("bind",))
    assert plan.flags == F.MS_BIND
    assert plan.fstype is None


def test_remount_flags_exclude_non_remount_bits() -> None:
    plan = plan_mount("/x", "bind", "/y", ("rbind", "rprivate", "sync", "dirsync", "ro", "mode=1"))
    assert plan.flags == F.MS_BIND | F.MS_REC | F.MS_SYNCHRONOUS | F.MS_DIRSYNC | F.MS_RDONLY
    assert plan.remount_flags == F.MS_RDONLY
    assert plan.propagation == (F.MS_PRIVATE | F.MS_REC,)
    assert plan.data == "mode=1"


def test_remount_flags_all() -> None:
    options = ("bind", "ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "nosymfollow")
    plan = plan_mount("/x", "bind", "/y", options)
    expected = F.MS_RDONLY | F.MS_NOSUID | F.MS_NODEV | F.MS_NOEXEC | F.MS_NOATIME | F.MS_NODIRATIME | F.MS_NOSYMFOLLOW
    assert plan.remount_flags == expected
    assert BIND_REMOUNT_FLAGS & F.MS_BIND == 0
    assert BIND_REMOUNT_FLAGS & F.MS_REC == 0


def test_bind_then_rw_keeps_bind() -> None:
    plan = plan_mount("/x", "bind", "/y", ("ro", "rw"))
    assert plan.flags == F.MS_BIND
    assert plan.remount_flags == 0


def test_plan_keeps_destination_and_source() -> None:
    plan = plan_mount("/proc", "proc", None, ())
    assert (plan.destination, plan.source, plan.fstype, plan.flags, plan.data, plan.propagation) == (
        "/proc",
        None,
        "proc",
        0,
        "",
        (),
    )


# --- root_propagation ------------------------------------------------------------------------------


def test_root_propagation_default_is_recursive_slave() -> None:
    assert root_propagation(None) == F.MS_SLAVE | F.MS_REC == 0x84000


@pytest.mark.parametrize(
    ("value", "flags"),
    [
        ("shared", F.MS_SHARED | F.MS_REC),
        ("slave", F.MS_SLAVE | F.MS_REC),
        ("private", F.MS_PRIVATE | F.MS_REC),
        ("unbindable", F.MS_UNBINDABLE | F.MS_REC),
    ],
)
def test_root_propagation_values(value: str, flags: int) -> None:
    assert root_propagation(value) == flags


def test_root_propagation_unknown_raises() -> None:
    with pytest.raises(KeyError):
        root_propagation("rshared")
