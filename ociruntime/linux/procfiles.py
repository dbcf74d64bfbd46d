"""Writing to the real procfs, never to a file a container mount put in its place.

A container (or its image) can mount or bind something over /proc/sys/... or /proc/self/attr/...; a
runtime that writes a sysctl, oom_score_adj or an LSM attribute by path would then write wherever that
points (the CVE-2025-52881 class). So: open the procfs root, check it is a procfs root, open the file
below it with openat2(RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS) (no mount crossed, no link followed), check
the result is on procfs, and write through that fd.
"""

from __future__ import annotations

import ctypes
import errno
import os

from ociruntime import abi
from ociruntime.linux import libc

PROC_SUPER_MAGIC = 0x9FA0
PROC_ROOT_INO = 1

_libc = ctypes.CDLL(None, use_errno=True)


class _Statfs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 112)]


def fs_type(fd: int) -> int:
    buf = _Statfs()
    if _libc.fstatfs(fd, ctypes.byref(buf)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(buf.f_type) & 0xFFFFFFFF


def open_proc_root(path: str = "/proc") -> int:
    """An O_PATH fd on the root of a real procfs mount, or OSError."""
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if fs_type(fd) != PROC_SUPER_MAGIC or os.fstat(fd).st_ino != PROC_ROOT_INO:
            raise OSError(errno.EXDEV, "not the root of a procfs mount", path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_in_procfs(root_fd: int, relative: str, flags: int) -> int:
    """openat2 below a procfs root crossing no mount and no symlink; the result is checked to be procfs."""
    fd = libc.openat2(root_fd, relative, flags | os.O_NOFOLLOW, abi.RESOLVE_NO_XDEV | abi.RESOLVE_NO_SYMLINKS)
    if fs_type(fd) != PROC_SUPER_MAGIC:
        os.close(fd)
        raise OSError(errno.EXDEV, "not a procfs file", f"/proc/{relative}")
    return fd


def write_proc_file(relative: str, value: str, proc: str = "/proc") -> None:
    """Write `value` to /proc/<relative> of the real procfs (e.g. "sys/net/ipv4/ip_forward")."""
    root = open_proc_root(proc)
    try:
        fd = open_in_procfs(root, relative, os.O_WRONLY)
    finally:
        os.close(root)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
