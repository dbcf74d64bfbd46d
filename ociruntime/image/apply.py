"""Apply one verified, decompressed tar layer to a rootfs, with the image-spec's layer semantics.

* Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) affect lower layers only: what this layer
  itself writes is tracked (`written`, and every ancestor of it in `touched`), so the order of entries
  inside the tar does not matter.
* A new entry replaces whatever is at its path unless both are directories (type changes); files are
  always created anew (O_EXCL), so a hardlink made earlier keeps its old content, as with tar.
* Ownership before mode (chown clears setuid/setgid), xattrs after chown (it clears
  security.capability), directory modes and mtimes at the end of the layer (children change them).
* Rootless: no chown (ownership is recorded), no device nodes (skipped with a warning).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from ociruntime.image.errors import ImageError, UnsafeEntry, VerifyFailed
from ociruntime.image.inroot import Key, Root, remove_at, split_name
from ociruntime.image.limits import Limits, check

if TYPE_CHECKING:
    import tarfile

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
XATTR_PAX = "SCHILY.xattr."
O_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Options:
    chown: bool = True  # False in rootless mode: ownership goes to `owners` instead
    devices: bool = True
    warn: Callable[[str], None] = lambda _message: None
    owners: dict[str, list[int]] = field(default_factory=dict)  # "/path" -> [uid, gid] when not chowned


@dataclass
class _DirMeta:
    key: Key
    mode: int
    mtime_ns: int


class LayerApplier:
    def __init__(self, root: Root, limits: Limits, options: Options) -> None:
        self.root = root
        self.limits = limits
        self.options = options
        self.written: set[Key] = set()
        self.touched: set[Key] = set()
        self.dirs: dict[Key, _DirMeta] = {}

    def apply(self, layer: IO[bytes], what: str) -> None:
        import tarfile

        self.written.clear()
        self.touched.clear()
        self.dirs.clear()
        try:
            tar = tarfile.open(fileobj=layer, mode="r:", errors="surrogateescape")
        except tarfile.TarError as exc:
            raise VerifyFailed(what, f"not a tar archive ({exc})") from None
        count = 0
        try:
            while True:
                try:
                    member = tar.next()
                except tarfile.TarError as exc:
                    raise VerifyFailed(what, f"corrupt tar ({exc})") from None
                if member is None:
                    break
                tar.members.clear()  # type: ignore[attr-defined] # nothing looks members up again; keep memory flat for huge layers
                count += 1
                check(count, self.limits.max_entries, f"{what} entry count")
                try:
                    self.apply_entry(tar, member, layer)
                except OSError as exc:
                    raise ImageError(f"{what} entry {member.name!r}", exc.strerror or str(exc)) from None
            self.finish_dirs()
        finally:
            self.root.forget()

    def apply_entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, layer: IO[bytes]) -> None:
        what = f"entry {member.name!r}"
        comps = split_name(member.name, self.limits, "entry")
        if not comps:
            if not member.isdir():
                raise UnsafeEntry(what, "only a directory may name the rootfs itself")
            self.dirs[()] = _DirMeta((), member.mode & 0o7777, _mtime_ns(member))
            self.set_owner(self.root.fd, None, (), member)
            return
        base = comps[-1]
        if base.startswith(WHITEOUT):
            self.apply_whiteout(comps, base, what)
            return
        found = self.root.parent(comps, create=True, what=what)
        assert found is not None  # create=True always yields a parent
        parent, name, key = found
        try:
            if self.apply_node(tar, member, layer, parent, name, key, what):
                self.mark_written(key)
        finally:
            os.close(parent)

    def apply_node(self, tar: tarfile.TarFile, member: tarfile.TarInfo, layer: IO[bytes], parent: int, name: str,
                   key: Key, what: str) -> bool:
        existing = _lstat(parent, name)
        if member.isdir():
            self.make_dir(parent, name, key, existing, member)
        elif member.islnk():
            return self.make_hardlink(parent, name, key, existing, member)
        else:
            if existing is not None:
                self.remove(parent, name, existing)
            if member.isreg():
                self.make_file(tar, parent, name, key, member, layer)
            elif member.issym():
                os.symlink(member.linkname, name, dir_fd=parent)
                self.finish_meta(parent, name, key, member)
            elif member.ischr() or member.isblk() or member.isfifo():
                return self.make_node(parent, name, key, member)
            else:
                self.options.warn(f"{what}: tar entry type {member.type!r} skipped")
                return False
        return True

    def mark_written(self, key: Key) -> None:
        self.written.add(key)
        for i in range(len(key)):
            self.touched.add(key[:i])

    # -- whiteouts ---------------------------------------------------------------------------------

    def apply_whiteout(self, comps: list[str], base: str, what: str) -> None:
        if base == OPAQUE:
            key = tuple(comps[:-1])
            if not key:
                self.hide_lower(self.root.fd, ())
                return
            found = self.root.parent(list(key), create=False, what=what)
            if found is not None:
                parent, name, real = found
                try:
                    st = _lstat(parent, name)
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        self.hide_lower_at(parent, name, real)
                finally:
                    os.close(parent)
            return
        if base.startswith(WHITEOUT + WHITEOUT):
            return  # other aufs metadata (.wh..wh.plnk, ...): nothing to apply
        target = base[len(WHITEOUT):]
        if target in ("", ".", ".."):
            raise UnsafeEntry(what, "invalid whiteout name")
        found = self.root.parent([*comps[:-1], target], create=False, what=what)
        if found is None:
            return
        parent, name, key = found
        try:
            st = _lstat(parent, name)
            if st is None:
                return
            if key in self.written or key in self.touched:
                # This layer wrote here itself: keep its own entries, hide only what lower layers left below.
                if stat.S_ISDIR(st.st_mode):
                    self.hide_lower_at(parent, name, key)
                return
            self.remove(parent, name, st)
        finally:
            os.close(parent)

    def hide_lower_at(self, parent: int, name: str, key: Key) -> None:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            self.hide_lower(fd, key)
        finally:
            os.close(fd)

    def hide_lower(self, fd: int, key: Key) -> None:
        """Remove every child of the directory `fd` that this layer did not write (recursively)."""
        dir_fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            for child in os.listdir(dir_fd):
                ckey = key + (child,)
                st = _lstat(dir_fd, child)
                if st is None:
                    continue
                if ckey in self.written or ckey in self.touched:
                    if stat.S_ISDIR(st.st_mode):
                        self.hide_lower_at(dir_fd, child, ckey)
                    continue
                self.remove(dir_fd, child, st)
        finally:
            os.close(dir_fd)

    def remove(self, parent: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            self.root.forget()  # cached parent fds may be under it or resolved through it
        remove_at(parent, name)

    # -- entry kinds -------------------------------------------------------------------------------

    def make_dir(self, parent: int, name: str, key: Key, existing: os.stat_result | None,
                 member: tarfile.TarInfo) -> None:
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            if existing is not None:
                self.remove(parent, name, existing)
            os.mkdir(name, 0o700, dir_fd=parent)
        self.set_owner(parent, name, key, member)
        self.set_xattrs(parent, name, None, member)
        # Mode and mtime wait for the end of the layer: children would change the mtime, and a 0555
        # directory would stop a rootless unpack from writing its children.
        self.dirs[key] = _DirMeta(key, member.mode & 0o7777, _mtime_ns(member))

    def make_file(self, tar: tarfile.TarFile, parent: int, name: str, key: Key, member: tarfile.TarInfo,
                  layer: IO[bytes]) -> None:
        fd = os.open(name, O_NEW, 0o600, dir_fd=parent)
        try:
            if member.issparse():
                src = tar.extractfile(member)
                assert src is not None
                with os.fdopen(os.dup(fd), "wb") as out:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        out.write(chunk)
            else:
                _copy_range(layer.fileno(), fd, member.offset_data, member.size)
            if self.options.chown:
                os.fchown(fd, member.uid, member.gid)
            else:
                self.record_owner(key, member)
            os.fchmod(fd, member.mode & 0o7777)
            self.set_xattrs(parent, name, fd, member)
            mtime = _mtime_ns(member)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def make_hardlink(self, parent: int, name: str, key: Key, existing: os.stat_result | None,
                      member: tarfile.TarInfo) -> bool:
        what = f"hardlink {member.name!r}"
        target_comps = split_name(member.linkname, self.limits, "hardlink target")
        if not target_comps:
            raise UnsafeEntry(what, "hardlink to the rootfs itself")
        found = self.root.parent(target_comps, create=False, what=what)
        if found is None:
            raise UnsafeEntry(what, f"target {member.linkname!r} does not exist in the rootfs")
        target_parent, target_name, _ = found
        try:
            target = _lstat(target_parent, target_name)
            if target is None:
                raise UnsafeEntry(what, f"target {member.linkname!r} does not exist in the rootfs")
            if stat.S_ISDIR(target.st_mode):
                raise UnsafeEntry(what, f"target {member.linkname!r} is a directory")
            if existing is not None:
                if (existing.st_dev, existing.st_ino) == (target.st_dev, target.st_ino):
                    return True  # already that very file (a link to itself, or a repeated entry)
                self.remove(parent, name, existing)
            os.link(target_name, name, src_dir_fd=target_parent, dst_dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(target_parent)
        return True

    def make_node(self, parent: int, name: str, key: Key, member: tarfile.TarInfo) -> bool:
        if member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent)
        else:
            if not self.options.devices:
                self.options.warn(f"device {member.name!r} skipped (rootless: no mknod)")
                self.options.owners.setdefault("/" + "/".join(key), [member.uid, member.gid])
                return False
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=parent)
        self.finish_meta(parent, name, key, member)
        return True

    # -- metadata ----------------------------------------------------------------------------------

    def finish_meta(self, parent: int, name: str, key: Key, member: tarfile.TarInfo) -> None:
        self.set_owner(parent, name, key, member)
        if not member.issym():
            os.chmod(name, member.mode & 0o7777, dir_fd=parent, follow_symlinks=False)
        self.set_xattrs(parent, name, None, member)
        mtime = _mtime_ns(member)
        os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    def set_owner(self, parent: int, name: str | None, key: Key, member: tarfile.TarInfo) -> None:
        if not self.options.chown:
            self.record_owner(key, member)
        elif name is None:
            os.chown(parent, member.uid, member.gid)
        else:
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)

    def record_owner(self, key: Key, member: tarfile.TarInfo) -> None:
        path = "/" + "/".join(key)
        if member.uid or member.gid:
            self.options.owners[path] = [member.uid, member.gid]
        else:
            self.options.owners.pop(path, None)

    def set_xattrs(self, parent: int, name: str, fd: int | None, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith(XATTR_PAX):
                continue
            attr = key[len(XATTR_PAX):]
            raw = value.encode("utf-8", "surrogateescape")
            check(len(raw), self.limits.max_xattr_bytes, f"xattr {attr} of {member.name!r}")
            # setxattr has no *at form: go through this process's own fd of the parent, not following name.
            try:
                if fd is not None:
                    os.setxattr(fd, attr, raw)
                else:
                    os.setxattr(f"/proc/self/fd/{parent}/{name}", attr, raw, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.EINVAL):
                    raise
                self.options.warn(f"xattr {attr} on {member.name!r} not set ({exc.strerror})")

    def finish_dirs(self) -> None:
        for meta in sorted(self.dirs.values(), key=lambda m: -len(m.key)):
            if not meta.key:
                os.chmod(self.root.fd, meta.mode)
                os.utime(f"/proc/self/fd/{self.root.fd}", ns=(meta.mtime_ns, meta.mtime_ns))
                continue
            found = self.root.parent(list(meta.key), create=False, what="/".join(meta.key))
            if found is None:
                continue
            parent, name, _ = found
            try:
                st = _lstat(parent, name)
                if st is None or not stat.S_ISDIR(st.st_mode):
                    continue  # replaced later in the same layer
                os.chmod(name, meta.mode, dir_fd=parent, follow_symlinks=False)
                os.utime(name, ns=(meta.mtime_ns, meta.mtime_ns), dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(parent)


def _lstat(parent: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _mtime_ns(member: tarfile.TarInfo) -> int:
    return int(float(member.mtime) * 1_000_000_000)


def _copy_range(src: int, dst: int, offset: int, size: int) -> None:
    """Copy file data inside the kernel; falls back to pread/write where copy_file_range cannot."""
    done = 0
    with contextlib.suppress(OSError):
        while done < size:
            n = os.copy_file_range(src, dst, size - done, offset + done)
            if n == 0:
                raise VerifyFailed("layer", "tar data ends early")
            done += n
    while done < size:
        chunk = os.pread(src, min(1 << 20, size - done), offset + done)
        if not chunk:
            raise VerifyFailed("layer", "tar data ends early")
        os.write(dst, chunk)
        done += len(chunk)
