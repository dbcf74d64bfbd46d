"""Image config -> runtime config.json: ONE pure function, per the image-spec's conversion section.

Base: the same default configuration `ociruntime spec` writes. On top of it (image values win over
defaults, caller inputs win over the image):
  Entrypoint + Cmd -> process.args (caller ARGS replace Cmd); Env merged by name; WorkingDir -> cwd;
  User -> process.user (resolved by the caller from the rootfs, see users.py);
  os, architecture, variant, os.version, os.features, author, created, StopSignal, ExposedPorts ->
  org.opencontainers.image.* annotations; Labels -> annotations, taking precedence over the implicit ones;
  Volumes -> bind mounts of fresh bundle directories when asked for (an optional field per the spec).
Departures from the default config, and why: `terminal` is false (a bundle is run by engines and
scripts without a console socket); the rootfs is writable (it is this bundle's private copy).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ociruntime.image.users import User
from ociruntime.spec.default import default_config

ANNOTATION = "org.opencontainers.image."
_IMPLICIT = (("os", "os"), ("architecture", "architecture"), ("variant", "variant"), ("os.version", "os.version"),
             ("author", "author"), ("created", "created"))


@dataclass(frozen=True)
class Rootless:
    uid: int  # host ids the container's root maps to
    gid: int


def image_to_runtime_config(
    image_config: dict[str, Any],
    user: User,
    *,
    args: list[str] | None = None,
    rootless: Rootless | None = None,
    volume_sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    config = copy.deepcopy(default_config(rootless=rootless is not None))
    settings: dict[str, Any] = image_config.get("config") or {}
    process = config["process"]
    process["terminal"] = False
    config["root"]["readonly"] = False

    entrypoint = list(settings.get("Entrypoint") or [])
    cmd = list(args) if args else list(settings.get("Cmd") or [])
    if entrypoint or cmd:
        process["args"] = entrypoint + cmd
    # HOME from /etc/passwd, as docker and umoci do; the image's own HOME wins (an added entry only).
    process["env"] = merge_env([*process["env"], f"HOME={user.home}"], list(settings.get("Env") or []))
    process["cwd"] = settings.get("WorkingDir") or "/"
    process["user"] = {"uid": user.uid, "gid": user.gid}
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)

    annotations = implicit_annotations(image_config)
    annotations.update({str(k): str(v) for k, v in (settings.get("Labels") or {}).items()})
    if annotations:
        config["annotations"] = annotations

    for destination, source in sorted((volume_sources or {}).items()):
        config["mounts"].append({"destination": destination, "type": "bind", "source": source,
                                 "options": ["rbind", "rw"]})
    if rootless is not None:
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": rootless.uid, "size": 1}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": rootless.gid, "size": 1}]
        if user.uid != 0 or user.gid != 0 or user.additional_gids:
            # Only container root is mapped: another user would not exist in the user namespace.
            process["user"] = {"uid": 0, "gid": 0}
    return config


def merge_env(base: list[str], image: list[str]) -> list[str]:
    """The image's variables, plus base defaults whose names the image does not set (spec note 1)."""
    names = {entry.partition("=")[0] for entry in image}
    return [entry for entry in base if entry.partition("=")[0] not in names] + image


def implicit_annotations(image_config: dict[str, Any]) -> dict[str, str]:
    settings: dict[str, Any] = image_config.get("config") or {}
    out: dict[str, str] = {}
    for field, suffix in _IMPLICIT:
        value = image_config.get(field)
        if isinstance(value, str) and value:
            out[ANNOTATION + suffix] = value
    features = image_config.get("os.features")
    if isinstance(features, list) and features:
        out[ANNOTATION + "os.features"] = ",".join(str(f) for f in features)
    if settings.get("StopSignal"):
        out[ANNOTATION + "stopSignal"] = str(settings["StopSignal"])
    ports = settings.get("ExposedPorts") or {}
    if ports:
        out[ANNOTATION + "exposedPorts"] = ",".join(sorted(str(p) for p in ports))
    return out
