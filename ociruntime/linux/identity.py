"""Switching the container process to its configured user, groups, capabilities and umask.

The order matters and follows the kernel's rules: drop the bounding set while still privileged, keep
capabilities across setuid (PR_SET_KEEPCAPS), switch groups then gid then uid, and only then set the
final effective/permitted/inheritable sets and raise the ambient ones (which need permitted and
inheritable bits already in place).
"""

from __future__ import annotations

import ctypes
import os

from ociruntime import abi
from ociruntime.linux import libc

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.spec.capabilities import CapabilitySets
    from ociruntime.spec.model import User


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def last_cap() -> int:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def drop_bounding(caps: CapabilitySets, top: int) -> None:
    for number in range(top + 1):
        if not caps.bounding & (1 << number):
            libc.prctl(abi.PR_CAPBSET_DROP, number)


def set_user(user: User, *, set_groups: bool, keep_caps: bool) -> None:
    """setgroups, setresgid, setresuid; with keep_caps the permitted set survives leaving uid 0."""
    if keep_caps:
        libc.prctl(abi.PR_SET_KEEPCAPS, 1)
    if set_groups:
        os.setgroups(list(user.additional_gids))
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    if keep_caps:
        libc.prctl(abi.PR_SET_KEEPCAPS, 0)


def apply_capabilities(caps: CapabilitySets) -> None:
    header = _CapHeader(abi.LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (caps.effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (caps.permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (caps.inheritable >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")
    libc.prctl(abi.PR_CAP_AMBIENT, abi.PR_CAP_AMBIENT_CLEAR_ALL)
    number = 0
    mask = caps.raisable_ambient
    while mask:
        if mask & 1:
            libc.prctl(abi.PR_CAP_AMBIENT, abi.PR_CAP_AMBIENT_RAISE, number)
        mask >>= 1
        number += 1


# Bits of the capabilities that let a process read a file whatever its mode.
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def lower_effective(numbers: tuple[int, ...]) -> None:
    """Clear capabilities from the effective set only. Permitted, inheritable and ambient stay, and
    the next execve computes the effective set anew from them: the lowered ones come back."""
    header = _CapHeader(abi.LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capget: {os.strerror(err)}")
    mask = sum(1 << n for n in numbers)
    low = data[0].effective | data[1].effective << 32
    if not low & mask:
        return
    low &= ~mask
    data[0].effective, data[1].effective = low & 0xFFFFFFFF, low >> 32
    if _libc.capset(ctypes.byref(header), data) < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def set_no_new_privs() -> None:
    libc.prctl(abi.PR_SET_NO_NEW_PRIVS, 1)
