"""Path resolution confined to the rootfs, with directory fds and O_NOFOLLOW at every step.

Nothing here ever passes a multi-component path to the kernel: each component is opened relative to
its parent's fd with O_NOFOLLOW, and symlinks met on the way are read and resolved by us, against the
rootfs as if it were `/` (an absolute target restarts at the rootfs, `..` stops at it). So a symlink in
the image - `etc -> /etc`, `x -> ../../..` - can never make a write land outside the rootfs, and a
layer entry under a symlinked parent is confined the same way the container would see it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from ociruntime.image.errors import ImageError, LimitExceeded, UnsafeEntry
from ociruntime.image.limits import Limits

Key = tuple[str, ...]  # a resolved path below the rootfs, one name per component, no symlinks in it

O_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PARENT_CACHE_MAX = 512


def split_name(name: str, limits: Limits, what: str = "entry") -> list[str]:
    """A tar name (or hardlink target) as components below the rootfs; `..` may not climb above it.

    A leading `/` means the rootfs (tar writers differ on it); `.` and empty parts are dropped.
    """
    if len(os.fsencode(name)) > limits.max_path_bytes:
        raise LimitExceeded(f"{what} {name[:80]!r}...", f"path longer than {limits.max_path_bytes} bytes")
    if "\0" in name:
        raise UnsafeEntry(f"{what} {name!r}", "NUL in name")
    comps: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not comps:
                raise UnsafeEntry(f"{what} {name!r}", "path escapes the rootfs")
            comps.pop()
        else:
            comps.append(part)
    return comps


class Root:
    """The rootfs as an fd; every lookup below it goes through `walk`."""

    def __init__(self, fd: int, limits: Limits) -> None:
        self.fd = fd
        self.limits = limits
        self._parents: dict[Key, tuple[int, Key]] = {}

    def close(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop cached parent fds: called whenever a directory or symlink is removed or replaced."""
        for fd, _ in self._parents.values():
            os.close(fd)
        self._parents.clear()

    def parent(self, comps: list[str], *, create: bool, what: str) -> tuple[int, str, Key] | None:
        """(fd of the parent dir, final name, resolved key) for a path whose last component is not followed.

        Missing parents are made (0755, like docker) when `create`, else None is returned. The fd is a
        dup of the cached one and the caller closes it: the cache may be emptied while it is in use.
        """
        head = tuple(comps[:-1])
        cached = self._parents.get(head)
        if cached is None:
            found = self._walk_dirs(list(head), create=create, what=what)
            if found is None:
                return None
            if len(self._parents) >= _PARENT_CACHE_MAX:
                self.forget()
            self._parents[head] = found
            cached = found
        fd, key = cached
        return os.dup(fd), comps[-1], key + (comps[-1],)

    def open_dir(self, key: Key, what: str) -> int | None:
        """A new O_PATH fd (caller closes) for an existing directory, following symlinks confined."""
        found = self._walk_dirs(list(key), create=False, what=what)
        return None if found is None else found[0]

    def _walk_dirs(self, todo: list[str], *, create: bool, what: str) -> tuple[int, Key] | None:
        stack: list[int] = []  # fds of resolved[:i+1]; the root fd is never in it (never closed here)
        resolved: list[str] = []
        hops = 0
        todo.reverse()  # pop() from the end is the next component
        try:
            while todo:
                comp = todo.pop()
                if comp == "..":
                    if resolved:
                        resolved.pop()
                        os.close(stack.pop())
                    continue
                cur = stack[-1] if stack else self.fd
                try:
                    fd = os.open(comp, O_DIR, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        return None
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    fd = os.open(comp, O_DIR, dir_fd=cur)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise UnsafeEntry(what, f"{'/'.join([*resolved, comp])} is not a directory") from None
                    hops += 1
                    if hops > self.limits.max_symlink_hops:
                        raise LimitExceeded(what, f"more than {self.limits.max_symlink_hops} symlinks") from None
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        while stack:
                            os.close(stack.pop())
                        resolved.clear()
                    todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
                    continue
                stack.append(fd)
                resolved.append(comp)
            if not stack:
                return os.dup(self.fd), ()
            result = stack.pop()
            return result, tuple(resolved)
        finally:
            for fd in stack:
                os.close(fd)

    def resolve_file(self, comps: list[str], what: str) -> tuple[int, str] | None:
        """(parent fd, name) of a path whose final symlinks are followed too (confined); caller closes fd."""
        todo = list(comps)
        for _ in range(self.limits.max_symlink_hops):
            if not todo:
                return None
            found = self._walk_dirs(todo[:-1], create=False, what=what)
            if found is None:
                return None
            fd, key = found
            try:
                st = os.stat(todo[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                os.close(fd)
                return None
            if not stat.S_ISLNK(st.st_mode):
                return fd, todo[-1]
            target = os.readlink(todo[-1], dir_fd=fd)
            os.close(fd)
            base = [] if target.startswith("/") else list(key)
            todo = base + [p for p in target.split("/") if p not in ("", ".")]
        raise LimitExceeded(what, f"more than {self.limits.max_symlink_hops} symlinks")

    def read_file(self, path: str, bound: int) -> bytes | None:
        """Contents of a regular file in the rootfs (e.g. /etc/passwd), None when absent."""
        found = self.resolve_file(split_name(path, self.limits), path)
        if found is None:
            return None
        parent, name = found
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent)
        except OSError as exc:
            raise ImageError(path, f"cannot open in the rootfs ({exc.strerror})") from None
        finally:
            os.close(parent)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageError(path, "is not a regular file in the rootfs")
            data = f.read(bound + 1)
        if len(data) > bound:
            raise LimitExceeded(path, f"larger than {bound} bytes")
        return data


def remove_at(parent_fd: int, name: str) -> None:
    """Remove a name and, for a directory, everything below it, without following any symlink."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    except PermissionError:  # rootless: a 0555 directory from a lower layer is still ours to empty
        os.chmod(name, 0o700, dir_fd=parent_fd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        if not st.st_mode & stat.S_IWUSR and os.geteuid() != 0:
            with contextlib.suppress(OSError):
                os.chmod(fd, 0o700)
        for child in os.listdir(fd):
            remove_at(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
