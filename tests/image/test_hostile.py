"""Hostile images: nothing may land outside the rootfs; bad input is a one-line error, never a crash."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.image.conftest import ocibundle
from tests.image.imagebuild import Image, d, f, hard, sym, wh, write_layout

pytestmark = pytest.mark.root

Unpack = Callable[..., Path]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the bundle that a hostile image would love to write into."""
    target = tmp_path / "outside"
    target.mkdir()
    (target / "precious").write_text("keep")
    return target


def test_dotdot_paths_are_refused(unpack: Unpack, outside: Path) -> None:
    unpack(Image(layers=[[f("../../outside/evil", b"x")]]), ok=False)
    assert "path escapes the rootfs" in unpack.stderr  # type: ignore[attr-defined]
    assert sorted(os.listdir(outside)) == ["precious"]


def test_dotdot_inside_is_normalized(unpack: Unpack) -> None:
    root = unpack(Image(layers=[[f("a/../b", b"x"), f("./c", b"y")]]))
    assert (root / "b").read_bytes() == b"x" and (root / "c").read_bytes() == b"y"


def test_absolute_paths_are_confined(unpack: Unpack, outside: Path) -> None:
    root = unpack(Image(layers=[[f(f"{outside}/evil", b"x")]]))
    assert (root / str(outside).lstrip("/") / "evil").read_bytes() == b"x"
    assert sorted(os.listdir(outside)) == ["precious"]


def test_entries_under_symlinked_parents_are_confined(unpack: Unpack, outside: Path) -> None:
    img = Image(layers=[
        [sym("abs", str(outside)), sym("rel", "../../../../../../../../" + str(outside).lstrip("/")),
         sym("loop1", "loop2"), sym("loop2", "loop1")],
        [f("abs/evil1", b"1"), f("rel/evil2", b"2"), d("abs/sub"), f("abs/sub/evil3", b"3")],
    ])
    root = unpack(img)
    inside = root / str(outside).lstrip("/")
    assert sorted(os.listdir(inside)) == ["evil1", "evil2", "sub"]
    assert sorted(os.listdir(outside)) == ["precious"]


def test_symlink_loops_are_bounded(unpack: Unpack) -> None:
    unpack(Image(layers=[[sym("loop1", "loop2"), sym("loop2", "loop1")], [f("loop1/x", b"")]]), ok=False)
    assert "symlinks" in unpack.stderr  # type: ignore[attr-defined]


def test_hardlinks_out_are_refused(unpack: Unpack, outside: Path) -> None:
    unpack(Image(layers=[[hard("steal", "../../outside/precious")]]), ok=False)
    assert "escapes the rootfs" in unpack.stderr  # type: ignore[attr-defined]
    # An absolute target means the rootfs's own file: the host's is never linked.
    unpack(Image(layers=[[hard("steal", f"{outside}/precious")]]), ok=False)
    assert "does not exist in the rootfs" in unpack.stderr  # type: ignore[attr-defined]
    # Through a symlinked parent the target is resolved inside the rootfs too.
    unpack(Image(layers=[[sym("o", str(outside)), hard("steal", "o/precious")]]), ok=False)
    assert os.stat(outside / "precious").st_nlink == 1


def test_whiteout_through_symlink_cannot_delete_outside(unpack: Unpack, outside: Path) -> None:
    unpack(Image(layers=[[sym("o", str(outside))], [wh("o/.wh.precious"), wh("o/.wh..wh..opq")]]))
    assert sorted(os.listdir(outside)) == ["precious"]


@pytest.mark.parametrize("name", [".wh.", ".wh..", ".wh..."])
def test_invalid_whiteouts_are_refused(unpack: Unpack, name: str) -> None:
    unpack(Image(layers=[[d("a"), f("a/x", b"")], [wh(f"a/{name}")]]), ok=False)
    assert "invalid whiteout" in unpack.stderr or "escapes" in unpack.stderr  # type: ignore[attr-defined]


def test_symlink_over_existing_file_does_not_write_through(unpack: Unpack, outside: Path) -> None:
    # Layer 1 makes `f` a symlink out; layer 2 writes a file `f`: it must replace the link, not follow it.
    root = unpack(Image(layers=[[sym("f", f"{outside}/precious")], [f("f", b"overwritten?")]]))
    assert (outside / "precious").read_text() == "keep"
    assert (root / "f").read_bytes() == b"overwritten?" and not (root / "f").is_symlink()


def test_bundle_dir_symlink_is_refused(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", Image(layers=[[f("a", b"")]]))
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = ocibundle("unpack", str(tmp_path / "layout"), str(tmp_path / "link"))
    assert result.returncode == 1 and "symlink" in result.stderr
    assert os.listdir(tmp_path / "real") == []


def test_existing_rootfs_is_refused(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", Image(layers=[[f("a", b"")]]))
    (tmp_path / "b" / "rootfs").mkdir(parents=True)
    result = ocibundle("unpack", str(tmp_path / "layout"), str(tmp_path / "b"))
    assert result.returncode == 1 and "rootfs already exists" in result.stderr


def test_resource_bounds(tmp_path: Path) -> None:
    from ociruntime.image.bundle import UnpackOptions, unpack
    from ociruntime.image.errors import LimitExceeded
    from ociruntime.image.limits import Limits
    from ociruntime.image.local import LayoutSource
    from ociruntime.image.platforms import host_platform

    write_layout(tmp_path / "layout", Image(layers=[[f(f"f{i}", b"") for i in range(50)]]))
    write_layout(tmp_path / "bomb", Image(layers=[[f("zeros", bytes(5_000_000))]]))
    cases = [("layout", Limits(max_entries=10), "entry count"), ("bomb", Limits(max_layer_bytes=1_000_000),
                                                                  "decompresses to more than")]
    for name, limits, message in cases:
        source = LayoutSource(tmp_path / name, None, None, limits)
        with pytest.raises(LimitExceeded, match=message):
            unpack(source, tmp_path / f"bundle-{name}", UnpackOptions(host_platform(), limits))
        assert not (tmp_path / f"bundle-{name}").exists()  # nothing half-made is left


def test_unpack_failure_removes_partial_rootfs(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", Image(layers=[[f("ok", b"")], [f("../bad", b"")]]))
    result = ocibundle("unpack", str(tmp_path / "layout"), str(tmp_path / "b"))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_corrupt_blob_digest_size_diffid_and_types(tmp_path: Path) -> None:
    img = Image(layers=[[f("a", b"content")]])
    cases = {}
    # blob content changed: digest mismatch
    layout = tmp_path / "digest"
    write_layout(layout, Image(layers=[[f("a", b"content")]], compression="none"))
    manifest = _manifest(layout)
    layer = layout / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    layer.write_bytes(layer.read_bytes().replace(b"content", b"contenT"))
    cases["size"] = (_truncated(tmp_path, img), "longer than the descriptor")
    cases["digest"] = (layout, "does not match digest")
    # wrong diffID in the config
    img2 = Image(layers=[[f("a", b"content")]], extra={})
    layout2 = tmp_path / "diffid"
    write_layout(layout2, img2)
    _rewrite_config(layout2, lambda c: c["rootfs"].update(diff_ids=["sha256:" + "0" * 64]))
    cases["diffid"] = (layout2, "does not match diffID")
    layout3 = tmp_path / "count"
    write_layout(layout3, img)
    _rewrite_config(layout3, lambda c: c["rootfs"]["diff_ids"].append("sha256:" + "1" * 64))
    cases["count"] = (layout3, "1 layers but the config lists 2 diff_ids")
    layout4 = tmp_path / "mediatype"
    write_layout(layout4, img)
    _rewrite_manifest(layout4, lambda m: m.update(mediaType="application/vnd.oci.image.index.v1+json"))
    cases["mediatype"] = (layout4, "but the document says")
    layout5 = tmp_path / "schema1"
    write_layout(layout5, img)
    _rewrite_manifest(layout5, lambda m: m.update(schemaVersion=1))
    cases["schema1"] = (layout5, "schema 1 manifests are not supported")
    for name, (path, message) in cases.items():
        result = ocibundle("unpack", str(path), str(tmp_path / f"b-{name}"))
        assert result.returncode == 1 and message in result.stderr, (name, result.stderr)
        assert not (tmp_path / f"b-{name}").exists()


def _manifest(layout: Path) -> dict:  # type: ignore[type-arg]
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    return json.loads((layout / "blobs/sha256" / digest.split(":")[1]).read_text())  # type: ignore[no-any-return]


def _put(layout: Path, data: bytes) -> dict[str, object]:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _rewrite_manifest(layout: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    manifest = _manifest(layout)
    change(manifest)
    desc = _put(layout, json.dumps(manifest).encode())
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(desc)
    (layout / "index.json").write_text(json.dumps(index))


def _rewrite_config(layout: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    manifest = _manifest(layout)
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
    change(config)
    manifest["config"].update(_put(layout, json.dumps(config).encode()))
    _rewrite_manifest(layout, lambda m: m.update(config=manifest["config"]))


def _truncated(tmp_path: Path, img: Image) -> Path:
    layout = tmp_path / "size"
    write_layout(layout, img)
    layer = layout / "blobs/sha256" / _manifest(layout)["layers"][0]["digest"].split(":")[1]
    layer.write_bytes(layer.read_bytes() + b"extra")
    return layout
