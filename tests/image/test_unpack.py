"""Layer application, checked file by file: types, modes, owners, sizes, link targets, xattrs, whiteouts."""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.image.conftest import kind
from tests.image.imagebuild import MTIME, Image, d, f, hard, info, sym, wh

pytestmark = pytest.mark.root

Unpack = Callable[..., Path]


def st(path: Path) -> os.stat_result:
    return os.lstat(path)


def test_basic_tree_file_by_file(unpack: Unpack) -> None:
    img = Image(layers=[[
        d("etc"), f("etc/hostname", b"box\n"),
        d("usr/bin", 0o755, uid=0, gid=0), f("usr/bin/tool", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1001),
        f("usr/bin/sg", b"x", mode=0o2711, uid=2, gid=3),
        d("tmp", 0o1777), sym("usr/bin/link", "tool"), sym("abs", "/etc/hostname"),
        f("data/x", b"y" * 70000, mode=0o600, uid=5, gid=6, pax={"SCHILY.xattr.user.note": "hello",
                                                               "SCHILY.xattr.trusted.t": "v"}),
        d("data/sub", 0o700, uid=7, gid=8, pax={"SCHILY.xattr.user.dir": "yes"}),
        d("closed", 0o000), f("closed/inside", b"1"),
    ]])
    root = unpack(img)
    hostname = st(root / "etc/hostname")
    assert kind(root / "etc/hostname") == "file" and hostname.st_size == 4
    assert (root / "etc/hostname").read_bytes() == b"box\n"
    assert stat.S_IMODE(hostname.st_mode) == 0o644 and hostname.st_mtime == MTIME
    tool = st(root / "usr/bin/tool")
    assert (tool.st_uid, tool.st_gid, stat.S_IMODE(tool.st_mode)) == (1000, 1001, 0o4755)  # setuid kept after chown
    sg = st(root / "usr/bin/sg")
    assert (sg.st_uid, sg.st_gid, stat.S_IMODE(sg.st_mode)) == (2, 3, 0o2711)
    assert stat.S_IMODE(st(root / "tmp").st_mode) == 0o1777
    assert os.readlink(root / "usr/bin/link") == "tool" and os.readlink(root / "abs") == "/etc/hostname"
    data = st(root / "data/x")
    assert (data.st_size, data.st_uid, data.st_gid, stat.S_IMODE(data.st_mode)) == (70000, 5, 6, 0o600)
    assert os.getxattr(root / "data/x", "user.note") == b"hello"
    assert os.getxattr(root / "data/x", "trusted.t") == b"v"
    sub = st(root / "data/sub")
    assert (sub.st_uid, sub.st_gid, stat.S_IMODE(sub.st_mode)) == (7, 8, 0o700)
    assert os.getxattr(root / "data/sub", "user.dir") == b"yes"
    assert st(root / "data/sub").st_mtime == MTIME
    assert stat.S_IMODE(st(root / "closed").st_mode) == 0 and (root / "closed/inside").read_bytes() == b"1"
    assert stat.S_IMODE(st(root / "data").st_mode) == 0o755  # implicit parent, like docker


def test_whiteouts_remove_lower_only(unpack: Unpack) -> None:
    img = Image(layers=[
        [d("a"), f("a/gone", b"1"), f("a/keep", b"2"), d("a/dir"), f("a/dir/x", b"3"), f("a/same", b"lower")],
        [wh("a/.wh.gone"), wh("a/.wh.dir"),
         f("a/same", b"upper"), wh("a/.wh.same"),  # whiteout after the same-layer entry: entry stays
         wh("a/.wh.new"), f("a/new", b"n"),  # whiteout before: entry stays too
         wh("a/.wh.nothing")],  # whiteout of something absent: no effect
    ])
    root = unpack(img)
    assert sorted(os.listdir(root / "a")) == ["keep", "new", "same"]
    assert (root / "a/same").read_bytes() == b"upper"
    assert (root / "a/new").read_bytes() == b"n"


@pytest.mark.parametrize("marker_first", [True, False])
def test_opaque_directory_hides_lower_children(unpack: Unpack, marker_first: bool) -> None:
    upper = [d("o"), f("o/new", b"n"), d("o/sub"), f("o/sub/y", b"y")]
    marker = [wh("o/.wh..wh..opq")]
    img = Image(layers=[
        [d("o"), f("o/old", b"1"), d("o/sub"), f("o/sub/lower", b"2"), f("keep", b"k")],
        marker + upper if marker_first else upper + marker,
    ])
    root = unpack(img)
    assert sorted(os.listdir(root / "o")) == ["new", "sub"]
    assert os.listdir(root / "o/sub") == ["y"]
    assert (root / "keep").exists()


def test_type_changes(unpack: Unpack) -> None:
    img = Image(layers=[
        [d("d2f"), f("d2f/child", b"c"), f("f2d", b"x"), f("f2s", b"x"), sym("s2d", "/etc"), d("etc"),
         f("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")],
        [f("d2f", b"now a file"), d("f2d"), f("f2d/in", b"i"), sym("f2s", "target"), d("s2d"), f("s2d/z", b"z")],
    ])
    root = unpack(img)
    assert kind(root / "d2f") == "file" and (root / "d2f").read_bytes() == b"now a file"
    assert kind(root / "f2d") == "dir" and (root / "f2d/in").read_bytes() == b"i"
    assert kind(root / "f2s") == "symlink" and os.readlink(root / "f2s") == "target"
    assert kind(root / "s2d") == "dir" and os.listdir(root / "s2d") == ["z"]
    assert os.listdir(root / "etc") == ["passwd"]  # the old symlink target was not touched


def test_hardlinks_within_and_to_lower_layers(unpack: Unpack) -> None:
    img = Image(layers=[
        [f("lower", b"L", mode=0o640, uid=3), f("replaced", b"old")],
        [hard("link-to-lower", "lower"), f("here", b"H"), hard("link-here", "/here"),
         hard("keeps-old", "replaced"), f("replaced", b"new")],
    ])
    root = unpack(img)
    assert st(root / "link-to-lower").st_ino == st(root / "lower").st_ino
    assert st(root / "lower").st_nlink == 2 and st(root / "lower").st_uid == 3
    assert st(root / "link-here").st_ino == st(root / "here").st_ino
    assert (root / "keeps-old").read_bytes() == b"old" and (root / "replaced").read_bytes() == b"new"


def test_devices_and_fifos(unpack: Unpack) -> None:
    img = Image(layers=[[d("dev"), (info("dev/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3), b""),
                         (info("dev/loop9", tarfile.BLKTYPE, mode=0o660, major=7, minor=9, gid=6), b""),
                         (info("fifo", tarfile.FIFOTYPE, mode=0o620), b"")]])
    root = unpack(img)
    null = st(root / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3
    assert stat.S_IMODE(null.st_mode) == 0o666
    loop = st(root / "dev/loop9")
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 9) and loop.st_gid == 6
    assert stat.S_ISFIFO(st(root / "fifo").st_mode) and stat.S_IMODE(st(root / "fifo").st_mode) == 0o620


def test_rootless_skips_devices_and_records_ownership(unpack: Unpack) -> None:
    import json

    img = Image(layers=[[d("dev"), (info("dev/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3), b""),
                         f("owned", b"x", uid=1000, gid=100), (info("fifo", tarfile.FIFOTYPE), b"")]])
    root = unpack(img, "--rootless")
    assert not (root / "dev/null").exists()
    assert st(root / "owned").st_uid == os.getuid()
    owners = json.loads((root.parent / "ocibundle-owners.json").read_text())["owners"]
    assert owners["/owned"] == [1000, 100] and owners["/dev/null"] == [0, 0]
    config = json.loads((root.parent / "config.json").read_text())
    assert config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
    assert {"type": "user"} in config["linux"]["namespaces"]


def test_long_and_non_utf8_names(unpack: Unpack) -> None:
    long_dir = "/".join(["d" * 100] * 5)
    weird = os.fsdecode(b"caf\xe9-\xff.txt")  # latin-1 bytes, not UTF-8
    img = Image(layers=[[f(f"{long_dir}/{'n' * 200}", b"deep"), f(weird, b"w")]])
    root = unpack(img)
    assert (root / long_dir / ("n" * 200)).read_bytes() == b"deep"
    assert os.fsencode(weird) in os.listdir(os.fsencode(root))


@pytest.mark.parametrize("compression", ["none", "zstd", "gzip"])
def test_compressions(unpack: Unpack, compression: str) -> None:
    img = Image(layers=[[f("a", b"A" * 100000)], [f("b", b"B")]], compression=compression)
    root = unpack(img)
    assert (root / "a").read_bytes() == b"A" * 100000 and (root / "b").read_bytes() == b"B"


def test_mtimes_of_directories_survive_children(unpack: Unpack) -> None:
    img = Image(layers=[[d("m", mtime=1000), f("m/a", b"", mtime=2000), sym("m/s", "a", mtime=3000)]])
    root = unpack(img)
    assert st(root / "m").st_mtime == 1000 and st(root / "m/a").st_mtime == 2000
    assert st(root / "m/s").st_mtime == 3000
