"""End to end: an image built here is unpacked by ocibundle and run by `ociruntime run`; and umoci agrees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import remove_cgroup_tree, runtime_binary
from tests.image.conftest import ocibundle, tree
from tests.image.imagebuild import Image, d, f, hard, sym, tar_directory, wh, write_layout

pytestmark = pytest.mark.root
CGROUP_PARENT = f"/ociruntime-imgtest-{os.getpid()}"
BUSYBOX = shutil.which("busybox")


def busybox_image() -> Image:
    assert BUSYBOX is not None
    data = Path(BUSYBOX).read_bytes()
    return Image(layers=[
        [d("bin"), f("bin/busybox", data, mode=0o755), sym("bin/sh", "busybox"), sym("bin/cat", "busybox"),
         sym("bin/id", "busybox"), d("etc"),
         f("etc/passwd", b"root:x:0:0::/root:/bin/sh\napp:x:1234:1234::/:/bin/sh\n"),
         f("etc/group", b"root:x:0:\napp:x:1234:\nextra:x:77:app\n"), d("proc"), d("sys"), d("dev"), d("tmp", 0o1777)],
        [f("etc/greeting", b"hello from the image\n"), d("srv")],
    ], config={"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo default"], "Env": ["GREETING_FILE=/etc/greeting"],
               "WorkingDir": "/srv", "User": "app"})


@pytest.mark.skipif(BUSYBOX is None, reason="needs a static busybox on the host")
def test_unpacked_image_runs_with_ociruntime(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", busybox_image())
    bundle = tmp_path / "bundle"
    script = 'cat $GREETING_FILE; echo "cwd=$(pwd)"; echo "ids=$(id -u):$(id -g):$(id -G)"'
    result = ocibundle("unpack", str(tmp_path / "layout"), str(bundle), "--", script)
    assert result.returncode == 0, result.stderr
    config = json.loads((bundle / "config.json").read_text())
    cid = f"img{os.getpid()}"
    config["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{cid}"
    (bundle / "config.json").write_text(json.dumps(config))
    try:
        run = subprocess.run([runtime_binary(), "--root", str(tmp_path / "state"), "run", "--bundle", str(bundle), cid],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    finally:
        remove_cgroup_tree(CGROUP_PARENT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["hello from the image", "cwd=/srv", "ids=1234:1234:1234 77"]


UMOCI = shutil.which("umoci")


@pytest.mark.skipif(UMOCI is None, reason="needs umoci")
def test_same_tree_as_umoci(tmp_path: Path) -> None:
    image = Image(layers=[
        [d("etc"), f("etc/a", b"a", mode=0o640, uid=1, gid=2), d("d", 0o750, uid=3), f("d/x", b"x"),
         f("d/y", b"y"), sym("link", "etc/a"), f("suid", b"s", mode=0o4755), d("o"), f("o/old", b"o"),
         f("big", b"B" * 300000), f(os.fsdecode(b"n\xe9"), b"")],
        [wh("d/.wh.x"), hard("etc/hl", "etc/a"), wh("o/.wh..wh..opq"), f("o/new", b"n"), f("etc/a", b"changed"),
         d("d2"), f("d2/" + "long" * 40, b"l")],
    ], config={"Cmd": ["/bin/sh"]})
    write_layout(tmp_path / "layout", image, tag="t")
    ours = tmp_path / "ours"
    assert ocibundle("unpack", f"{tmp_path}/layout:t", str(ours)).returncode == 0
    theirs = tmp_path / "theirs"
    subprocess.run([str(UMOCI), "unpack", "--image", f"{tmp_path}/layout:t", str(theirs)], check=True,
                   capture_output=True)
    assert tree(ours / "rootfs") == tree(theirs / "rootfs")
    assert os.stat(ours / "rootfs/etc/hl").st_ino != os.stat(ours / "rootfs/etc/a").st_ino  # replaced after linking


@pytest.mark.skipif(UMOCI is None, reason="needs umoci")
def test_oci_archive_roundtrip_matches_layout(tmp_path: Path) -> None:
    write_layout(tmp_path / "layout", Image(layers=[[f("a", b"1")]]), tag="t")
    tar_directory(tmp_path / "layout", tmp_path / "img.tar")
    assert ocibundle("unpack", f"{tmp_path}/img.tar:t", str(tmp_path / "a")).returncode == 0
    assert ocibundle("unpack", f"{tmp_path}/layout:t", str(tmp_path / "b")).returncode == 0
    assert tree(tmp_path / "a/rootfs") == tree(tmp_path / "b/rootfs")
