"""Fixtures for ocibundle tests: unpack an image built in the test and look at the tree."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.image.imagebuild import Image, write_layout

REPO = Path(__file__).resolve().parents[2]
OCIBUNDLE = [str(REPO / ".venv" / "bin" / "python"), "-m", "ociruntime.image"]


def ocibundle(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    python = REPO / ".venv" / "bin" / "python"
    cmd = [str(python if python.exists() else sys.executable), "-m", "ociruntime.image", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


@pytest.fixture
def unpack(tmp_path: Path) -> Callable[..., Path]:
    """Build a layout from an Image, run `ocibundle unpack`, return the rootfs (asserting success)."""

    counter = [0]

    def run(image: Image, *extra: str, ok: bool = True) -> Path:
        counter[0] += 1
        layout = tmp_path / f"layout{counter[0]}"
        write_layout(layout, image)
        bundle = tmp_path / f"bundle{counter[0]}"
        result = ocibundle("unpack", f"{layout}:latest", str(bundle), *extra)
        if ok:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 1, (result.stdout, result.stderr)
            assert result.stderr.startswith("ocibundle: "), result.stderr
            run.stderr = result.stderr  # type: ignore[attr-defined]
        return bundle / "rootfs"

    return run


def kind(path: Path) -> str:
    mode = os.lstat(path).st_mode
    for name, test in (("dir", stat.S_ISDIR), ("file", stat.S_ISREG), ("symlink", stat.S_ISLNK),
                       ("fifo", stat.S_ISFIFO), ("chr", stat.S_ISCHR), ("blk", stat.S_ISBLK)):
        if test(mode):
            return name
    return "other"


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below root: (type, mode, uid, gid, size-or-target) - what two unpacks must agree on."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(dirpath) / name
            st = os.lstat(p)
            rel = os.fsdecode(os.path.relpath(os.fsencode(p), os.fsencode(root)))
            detail: object = st.st_size if stat.S_ISREG(st.st_mode) else ""
            if stat.S_ISLNK(st.st_mode):
                detail = os.readlink(p)
            out[rel] = (kind(p), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, detail)
    return out
