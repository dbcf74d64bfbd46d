"""The one ctypes module: thin wrappers over the libc calls Python's os module lacks.

Each wrapper is a few lines and raises OSError(errno, strerror, path) like the os module does, so the
step that called it can add context. Constants are named after the kernel headers they come from.
"""

from __future__ import annotations

import ctypes
import os

from ociruntime.abi import KEYCTL_JOIN_SESSION_KEYRING

_libc = ctypes.CDLL(None, use_errno=True)

_SYS_pivot_root = 155  # x86_64
_SYS_keyctl = 250
_SYS_close_range = 436
_SYS_setns = 308
_SYS_open_tree = 428
_SYS_move_mount = 429
_SYS_openat2 = 437
_SYS_mount_setattr = 442


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, path: str | None = None) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path) if path is not None else OSError(err, os.strerror(err))
    return result


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), target)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype))


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYS_pivot_root, _b(new_root), _b(put_old)), new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5))


def join_session_keyring(name: str | None = None) -> None:
    """Give the container a fresh session keyring so it cannot see the runtime's keys."""
    _check(_libc.syscall(_SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, _b(name)))


def close_range(first: int, last: int = 0xFFFFFFFF) -> None:
    """Close every fd in [first, last]; falls back to os.closerange on kernels without close_range."""
    if _libc.syscall(_SYS_close_range, first, last, 0) < 0:
        os.closerange(first, min(last, os.sysconf("SC_OPEN_MAX")))


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): like openat, with `resolve` limits (RESOLVE_IN_ROOT keeps `..` and links inside dirfd)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    return _check(
        _libc.syscall(
            _SYS_openat2, ctypes.c_int(dirfd), _b(path), ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how))
        ),
        path,
    )


def mount_setattr(dirfd: int, path: str, flags: int, attr_set: int, attr_clr: int = 0, userns_fd: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    _check(
        _libc.syscall(
            _SYS_mount_setattr,
            ctypes.c_int(dirfd),
            _b(path),
            ctypes.c_uint(flags),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        path or None,
    )


def open_tree(dirfd: int, path: str, flags: int) -> int:
    return _check(_libc.syscall(_SYS_open_tree, ctypes.c_int(dirfd), _b(path), ctypes.c_uint(flags)), path)


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int) -> None:
    _check(
        _libc.syscall(
            _SYS_move_mount,
            ctypes.c_int(from_fd),
            _b(from_path),
            ctypes.c_int(to_fd),
            _b(to_path),
            ctypes.c_uint(flags),
        ),
        to_path,
    )
