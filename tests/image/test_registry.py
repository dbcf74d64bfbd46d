"""Pull over the distribution API v2 from a real registry: anonymous, basic auth, token auth, cache reuse."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.image.conftest import ocibundle
from tests.image.imagebuild import Image, d, f, sym
from tests.image.registry_server import REGISTRY, TokenServer, htpasswd_auth, run_registry

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not os.path.exists(REGISTRY) and os.environ.get("CI") != "true",
                       reason="needs Debian's docker-registry"),
]


def app_image() -> Image:
    return Image(layers=[[d("bin"), f("bin/app", b"#!/bin/sh\necho hi\n", mode=0o755)],
                         [sym("app", "bin/app"), f("etc/motd", b"pulled\n")]],
                 config={"Entrypoint": ["/app"], "Cmd": ["--flag"]})


def env_with_auth(tmp_path: Path, registry_host: str, user: str, password: str) -> dict[str, str]:
    auth_file = tmp_path / "auth.json"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    auth_file.write_text(json.dumps({"auths": {registry_host: {"auth": token}}}))
    return {**os.environ, "REGISTRY_AUTH_FILE": str(auth_file), "HOME": str(tmp_path)}


def test_anonymous_pull_unpack_and_cache_reuse(tmp_path: Path) -> None:
    with run_registry(tmp_path) as registry:
        digest = registry.push("team/app", "v1", app_image())
        cache = tmp_path / "cache"
        ref = f"{registry.host}/team/app:v1"
        result = ocibundle("unpack", "--plain-http", "--cache", str(cache), ref, str(tmp_path / "b"), "--", "x")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "b/rootfs/etc/motd").read_bytes() == b"pulled\n"
        config = json.loads((tmp_path / "b/config.json").read_text())
        assert config["process"]["args"] == ["/app", "x"]
        cached = sorted(os.listdir(cache / "blobs/sha256"))
        assert len(cached) == 3  # both layers and the config, verified
        # pull into a layout: by digest too; then unpack from that layout
        result = ocibundle("pull", "--plain-http", "--cache", str(cache), f"{registry.host}/team/app@{digest}",
                           str(tmp_path / "layout"))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == digest
        # the registry loses the layer and config data: a second unpack must take them from the cache
        for hexdigest in cached:
            shutil.rmtree(tmp_path / "storage/docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest)
        result = ocibundle("unpack", "--plain-http", "--cache", str(cache), ref, str(tmp_path / "b3"))
        assert result.returncode == 0, result.stderr
    result = ocibundle("unpack", str(tmp_path / "layout"), str(tmp_path / "b2"))
    assert result.returncode == 0, result.stderr
    assert os.readlink(tmp_path / "b2/rootfs/app") == "bin/app"


def test_missing_image_and_https_errors(tmp_path: Path) -> None:
    with run_registry(tmp_path) as registry:
        result = ocibundle("unpack", "--plain-http", "--cache", str(tmp_path / "c"),
                           f"{registry.host}/no/such:tag", str(tmp_path / "b"))
        assert result.returncode == 1 and "MANIFEST_UNKNOWN" in result.stderr, result.stderr
        result = ocibundle("inspect", "--cache", str(tmp_path / "c"), f"{registry.host}/no/such:tag")
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr


def test_basic_auth(tmp_path: Path) -> None:
    with run_registry(tmp_path, htpasswd_auth(tmp_path, "alice", "s3cret")) as registry:
        registry.auth_header = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        registry.push("private/app", "latest", app_image())
        ref = f"{registry.host}/private/app"
        anonymous = ocibundle("inspect", "--plain-http", "--cache", str(tmp_path / "c"), ref,
                              env={**os.environ, "HOME": str(tmp_path), "REGISTRY_AUTH_FILE": ""})
        assert anonymous.returncode == 1 and "needs credentials" in anonymous.stderr, anonymous.stderr
        env = env_with_auth(tmp_path, registry.host, "alice", "s3cret")
        result = ocibundle("unpack", "--plain-http", "--cache", str(tmp_path / "c"), ref, str(tmp_path / "b"),
                           env=env)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "b/rootfs/bin/app").stat().st_mode & 0o777 == 0o755
        wrong = env_with_auth(tmp_path / "c", registry.host, "alice", "nope")
        result = ocibundle("inspect", "--plain-http", "--cache", str(tmp_path / "c"), ref, env=wrong)
        assert result.returncode == 1 and "401" in result.stderr


def test_token_auth(tmp_path: Path) -> None:
    tokens = TokenServer(tmp_path, "bob", "pw")
    try:
        with run_registry(tmp_path, tokens.registry_auth()) as registry:
            registry.auth_header = "Bearer " + tokens.sign("repository:tok/app:pull,push", "ocibundle-test-registry")
            registry.push("tok/app", "v1", app_image())
            env = env_with_auth(tmp_path, registry.host, "bob", "pw")
            result = ocibundle("unpack", "--plain-http", "--cache", str(tmp_path / "c"), f"{registry.host}/tok/app:v1",
                               str(tmp_path / "b"), env=env)
            assert result.returncode == 0, result.stderr
            assert (tmp_path / "b/rootfs/etc/motd").exists()
            assert any("scope=repository%3Atok%2Fapp%3Apull" in r for r in tokens.requests), tokens.requests
    finally:
        tokens.stop()
