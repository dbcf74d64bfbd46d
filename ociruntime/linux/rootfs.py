"""Building the container's filesystem view inside its new mount namespace (runs in init).

Steps, in the order `ociruntime.process.init` calls them:
  prepare_root      stop mount events leaking to the host, make the rootfs a mount point
  mount_all         config.json mounts, in order, each destination resolved inside the rootfs
  populate_dev      default and configured device nodes and /dev links (unless /dev is bind-mounted)
  pivot / move_root switch "/" to the rootfs and drop the host's tree
  finish_root       rootfs propagation, readonly and masked paths, read-only root
"""

from __future__ import annotations

import errno
import os
import stat

from ociruntime import abi
from ociruntime.cgroups import hierarchy
from ociruntime.linux import libc, paths
from ociruntime.spec import mounts as plans
from ociruntime.spec.devices import DEFAULT_LINKS

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.spec.devices import Device
    from ociruntime.spec.model import Spec

# Flags a bind remount must repeat: the kernel refuses to clear them on a mount that came locked from a
# more privileged namespace, and silently clears them otherwise (statvfs ST_* values equal MS_* ones).
_STICKY = abi.MS_NOSUID | abi.MS_NODEV | abi.MS_NOEXEC


def prepare_root(spec: Spec) -> None:
    libc.mount(None, "/", None, plans.root_propagation(spec.rootfs_propagation))
    _make_parent_private(spec.rootfs)
    libc.mount(spec.rootfs, spec.rootfs, None, abi.MS_BIND | abi.MS_REC)


def _make_parent_private(rootfs: str) -> None:
    """pivot_root refuses a new root whose parent mount is shared; make that parent private."""
    mountpoint = _mountpoint_of(rootfs)
    try:
        libc.mount(None, mountpoint, None, abi.MS_PRIVATE)
    except OSError:
        pass


def _mountpoint_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = hierarchy.unescape(line.split()[4])
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best


def mount_all(spec: Spec, cgroup_paths: dict[str, str], idmapped: dict[int, int] | None = None) -> None:
    """config.json mounts in order. `idmapped`: mount index → a detached idmapped tree made by the parent."""
    root = paths.RootDir(spec.rootfs)
    try:
        for index, m in enumerate(spec.mounts):
            plan = plans.plan_mount(m.destination, m.type, m.source, m.options)
            try:
                if m.type == "cgroup" or m.type == "cgroup2":
                    mount_cgroup(spec, root, plan, cgroup_paths)
                else:
                    mount_one(spec, root, plan, (idmapped or {}).get(index))
            except OSError as e:
                # Name the config entry, not the host path the kernel saw: that is what the user wrote.
                what = (
                    e.filename
                    if e.filename and not str(e.filename).startswith(("/proc/self/fd", spec.rootfs))
                    else m.destination
                )
                raise OSError(e.errno, f"mounts[{index}] ({m.destination}): {what}: {e.strerror}") from None
    finally:
        root.close()


def mount_one(spec: Spec, root: paths.RootDir, plan: plans.MountPlan, idmapped_tree: int | None = None) -> None:
    """One mount onto its destination, resolved inside the rootfs and mounted through its fd."""
    if plan.is_bind:
        if plan.source is None:
            raise OSError(2, "bind mount needs a source", plan.destination)
        source = os.path.join(spec.bundle, plan.source)
        is_dir = stat.S_ISDIR(os.stat(source).st_mode)  # raises ENOENT naming a missing source
        target_fd = root.mkdirs(plan.destination) if is_dir else root.make_file(plan.destination)
    else:
        source = plan.source or plan.fstype or "none"
        target_fd = root.mkdirs(plan.destination)
    try:
        target = paths.fd_path(target_fd)
        if idmapped_tree is not None:
            # fd to fd: move_mount refuses a /proc/self/fd path as its target.
            flags = abi.MOVE_MOUNT_F_EMPTY_PATH | abi.MOVE_MOUNT_T_EMPTY_PATH
            libc.move_mount(idmapped_tree, "", target_fd, "", flags)
        elif plan.is_bind:
            libc.mount(source, target, None, plan.flags & (abi.MS_BIND | abi.MS_REC))
        elif plan.tmpcopyup:
            _mount_tmpfs_copying_up(root, target_fd, plan)
        else:
            libc.mount(source, target, plan.fstype, plan.flags, plan.data or None)
    finally:
        os.close(target_fd)
    # target_fd still names the directory underneath; what follows acts on the new mount on top.
    if plan.remount_flags or plan.recursive_set or plan.recursive_clear or plan.propagation:
        top_fd = root.open(plan.destination)
        try:
            _adjust_mount(paths.fd_path(top_fd), plan)
        finally:
            os.close(top_fd)


def _adjust_mount(top: str, plan: plans.MountPlan) -> None:
    if plan.remount_flags:
        sticky = os.statvfs(top).f_flag & _STICKY
        libc.mount(None, top, None, abi.MS_BIND | abi.MS_REMOUNT | plan.remount_flags | sticky)
    if plan.recursive_set or plan.recursive_clear:
        libc.mount_setattr(abi.AT_FDCWD, top, abi.AT_RECURSIVE, plan.recursive_set, plan.recursive_clear)
    for flag in plan.propagation:
        libc.mount(None, top, None, flag)


def _mount_tmpfs_copying_up(root: paths.RootDir, target_fd: int, plan: plans.MountPlan) -> None:
    """tmpcopyup: a tmpfs that starts with a copy of what the image had at the destination."""
    lower = os.open(paths.fd_path(target_fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        libc.mount("tmpfs", paths.fd_path(target_fd), "tmpfs", plan.flags & ~abi.MS_RDONLY, plan.data or None)
        upper = root.open(plan.destination, os.O_RDONLY | os.O_DIRECTORY)
        try:
            _copy_tree(lower, upper)
            st = os.fstat(lower)
            os.fchown(upper, st.st_uid, st.st_gid)
            os.fchmod(upper, stat.S_IMODE(st.st_mode))
        finally:
            os.close(upper)
        if plan.flags & abi.MS_RDONLY:
            top = root.open(plan.destination)
            try:
                libc.mount(None, paths.fd_path(top), None, abi.MS_REMOUNT | plan.flags, plan.data or None)
            finally:
                os.close(top)
    finally:
        os.close(lower)


def _copy_tree(src_dir: int, dst_dir: int) -> None:
    """Copy a directory's entries (files, links, subdirectories) keeping owner, mode and times; never
    follows a symlink, and works on fds so the image cannot redirect it."""
    for entry in os.scandir(src_dir):
        st = entry.stat(follow_symlinks=False)
        name = entry.name
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dst_dir)
            child_src = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
            child_dst = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_dir)
            try:
                _copy_tree(child_src, child_dst)
            finally:
                os.close(child_src)
                os.close(child_dst)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_dir), name, dir_fd=dst_dir)
        elif stat.S_ISREG(st.st_mode):
            _copy_file(src_dir, dst_dir, name)
        else:
            os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dst_dir)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_dir, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst_dir)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir, follow_symlinks=False)


def _copy_file(src_dir: int, dst_dir: int, name: str) -> None:
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
    try:
        dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst_dir)
        try:
            while os.sendfile(dst, src, None, 1 << 20):
                pass
        finally:
            os.close(dst)
    finally:
        os.close(src)


def mount_cgroup(spec: Spec, root: paths.RootDir, plan: plans.MountPlan, cgroup_paths: dict[str, str]) -> None:
    """The container's own cgroups at the destination (usually /sys/fs/cgroup).

    With a cgroup namespace a fresh cgroup mount already shows only the container's subtree; without
    one, the container's directories are bind-mounted so that it still sees nothing above itself.
    """
    target_fd = root.mkdirs(plan.destination)
    flags = plan.flags & ~(abi.MS_BIND | abi.MS_REC | abi.MS_RDONLY)
    fresh = spec.new_namespace("cgroup")
    layout = hierarchy.read_layout()
    read_only = plan.flags & abi.MS_RDONLY
    try:
        target = paths.fd_path(target_fd)
        if layout.is_v2:
            _mount_hierarchy(target, "cgroup2", None, cgroup_paths.get(hierarchy.UNIFIED), flags | read_only, fresh)
            return
        libc.mount("tmpfs", target, "tmpfs", flags, "mode=755")
    finally:
        os.close(target_fd)
    # Our new, empty tmpfs: plain paths below it cannot be redirected.
    top_fd = root.open(plan.destination, os.O_RDONLY | os.O_DIRECTORY)
    try:
        target = paths.fd_path(top_fd)
        for h in layout.hierarchies:
            name = "unified" if h.key == hierarchy.UNIFIED else os.path.basename(h.mountpoint)
            sub = os.path.join(target, name)
            os.mkdir(sub, 0o755)
            fstype = "cgroup2" if h.key == hierarchy.UNIFIED else "cgroup"
            data = None if h.key == hierarchy.UNIFIED else h.key
            _mount_hierarchy(sub, fstype, data, cgroup_paths.get(h.key), flags | read_only, fresh)
        if read_only:
            libc.mount(None, target, None, abi.MS_REMOUNT | abi.MS_RDONLY | flags, "mode=755")
    finally:
        os.close(top_fd)


def _mount_hierarchy(
    target: str, fstype: str, data: str | None, host_path: str | None, flags: int, fresh: bool
) -> None:
    if fresh or host_path is None:
        libc.mount(fstype, target, fstype, flags, data)
        return
    libc.mount(host_path, target, None, abi.MS_BIND | abi.MS_REC)
    libc.mount(None, target, None, abi.MS_BIND | abi.MS_REMOUNT | flags)


def dev_is_bind_mounted(spec: Spec) -> bool:
    for m in spec.mounts:
        if os.path.normpath(m.destination) == "/dev" and (
            m.type == "bind" or "bind" in m.options or "rbind" in m.options
        ):
            return True
    return False


def populate_dev(spec: Spec, devices: tuple[Device, ...], *, in_user_namespace: bool) -> None:
    root = paths.RootDir(spec.rootfs)
    old_umask = os.umask(0)
    try:
        for device in devices:
            _make_device(root, device, in_user_namespace)
        for target, link in DEFAULT_LINKS:
            _symlink(root, target, link, replace=False)
        if _exists(root, "/dev/pts") is not None:
            _symlink(root, "pts/ptmx", "/dev/ptmx", replace=True)
    finally:
        os.umask(old_umask)
        root.close()


def _exists(root: paths.RootDir, path: str) -> os.stat_result | None:
    parent, name = root.parent(path)
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(parent)


def _symlink(root: paths.RootDir, target: str, link: str, *, replace: bool) -> None:
    parent, name = root.parent(link)
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None:
            if not replace or (stat.S_ISLNK(st.st_mode) and os.readlink(name, dir_fd=parent) == target):
                return
            os.unlink(name, dir_fd=parent)
        os.symlink(target, name, dir_fd=parent)
    finally:
        os.close(parent)


def _is_device(st: os.stat_result, device: Device) -> bool:
    if device.kind == "p":
        return stat.S_ISFIFO(st.st_mode)
    kind_ok = stat.S_ISBLK(st.st_mode) if device.kind == "b" else stat.S_ISCHR(st.st_mode)
    return kind_ok and st.st_rdev == os.makedev(device.major, device.minor)


def _make_device(root: paths.RootDir, device: Device, in_user_namespace: bool) -> None:
    """One device node, made relative to its (resolved-inside-the-rootfs) parent directory.

    An existing node that is that very device stays (as with runc); a planted symlink is replaced;
    anything else at the path is an error, as runtime-spec asks.
    """
    parent, name = root.parent(device.path)
    try:
        try:
            st: os.stat_result | None = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            os.unlink(name, dir_fd=parent)  # never create or bind through a planted link
            st = None
        if in_user_namespace:
            _bind_host_device(root, parent, name, device, st)
            return
        if st is not None:
            if _is_device(st, device):
                return
            raise OSError(errno.EEXIST, f"exists and is not the device {device.major}:{device.minor}", device.path)
        os.mknod(name, device.mode_bits, os.makedev(device.major, device.minor), dir_fd=parent)
        os.chown(name, device.uid, device.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(name, device.file_mode & 0o7777, dir_fd=parent)
    finally:
        os.close(parent)


def _bind_host_device(
    root: paths.RootDir, parent: int, name: str, device: Device, st: os.stat_result | None
) -> None:
    """mknod is not allowed in a user namespace: bind the host's node over an empty file instead."""
    if st is None:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW
        os.close(os.open(name, flags, 0o000, dir_fd=parent))
    elif not (stat.S_ISREG(st.st_mode) or _is_device(st, device)):
        raise OSError(errno.EEXIST, "exists and is neither a file nor that device", device.path)
    target = root.open(device.path)
    try:
        libc.mount(device.path, paths.fd_path(target), None, abi.MS_BIND)
    finally:
        os.close(target)


def make_cwd(spec: Spec, cwd: str) -> None:
    root = paths.RootDir(spec.rootfs)
    try:
        os.close(root.mkdirs(cwd))
    finally:
        root.close()


def pivot(rootfs: str) -> None:
    """pivot_root(".", ".") then lazily detach the old root stacked underneath; no temp dir needed."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        libc.pivot_root(".", ".")
        os.fchdir(old_root)
        # Make the old root a slave first, or the unmount would propagate to the host.
        libc.mount(None, ".", None, abi.MS_SLAVE | abi.MS_REC)
        libc.umount2(".", abi.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs over "/" and chroot (for ramdisk roots where pivot_root fails)."""
    os.chdir(rootfs)
    libc.mount(rootfs, "/", None, abi.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def finish_root(spec: Spec) -> None:
    """Steps after the switch to the rootfs; "/" is the container's own root now."""
    if spec.rootfs_propagation is not None:
        libc.mount(None, "/", None, plans.root_propagation(spec.rootfs_propagation))
    root = paths.RootDir("/")
    try:
        for path in spec.readonly_paths:
            _make_readonly(root, path)
        if spec.masked_paths:
            null = _open_null_device()
            try:
                for path in spec.masked_paths:
                    _mask(root, path, null)
            finally:
                os.close(null)
    finally:
        root.close()
    if spec.root_readonly:
        sticky = os.statvfs("/").f_flag & _STICKY
        libc.mount(None, "/", None, abi.MS_BIND | abi.MS_REMOUNT | abi.MS_RDONLY | sticky)


def _open_existing(root: paths.RootDir, path: str) -> int | None:
    try:
        return root.open(path)
    except FileNotFoundError:
        return None


def _make_readonly(root: paths.RootDir, path: str) -> None:
    fd = _open_existing(root, path)
    if fd is None:
        return
    try:
        libc.mount(paths.fd_path(fd), paths.fd_path(fd), None, abi.MS_BIND | abi.MS_REC)
    finally:
        os.close(fd)
    top = root.open(path)  # the bind mount just made, not the directory under it
    try:
        sticky = os.statvfs(paths.fd_path(top)).f_flag & _STICKY
        flags = abi.MS_BIND | abi.MS_REMOUNT | abi.MS_RDONLY | abi.MS_REC | sticky
        libc.mount(None, paths.fd_path(top), None, flags)
    finally:
        os.close(top)


def _open_null_device() -> int:
    """/dev/null, checked to be the real null device before anything is bind-mounted from it.

    A rootfs (or a config mount) can put something else there; binding that over a masked path
    would unmask it, or worse make it writable (the CVE-2025-31133 class).
    """
    fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise OSError(errno.EPERM, "/dev/null is not the null device (1:3); refusing to mask with it", "/dev/null")
    return fd


def _mask(root: paths.RootDir, path: str, null: int) -> None:
    fd = _open_existing(root, path)
    if fd is None:
        return
    try:
        target = paths.fd_path(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            libc.mount("tmpfs", target, "tmpfs", abi.MS_RDONLY)
        else:
            libc.mount(paths.fd_path(null), target, None, abi.MS_BIND)
    finally:
        os.close(fd)
