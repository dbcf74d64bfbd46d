"""Unpack orchestration: verified layers -> BUNDLE/rootfs, converted config -> BUNDLE/config.json.

The bundle directory must not be a symlink and its rootfs must be new. Everything below it is
reached through directory fds (see inroot.py). On failure the rootfs made so far is removed, so a
half-applied or unverified image never looks like a usable bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ociruntime.image import progress as bars
from ociruntime.image.apply import LayerApplier, Options
from ociruntime.image.convert import Rootless, image_to_runtime_config
from ociruntime.image.errors import ImageError
from ociruntime.image.inroot import Root, remove_at
from ociruntime.image.layer import stage_layer
from ociruntime.image.limits import Limits, check
from ociruntime.image.platforms import Platform
from ociruntime.image.resolve import Image, resolve
from ociruntime.image.source import ImageSource
from ociruntime.image.users import resolve_user

OWNERS_FILE = "ocibundle-owners.json"
MAX_ACCOUNT_FILE = 8 << 20


@dataclass
class UnpackOptions:
    platform: Platform
    limits: Limits
    rootless: bool = False
    args: list[str] | None = None
    volumes: bool = False
    warn: Callable[[str], None] = lambda _message: None


def open_bundle_dir(bundle: Path) -> tuple[int, bool]:
    """An fd of the bundle dir (made if missing) and whether we made it; refuses a symlink."""
    created = False
    try:
        os.mkdir(bundle, 0o700)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        raise ImageError(str(bundle), f"cannot create the bundle directory ({exc.strerror})") from None
    try:
        fd = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(bundle):
            raise ImageError(str(bundle), "the bundle directory is a symlink; give its real path") from None
        raise ImageError(str(bundle), f"not a usable directory ({exc.strerror})") from None
    return fd, created


def unpack(source: ImageSource, bundle: Path, opts: UnpackOptions) -> dict[str, Any]:
    image = resolve(source, opts.platform, opts.limits)
    bundle_fd, created = open_bundle_dir(bundle)
    made_rootfs = False
    try:
        try:
            os.mkdir("rootfs", 0o755, dir_fd=bundle_fd)
        except FileExistsError:
            raise ImageError(str(bundle), "rootfs already exists; unpack into a new bundle directory") from None
        made_rootfs = True
        rootfs_fd = os.open("rootfs", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=bundle_fd)
        root = Root(rootfs_fd, opts.limits)
        try:
            owners = apply_layers(source, image, root, bundle, opts)
            config = make_config(image, root, bundle, opts)
        finally:
            root.close()
            os.close(rootfs_fd)
        write_json(bundle_fd, "config.json", config)
        if opts.rootless:
            write_json(bundle_fd, OWNERS_FILE, owners)
        return config
    except BaseException:
        if made_rootfs:
            remove_at(bundle_fd, "rootfs")
        os.close(bundle_fd)
        bundle_fd = -1
        if created:
            os.rmdir(bundle)
        raise
    finally:
        if bundle_fd >= 0:
            os.close(bundle_fd)


def apply_layers(source: ImageSource, image: Image, root: Root, workdir: Path, opts: UnpackOptions) -> dict[str, Any]:
    rootless = opts.rootless or os.geteuid() != 0
    options = Options(chown=not rootless, devices=not rootless, warn=opts.warn)
    applier = LayerApplier(root, opts.limits, options)
    total = 0
    for i, (desc, diff_id) in enumerate(zip(image.layers, image.diff_ids, strict=True)):
        what = f"layer {i + 1}/{len(image.layers)} {desc.digest.hex[:12]}"
        bar = bars.make(f"unpack {what}", desc.size)
        with source.open_blob(desc) as stream:
            staged = stage_layer(stream, desc, diff_id, workdir, max_blob=opts.limits.max_blob_bytes,
                                 max_layer=opts.limits.max_layer_bytes, progress=bar)
        with staged:
            total += os.fstat(staged.fileno()).st_size
            check(total, opts.limits.max_total_bytes, "decompressed image size")
            applier.apply(staged, what)
        bar.close()
    return {"note": "ownership the image wants but a rootless unpack could not set", "owners": options.owners}


def make_config(image: Image, root: Root, bundle: Path, opts: UnpackOptions) -> dict[str, Any]:
    settings = image.config.get("config") or {}
    user_spec = settings.get("User") or ""
    passwd = root.read_file("/etc/passwd", MAX_ACCOUNT_FILE)
    group = root.read_file("/etc/group", MAX_ACCOUNT_FILE) if user_spec else None
    user = resolve_user(str(user_spec), passwd, group)
    rootless = None
    if opts.rootless:
        rootless = Rootless(os.getuid(), os.getgid())
        if user.uid or user.gid:
            opts.warn(f"rootless: the image's user {user_spec!r} runs as root in the user namespace "
                      "(only the invoking user is mapped)")
    volume_sources = {}
    if opts.volumes:
        for i, destination in enumerate(sorted(settings.get("Volumes") or {})):
            path = bundle.resolve() / "volumes" / str(i)
            path.mkdir(parents=True, exist_ok=True)
            volume_sources[str(destination)] = str(path)
    config = image_to_runtime_config(image.config, user, args=opts.args, rootless=rootless,
                                     volume_sources=volume_sources)
    from ociruntime.spec.schema import validate_config

    validate_config(config)
    return config


def write_json(dir_fd: int, name: str, doc: Any) -> None:
    data = (json.dumps(doc, indent=2) + "\n").encode()
    tmp = f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

