"""Inputs: layout by tag and digest, OCI archive, docker save archive, indexes with platforms, inspect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.image.conftest import ocibundle
from tests.image.imagebuild import Image, f, tar_directory, write_docker_archive, write_layout

pytestmark = pytest.mark.root


def simple(marker: bytes, arch: str = "amd64") -> Image:
    return Image(layers=[[f("marker", marker)]], arch=arch, config={"Cmd": ["/bin/true"]})


def test_layout_by_tag_and_digest(tmp_path: Path) -> None:
    digest = write_layout(tmp_path / "l", simple(b"one"), tag="v1")
    for i, source in enumerate((f"{tmp_path}/l:v1", f"{tmp_path}/l@{digest}", f"{tmp_path}/l")):
        result = ocibundle("unpack", source, str(tmp_path / f"b{i}"))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / f"b{i}/rootfs/marker").read_bytes() == b"one"
    result = ocibundle("unpack", f"{tmp_path}/l:nope", str(tmp_path / "bx"))
    assert result.returncode == 1 and "no tag 'nope'; tags: v1" in result.stderr


def test_oci_archive(tmp_path: Path) -> None:
    write_layout(tmp_path / "l", simple(b"arch"), tag="t")
    tar_directory(tmp_path / "l", tmp_path / "image.tar")
    result = ocibundle("unpack", f"{tmp_path}/image.tar:t", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b/rootfs/marker").read_bytes() == b"arch"


def test_docker_save_archive(tmp_path: Path) -> None:
    image = Image(layers=[[f("one", b"1")], [f("two", b"2")]], config={"Entrypoint": ["/one"]})
    write_docker_archive(tmp_path / "saved.tar", image, "example/app:1")
    for i, source in enumerate((f"{tmp_path}/saved.tar", f"{tmp_path}/saved.tar:example/app:1")):
        result = ocibundle("unpack", source, str(tmp_path / f"b{i}"))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / f"b{i}/rootfs/two").read_bytes() == b"2"
        assert json.loads((tmp_path / f"b{i}/config.json").read_text())["process"]["args"] == ["/one"]


def test_index_platform_selection_and_listing(tmp_path: Path) -> None:
    images = [simple(b"amd", "amd64"), simple(b"arm", "arm64"), simple(b"s390", "s390x")]
    write_layout(tmp_path / "l", images[0], as_index=images)
    for arch, marker in (("arm64", b"arm"), ("s390x", b"s390"), ("arm64/v8", b"arm")):
        bundle = tmp_path / f"b-{arch.replace('/', '-')}"
        result = ocibundle("unpack", "--platform", f"linux/{arch}", str(tmp_path / "l"), str(bundle))
        assert result.returncode == 0, result.stderr
        assert (bundle / "rootfs/marker").read_bytes() == marker
    result = ocibundle("unpack", "--platform", "linux/riscv64", str(tmp_path / "l"), str(tmp_path / "none"))
    assert result.returncode == 1
    assert "no image for platform linux/riscv64; available: linux/amd64, linux/arm64, linux/s390x" in result.stderr


def test_inspect_prints_manifest_and_config(tmp_path: Path) -> None:
    digest = write_layout(tmp_path / "l", simple(b"x"))
    result = ocibundle("inspect", str(tmp_path / "l"))
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["digest"] == digest and doc["config"]["config"]["Cmd"] == ["/bin/true"]
    assert doc["manifest"]["layers"][0]["mediaType"].endswith("+gzip")


def test_pull_from_layout_into_layout(tmp_path: Path) -> None:
    write_layout(tmp_path / "src", simple(b"p"), tag="v2")
    result = ocibundle("pull", f"{tmp_path}/src:v2", str(tmp_path / "dst"))
    assert result.returncode == 0, result.stderr
    result = ocibundle("unpack", f"{tmp_path}/dst:latest", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr


def test_errors_are_one_line(tmp_path: Path) -> None:
    for args in (["unpack", str(tmp_path / "missing-dir"), str(tmp_path / "b")],
                 ["inspect", "--platform", "linux", str(tmp_path)]):
        result = ocibundle(*args, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert result.returncode == 1, result
        assert result.stderr.startswith("ocibundle: ") and result.stderr.count("\n") == 1, result.stderr
