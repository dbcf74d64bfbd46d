"""Reference parsing, auth-file lookup and challenge parsing (pure, no network)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ociruntime.image.auth import find_credentials, parse_challenge
from ociruntime.image.errors import ImageError
from ociruntime.image.reference import parse_reference


@pytest.mark.parametrize(("text", "expected"), [
    ("busybox", ("docker.io", "library/busybox", "latest")),
    ("user/app:1.2", ("docker.io", "user/app", "1.2")),
    ("localhost:5000/a/b", ("localhost:5000", "a/b", "latest")),
    ("127.0.0.1:5000/x:v", ("127.0.0.1:5000", "x", "v")),
    ("ghcr.io/o/r@sha256:" + "a" * 64, ("ghcr.io", "o/r", None)),
])
def test_parse_reference(text: str, expected: tuple[str, str, str | None]) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag) == expected
    assert ref.api_host == ("registry-1.docker.io" if expected[0] == "docker.io" else expected[0])


@pytest.mark.parametrize("text", ["UPPER/case", "a//b", "x:bad tag", "r@sha256:short"])
def test_bad_references(text: str) -> None:
    with pytest.raises(ImageError):
        parse_reference(text)


def test_auth_file_lookup_order_and_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def auth(user: str) -> dict[str, str]:
        return {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}

    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps({"auths": {"reg.example:5000/team": auth("team"), "reg.example:5000": auth("all")}}))
    docker = tmp_path / "home/.docker/config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": auth("hub")}}))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(explicit))
    assert find_credentials("reg.example:5000", "team/app").username == "team"  # type: ignore[union-attr]
    assert find_credentials("reg.example:5000", "other/app").username == "all"  # type: ignore[union-attr]
    assert find_credentials("docker.io", "library/busybox").username == "hub"  # type: ignore[union-attr]
    assert find_credentials("nowhere.example", "x") is None


def test_parse_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"')
    assert c is not None and c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "reg", "scope": "repository:a/b:pull"}
    basic = parse_challenge('Basic realm="x"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("Negotiate abc") is None
