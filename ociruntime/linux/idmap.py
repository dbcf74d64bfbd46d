"""Idmapped bind mounts (`idmap` / `ridmap` options), prepared by the parent before anything forks.

Making a mount idmapped needs privilege over the filesystem, which init (possibly inside a user
namespace) may lack, so the parent builds each one as a detached tree: open_tree(OPEN_TREE_CLONE) of
the source, then mount_setattr(MOUNT_ATTR_IDMAP) with a user namespace that carries the mappings.
Init only attaches the tree at its destination with move_mount(2).

Imported only for a config with such a mount (ociruntime.spec.mounts.is_idmapped).
"""

from __future__ import annotations

import os
import signal

from ociruntime import abi, errors
from ociruntime.linux import libc, namespaces
from ociruntime.spec import mounts as plans
from ociruntime.spec.model import IdMapping, parse_mappings

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from ociruntime.spec.model import Spec


def prepare(spec: Spec) -> dict[int, int]:
    """mount index → fd of a detached idmapped tree; the caller closes them."""
    trees: dict[int, int] = {}
    try:
        for index, mount in enumerate(spec.mounts):
            plan = plans.plan_mount(mount.destination, mount.type, mount.source, mount.options)
            if plan.idmap is not None:
                trees[index] = _idmapped_tree(spec, index, plan)
    except BaseException:
        close(trees)
        raise
    return trees


def close(trees: dict[int, int]) -> None:
    for fd in trees.values():
        os.close(fd)
    trees.clear()


def _idmapped_tree(spec: Spec, index: int, plan: plans.MountPlan) -> int:
    where = f"mounts[{index}]"
    if not plan.is_bind or plan.source is None:
        raise errors.ConfigInvalid(f"{where}.options", "idmap and ridmap need a bind mount with a source")
    raw = (spec.raw.get("mounts") or [])[index]
    # A mount's own mappings say "a file of hostID on the source shows as containerID": the kernel
    # maps source ids *through* the mount's user namespace, so that namespace gets them inverted.
    # Without them the mount takes the container's user namespace as it is (image files owned by
    # host root then belong to the container's root).
    own_uids, own_gids = parse_mappings(raw.get("uidMappings")), parse_mappings(raw.get("gidMappings"))
    uid_maps = _inverted(own_uids) if own_uids else spec.uid_mappings
    gid_maps = _inverted(own_gids) if own_gids else spec.gid_mappings
    if not uid_maps or not gid_maps:
        raise errors.ConfigInvalid(
            where, "an idmapped mount needs uidMappings and gidMappings (its own or the container's)"
        )
    recursive = plan.idmap == "ridmap"
    source = os.path.join(spec.bundle, plan.source)
    tree_flags = abi.OPEN_TREE_CLONE | abi.OPEN_TREE_CLOEXEC | (abi.AT_RECURSIVE if plan.flags & abi.MS_REC else 0)
    try:
        tree = libc.open_tree(abi.AT_FDCWD, source, tree_flags)
    except OSError as e:
        raise errors.ConfigInvalid(f"{where}.source", f"{source}: {e.strerror}") from None
    try:
        userns = user_namespace_with(uid_maps, gid_maps)
        try:
            flags = abi.AT_EMPTY_PATH | (abi.AT_RECURSIVE if recursive else 0)
            libc.mount_setattr(tree, "", flags, abi.MOUNT_ATTR_IDMAP, 0, userns)
        finally:
            os.close(userns)
    except OSError as e:
        os.close(tree)
        raise errors.NotSupported(f"{where} idmap", f"cannot idmap {source}: {e.strerror}") from None
    return tree


def _inverted(maps: tuple[IdMapping, ...]) -> tuple[IdMapping, ...]:
    return tuple(IdMapping(m.host_id, m.container_id, m.size) for m in maps)


def user_namespace_with(uid_maps: tuple[IdMapping, ...], gid_maps: tuple[IdMapping, ...]) -> int:
    """An fd of a new user namespace with these mappings, made by a short-lived child."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(ready_r)
            os.close(hold_w)
            libc.unshare(abi.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # until the parent has what it needs
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(0, "helper process for the idmap user namespace failed")
        namespaces.write_id_maps(pid, uid_maps, gid_maps, deny_setgroups=False)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
