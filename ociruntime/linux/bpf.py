"""The two bpf(2) calls cgroup v2 device control needs: load a program, attach it to a cgroup.

In linux/ with the other modules that make syscalls (cgroups/ only plans and writes files); its own
module rather than part of libc.py because only cgroup v2 device control uses bpf(2). It follows libc.py's
style (a few lines per call, OSError with errno). Layouts are union bpf_attr in
include/uapi/linux/bpf.h; unused fields stay zero, as the kernel requires.
"""

from __future__ import annotations

import ctypes
import os
import struct

_SYS_bpf = 321  # x86_64
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2  # keep programs others attached (an engine's, or a parent's view of ours)
_ATTR_SIZE = 128
_LOG_SIZE = 64 * 1024

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    result = _libc.syscall(_SYS_bpf, cmd, attr, _ATTR_SIZE)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(result)


def load_device_program(code: bytes) -> int:
    """BPF_PROG_LOAD; returns the program fd. A verifier refusal carries the verifier's log."""
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")  # the device hook needs no GPL-only helpers
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQ",
        attr,
        0,
        BPF_PROG_TYPE_CGROUP_DEVICE,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
        1,  # log_level: verifier messages only on failure matter, but they need a level to be written
        _LOG_SIZE,
        ctypes.addressof(log),
    )
    struct.pack_into("<16s", attr, 48, b"ociruntime_dev")
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        message = log.value.decode(errors="replace").strip().splitlines()
        detail = f" (verifier: {message[-1]})" if message else ""
        raise OSError(e.errno, f"{e.strerror}{detail}") from None


def attach_device_program(cgroup_dir: str, prog_fd: int) -> None:
    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(_ATTR_SIZE)
        struct.pack_into("<IIII", attr, 0, fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        _bpf(BPF_PROG_ATTACH, attr)
    finally:
        os.close(fd)
