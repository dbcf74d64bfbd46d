"""Entering and creating namespaces, writing id maps and time offsets, bringing up loopback."""

from __future__ import annotations

import fcntl
import os
import struct

from ociruntime import abi, errors
from ociruntime.linux import libc, sockets
from ociruntime.spec.tables import JOIN_ORDER, NAMESPACES

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.spec.model import IdMapping, Spec


def open_paths(spec: Spec) -> dict[str, int]:
    """Open every namespace given by path, checking it is a namespace of the type it claims to be.

    Done in the parent before anything is forked, so a wrong path fails create early and cleanly.
    """
    fds: dict[str, int] = {}
    try:
        for index, ns in enumerate(spec.namespaces):
            if ns.path is None:
                continue
            where = f"linux.namespaces[{index}].path"
            try:
                fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise errors.ConfigInvalid(where, f"cannot open {ns.path}: {e.strerror}") from None
            fds[ns.type] = fd
            try:
                kind = fcntl.ioctl(fd, abi.NS_GET_NSTYPE)
            except OSError:
                raise errors.ConfigInvalid(where, f"{ns.path} is not a namespace") from None
            if kind != NAMESPACES[ns.type][0]:
                raise errors.ConfigInvalid(where, f"{ns.path} is not a {ns.type} namespace")
    except BaseException:
        close_all(fds)
        raise
    return fds


def close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


def join(fds: dict[str, int], types: tuple[str, ...] = JOIN_ORDER) -> None:
    for ns_type in types:
        fd = fds.get(ns_type)
        if fd is not None:
            try:
                libc.setns(fd, NAMESPACES[ns_type][0])
            except OSError as e:
                raise OSError(e.errno, f"cannot join {ns_type} namespace: {e.strerror}") from None


def unshare_flags(spec: Spec, *, exclude: tuple[str, ...] = ("user",)) -> int:
    flags = 0
    for ns in spec.namespaces:
        if ns.path is None and ns.type not in exclude:
            flags |= NAMESPACES[ns.type][0]
    return flags


def write_id_maps(
    pid: int, uid_maps: tuple[IdMapping, ...], gid_maps: tuple[IdMapping, ...], *, deny_setgroups: bool
) -> None:
    """Write /proc/<pid>/{uid,gid}_map for a process that just made a user namespace.

    Root writes any mapping. An unprivileged user may write only its own id, once, with setgroups
    denied; anything more goes through the setuid newuidmap/newgidmap (Debian's uidmap package),
    which check /etc/subuid and /etc/subgid.
    """
    if os.geteuid() == 0 or _only_own_id(uid_maps, os.geteuid()) and _only_own_id(gid_maps, os.getegid()):
        if deny_setgroups:
            _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/uid_map", "".join(m.line() for m in uid_maps))
        _write(f"/proc/{pid}/gid_map", "".join(m.line() for m in gid_maps))
        return
    _run_helper("newuidmap", pid, uid_maps)
    _run_helper("newgidmap", pid, gid_maps)


def _only_own_id(maps: tuple[IdMapping, ...], own: int) -> bool:
    return len(maps) == 1 and maps[0].host_id == own and maps[0].size == 1


def _run_helper(tool: str, pid: int, maps: tuple[IdMapping, ...]) -> None:
    import shutil
    import subprocess

    path = shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise errors.RuntimeFailure(f"{tool} is needed for this rootless id mapping (install Debian's uidmap)")
    args = [path, str(pid)] + [str(n) for m in maps for n in (m.container_id, m.host_id, m.size)]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise errors.RuntimeFailure(f"{tool}: {detail}")


def write_time_offsets(offsets: dict[str, tuple[int, int]]) -> None:
    """Set the clocks of the time namespace this process's children will live in."""
    lines = "".join(f"{clock} {secs} {nanos}\n" for clock, (secs, nanos) in offsets.items())
    if lines:
        _write("/proc/self/timens_offsets", lines)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def bring_up_loopback() -> None:
    """ifconfig lo up, with two ioctls: cheaper than a netlink library for one flag."""
    sock = sockets.Socket(sockets.AF_INET, sockets.SOCK_DGRAM)
    try:
        request = struct.pack("16sH22x", b"lo", 0)
        current = fcntl.ioctl(sock.fileno(), abi.SIOCGIFFLAGS, request)
        flags = struct.unpack("16sH22x", current)[1]
        fcntl.ioctl(sock.fileno(), abi.SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | abi.IFF_UP))
    finally:
        sock.close()
