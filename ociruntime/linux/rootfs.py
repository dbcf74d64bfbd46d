"""Building the container's filesystem view inside its new mount namespace (runs in init).

Steps, in the order `ociruntime.process.init` calls them:
  prepare_root      stop mount events leaking to the host, make the rootfs a mount point
  mount_all         config.json mounts, in order, each destination resolved inside the rootfs
  populate_dev      default and configured device nodes and /dev links (unless /dev is bind-mounted)
  pivot / move_root switch "/" to the rootfs and drop the host's tree
  finish_root       rootfs propagation, readonly and masked paths, read-only root
"""

from __future__ import annotations

import contextlib
import os
import stat

from ociruntime import abi
from ociruntime.cgroups import hierarchy
from ociruntime.linux import libc, paths
from ociruntime.spec import mounts as plans
from ociruntime.spec.devices import DEFAULT_LINKS, Device
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
    with contextlib.suppress(OSError):
        libc.mount(None, mountpoint, None, abi.MS_PRIVATE)


def _mountpoint_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = hierarchy.unescape(line.split()[4])
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
                best = point
    return best


def mount_all(spec: Spec, cgroup_paths: dict[str, str]) -> None:
    for index, m in enumerate(spec.mounts):
        plan = plans.plan_mount(m.destination, m.type, m.source, m.options)
        try:
            if m.type == "cgroup" or m.type == "cgroup2":
                mount_cgroup(spec, plan, cgroup_paths)
            else:
                mount_one(spec, plan)
        except OSError as e:
            # Name the config entry, not the host path the kernel saw: that is what the user wrote.
            what = e.filename if e.filename and not str(e.filename).startswith(spec.rootfs) else m.destination
            raise OSError(e.errno, f"mounts[{index}] ({m.destination}): {what}: {e.strerror}") from None


def mount_one(spec: Spec, plan: plans.MountPlan) -> None:
    source = plan.source
    if plan.is_bind:
        if source is None:
            raise OSError(2, "bind mount needs a source", plan.destination)
        source = os.path.join(spec.bundle, source)
        is_dir = stat.S_ISDIR(os.stat(source).st_mode)  # raises ENOENT naming a missing source
        target = (paths.make_dirs_in_root if is_dir else paths.make_file_in_root)(spec.rootfs, plan.destination)
        libc.mount(source, target, None, plan.flags & (abi.MS_BIND | abi.MS_REC))
        if plan.remount_flags:
            sticky = os.statvfs(target).f_flag & _STICKY
            libc.mount(None, target, None, abi.MS_BIND | abi.MS_REMOUNT | plan.remount_flags | sticky)
    else:
        target = paths.make_dirs_in_root(spec.rootfs, plan.destination)
        libc.mount(source or plan.fstype, target, plan.fstype, plan.flags, plan.data or None)
    for flag in plan.propagation:
        libc.mount(None, target, None, flag)


def mount_cgroup(spec: Spec, plan: plans.MountPlan, cgroup_paths: dict[str, str]) -> None:
    """The container's own cgroups at the destination (usually /sys/fs/cgroup).

    With a cgroup namespace a fresh cgroup mount already shows only the container's subtree; without
    one, the container's directories are bind-mounted so that it still sees nothing above itself.
    """
    target = paths.make_dirs_in_root(spec.rootfs, plan.destination)
    flags = plan.flags & ~(abi.MS_BIND | abi.MS_REC | abi.MS_RDONLY)
    fresh = spec.new_namespace("cgroup")
    layout = hierarchy.read_layout()
    if layout.is_v2:
        _mount_hierarchy(
            target, "cgroup2", None, cgroup_paths.get(hierarchy.UNIFIED), flags | (plan.flags & abi.MS_RDONLY), fresh
        )
        return
    libc.mount("tmpfs", target, "tmpfs", flags, "mode=755")
    for h in layout.hierarchies:
        name = "unified" if h.key == hierarchy.UNIFIED else os.path.basename(h.mountpoint)
        sub = os.path.join(target, name)
        os.makedirs(sub, exist_ok=True)
        fstype = "cgroup2" if h.key == hierarchy.UNIFIED else "cgroup"
        data = None if h.key == hierarchy.UNIFIED else h.key
        _mount_hierarchy(sub, fstype, data, cgroup_paths.get(h.key), flags | (plan.flags & abi.MS_RDONLY), fresh)
    if plan.flags & abi.MS_RDONLY:
        libc.mount(None, target, None, abi.MS_REMOUNT | abi.MS_RDONLY | flags, "mode=755")


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
    old_umask = os.umask(0)
    try:
        for device in devices:
            _make_device(spec.rootfs, device, in_user_namespace)
        for target, link in DEFAULT_LINKS:
            host_link = paths.resolve_in_root(spec.rootfs, link)
            if not os.path.lexists(host_link):
                os.symlink(target, host_link)
        _link_ptmx(spec.rootfs)
    finally:
        os.umask(old_umask)


def _make_device(rootfs: str, device: Device, in_user_namespace: bool) -> None:
    parent = paths.make_dirs_in_root(rootfs, os.path.dirname(device.path))
    target = os.path.join(parent, os.path.basename(device.path))
    if os.path.lexists(target):
        if stat.S_ISLNK(os.lstat(target).st_mode):
            os.unlink(target)  # never create or bind through a planted link
        else:
            return  # runc leaves an existing node as it is
    if in_user_namespace:
        # mknod is not allowed in a user namespace: bind the host's node over an empty file instead.
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o000))
        libc.mount(device.path, target, None, abi.MS_BIND)
        return
    os.mknod(target, device.mode_bits, os.makedev(device.major, device.minor))
    os.chown(target, device.uid, device.gid, follow_symlinks=False)
    os.chmod(target, device.file_mode & 0o7777)


def _link_ptmx(rootfs: str) -> None:
    ptmx = paths.resolve_in_root(rootfs, "/dev/ptmx")
    if os.path.isdir(paths.resolve_in_root(rootfs, "/dev/pts")):
        if os.path.lexists(ptmx):
            if os.path.islink(ptmx) and os.readlink(ptmx) == "pts/ptmx":
                return
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def make_cwd(spec: Spec, cwd: str) -> None:
    paths.make_dirs_in_root(spec.rootfs, cwd)


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
    """Steps after the switch to the rootfs; paths here are already the container's own."""
    if spec.rootfs_propagation is not None:
        libc.mount(None, "/", None, plans.root_propagation(spec.rootfs_propagation))
    for path in spec.readonly_paths:
        _make_readonly(path)
    for path in spec.masked_paths:
        _mask(path)
    if spec.root_readonly:
        sticky = os.statvfs("/").f_flag & _STICKY
        libc.mount(None, "/", None, abi.MS_BIND | abi.MS_REMOUNT | abi.MS_RDONLY | sticky)


def _make_readonly(path: str) -> None:
    if not os.path.lexists(path):
        return
    libc.mount(path, path, None, abi.MS_BIND | abi.MS_REC)
    sticky = os.statvfs(path).f_flag & _STICKY
    libc.mount(None, path, None, abi.MS_BIND | abi.MS_REMOUNT | abi.MS_RDONLY | abi.MS_REC | sticky)


def _mask(path: str) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        libc.mount("tmpfs", path, "tmpfs", abi.MS_RDONLY)
    else:
        libc.mount("/dev/null", path, None, abi.MS_BIND)
