"""Resolving container paths inside the rootfs without ever leaving it.

A rootfs comes from an image and may be hostile: a symlink planted at /proc or at a mount destination
must not send a mount (or a mkdir, or a chown) to the host. `resolve_in_root` resolves like the kernel
would if the rootfs were "/": absolute links restart at the rootfs, ".." stops at it.
"""

from __future__ import annotations

import errno
import os
import stat

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
