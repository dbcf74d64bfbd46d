"""Resolving container paths inside the rootfs without ever leaving it.

A rootfs comes from an image and may be hostile: a symlink planted at /proc or at a mount destination
must not send a mount (or a mkdir, or a chown) to the host. `resolve_in_root` resolves like the kernel
would if the rootfs were "/": absolute links restart at the rootfs, ".." stops at it.
"""

from __future__ import annotations

import errno
import os
import stat

from ociruntime import abi
from ociruntime.linux import libc

_MAX_LINKS = 255


def resolve_in_root(root: str, path: str) -> str:
    """Host path of container path `path`, every symlink on the way resolved inside `root`.

    The last component need not exist (it will be created); missing intermediate components are
    taken literally as well.
    """
    remaining = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while remaining:
        part = remaining.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.path.join("/", *resolved, part))
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            remaining = [p for p in target.split("/") if p and p != "."] + remaining
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def make_dirs_in_root(root: str, path: str, mode: int = 0o755) -> str:
    """mkdir -p of a container path; returns the resolved host path."""
    target = resolve_in_root(root, path)
    relative = os.path.relpath(target, root)
    current = root
    if relative != ".":
        for part in relative.split("/"):
            current = resolve_in_root(root, os.path.relpath(os.path.join(current, part), root))
            try:
                os.mkdir(current, mode)
            except FileExistsError:
                if not os.path.isdir(current):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), current) from None
    return target


def make_file_in_root(root: str, path: str, mode: int = 0o644) -> str:
    """touch of a container path (for bind mounts of files); parents are created as directories."""
    parent = make_dirs_in_root(root, os.path.dirname(path) or "/")
    target = resolve_in_root(root, os.path.join(os.path.relpath(parent, root), os.path.basename(path)))
    if not os.path.lexists(target):
        fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
        os.close(fd)
    return target


class RootDir:
    """The rootfs as a directory fd; every path below it is resolved by the kernel inside it.

    openat2(RESOLVE_IN_ROOT) treats the rootfs as "/" for every component, absolute symlinks and ".."
    included, and refuses magic links (/proc/self/fd/...). Whatever it returns is inside the rootfs at
    the moment of the call, and later steps act on that fd (mounting onto /proc/self/fd/N), never on a
    path that could be swapped for a symlink in between.
    """

    RESOLVE = abi.RESOLVE_IN_ROOT | abi.RESOLVE_NO_MAGICLINKS

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def open(self, path: str, flags: int = os.O_PATH) -> int:
        return libc.openat2(self.fd, path.lstrip("/") or ".", flags | os.O_CLOEXEC, self.RESOLVE)

    def mkdirs(self, path: str, mode: int = 0o755) -> int:
        """mkdir -p inside the root; returns an O_PATH fd of the directory."""
        parts = [p for p in path.split("/") if p and p != "."]
        fd = self.open(".", os.O_PATH | os.O_DIRECTORY)
        for index, part in enumerate(parts):
            prefix = "/".join(parts[: index + 1])
            try:
                next_fd = self.open(prefix, os.O_PATH | os.O_DIRECTORY)
            except FileNotFoundError:
                try:
                    os.mkdir(part, mode, dir_fd=fd)  # one component, relative to a dir inside the root
                except FileExistsError:
                    pass
                next_fd = self.open(prefix, os.O_PATH | os.O_DIRECTORY)
            os.close(fd)
            fd = next_fd
        return fd

    def parent(self, path: str) -> tuple[int, str]:
        """(O_PATH fd of the parent directory, created if missing; the last component)."""
        head, _, name = path.rstrip("/").rpartition("/")
        if not name or name in (".", ".."):
            raise OSError(errno.EINVAL, "not a file name", path)
        return self.mkdirs(head), name

    def make_file(self, path: str, mode: int = 0o644) -> int:
        """touch inside the root (for bind mounts of files); returns an O_PATH fd of the file."""
        parent, name = self.parent(path)
        try:
            try:
                os.close(
                    os.open(
                        name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent
                    )
                )
            except FileExistsError:
                pass
            return self.open(path)
        finally:
            os.close(parent)


def fd_path(fd: int) -> str:
    """A path the kernel resolves to exactly the file behind `fd` (needs the host's /proc)."""
    return f"/proc/self/fd/{fd}"
