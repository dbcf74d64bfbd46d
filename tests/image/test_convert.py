"""PURE conversion image config -> config.json, and user resolution against /etc/passwd and /etc/group."""

from __future__ import annotations

from typing import Any

import pytest

from ociruntime.image.convert import Rootless, image_to_runtime_config, merge_env
from ociruntime.image.errors import ImageError
from ociruntime.image.users import User, resolve_user
from ociruntime.spec.default import default_config
from ociruntime.spec.schema import validate_config

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nweb:x:33:34::/var/www:/bin/false\n# comment\nbob:x:1000:1000::/h:/bin/sh\n"
GROUP = b"root:x:0:\nwww:x:34:\nbob:x:1000:\nadm:x:4:bob,web\naudio:x:29:bob\nstaff:x:50:web\n"


@pytest.mark.parametrize(("spec", "expected"), [
    ("", User(0, 0, (), "/root")),
    ("web", User(33, 34, (4, 50), "/var/www")),
    ("bob", User(1000, 1000, (4, 29), "/h")),
    ("33", User(33, 34, (), "/var/www")),  # numeric: no supplementary groups (the spec says not to add them)
    ("4242", User(4242, 0)),  # numeric and unknown: copied verbatim
    ("web:staff", User(33, 50, (), "/var/www")),  # a group given: no supplementary groups
    ("web:7", User(33, 7, (), "/var/www")),
    ("1000:audio", User(1000, 29, (), "/h")),
])
def test_resolve_user(spec: str, expected: User) -> None:
    assert resolve_user(spec, PASSWD, GROUP) == expected


@pytest.mark.parametrize("spec", ["nobody", "web:nogroup", "nobody:0"])
def test_unknown_names_are_errors(spec: str) -> None:
    with pytest.raises(ImageError, match="not found"):
        resolve_user(spec, PASSWD, GROUP)


IMAGE: dict[str, Any] = {
    "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z", "author": "someone",
    "config": {
        "Entrypoint": ["/entry", "-v"], "Cmd": ["serve"], "Env": ["PATH=/opt/bin", "A=1"], "WorkingDir": "/srv",
        "StopSignal": "SIGQUIT", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
        "Labels": {"org.opencontainers.image.os": "label-wins", "x": "y"}, "Volumes": {"/data": {}},
    },
    "rootfs": {"type": "layers", "diff_ids": []},
}


def test_conversion_fields() -> None:
    config = image_to_runtime_config(IMAGE, User(33, 34, (4,)))
    validate_config(config)
    process = config["process"]
    assert process["args"] == ["/entry", "-v", "serve"]
    assert process["env"] == ["TERM=xterm", "HOME=/", "PATH=/opt/bin", "A=1"]  # the image's PATH wins
    assert process["cwd"] == "/srv"
    assert process["user"] == {"uid": 33, "gid": 34, "additionalGids": [4]}
    assert config["annotations"] == {
        "org.opencontainers.image.os": "label-wins", "x": "y",
        "org.opencontainers.image.architecture": "amd64", "org.opencontainers.image.created": "2024-01-02T03:04:05Z",
        "org.opencontainers.image.author": "someone", "org.opencontainers.image.stopSignal": "SIGQUIT",
        "org.opencontainers.image.exposedPorts": "53/udp,80/tcp",
    }
    base = default_config()
    assert config["mounts"] == base["mounts"] and config["linux"] == base["linux"]
    assert process["terminal"] is False and config["root"] == {"path": "rootfs", "readonly": False}


def test_args_override_cmd_only_and_defaults() -> None:
    assert image_to_runtime_config(IMAGE, User(0, 0), args=["x"])["process"]["args"] == ["/entry", "-v", "x"]
    bare = image_to_runtime_config({"config": {}}, User(0, 0))
    assert bare["process"]["args"] == default_config()["process"]["args"] and bare["process"]["cwd"] == "/"
    assert "annotations" not in bare
    assert image_to_runtime_config({}, User(0, 0), args=["a", "b"])["process"]["args"] == ["a", "b"]


def test_volumes_and_rootless() -> None:
    config = image_to_runtime_config(IMAGE, User(0, 0), volume_sources={"/data": "/b/volumes/0"},
                                     rootless=Rootless(1234, 5678))
    validate_config(config)
    assert {"destination": "/data", "type": "bind", "source": "/b/volumes/0", "options": ["rbind", "rw"]} \
        in config["mounts"]
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1234, "size": 1}]
    assert config["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 5678, "size": 1}]
    assert "resources" not in config["linux"]  # no device cgroup rules for a user without cgroups


def test_merge_env_keeps_image_values() -> None:
    assert merge_env(["PATH=/x", "TERM=xterm"], ["TERM=dumb", "B=2"]) == ["PATH=/x", "TERM=dumb", "B=2"]


def test_conversion_is_pure_and_does_not_mutate() -> None:
    import copy

    before = copy.deepcopy(IMAGE)
    first = image_to_runtime_config(IMAGE, User(1, 2))
    assert IMAGE == before and image_to_runtime_config(IMAGE, User(1, 2)) == first
