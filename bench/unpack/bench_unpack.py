#!/usr/bin/env python3
"""Time `ocibundle unpack` against `umoci unpack` on a realistic multi-layer image, alternately.

Image: a debootstrap --variant=minbase bookworm rootfs (layer 1) plus two layers that add, change and
delete files (whiteouts, an opaque directory, a hardlink). The rootfs and the OCI layout are cached
under --work (default /var/tmp/ocibundle-bench), so only the first run needs the Debian mirror.

    python3 bench/unpack/bench_unpack.py [--runs 20] [--work DIR]

Run as root (both tools then chown and mknod). Prints each run, the medians and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MTIME = 1_700_000_000


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rootfs(work: Path) -> Path:
    done = work / "minbase-rootfs"
    if not done.exists():
        tmp = work / "minbase-rootfs.tmp"
        if not (tmp / "usr").exists():
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(tmp),
                            "http://deb.debian.org/debian"], check=True)
        tmp.rename(done)
    return done


Entry = tuple[tarfile.TarInfo, bytes]


def entry(name: str, data: bytes | None = None, kind: bytes = tarfile.REGTYPE, link: str = "") -> Entry:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mtime, ti.linkname = kind, MTIME, link
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    ti.size = len(data or b"")
    return ti, data or b""


def tar_of(entries: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in entries:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


def layers(base: Path) -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(base.iterdir()):
            tar.add(child, arcname=child.name)
    docs = sorted(p.relative_to(base).as_posix() for p in (base / "usr/share/doc").iterdir())[:40]
    second = [entry("etc/motd", b"changed by layer 2\n"), entry("opt/app", None, tarfile.DIRTYPE)]
    second += [entry(f"opt/app/file{i}", bytes([i % 256]) * (1000 + i * 37)) for i in range(2000)]
    second += [entry(f"{d.rpartition('/')[0]}/.wh.{d.rpartition('/')[2]}") for d in docs]
    second += [entry("var/cache/apt/.wh..wh..opq"), entry("etc/hostname.link", None, tarfile.LNKTYPE, "etc/hostname")]
    third = [entry("opt/app/.wh.file7"), entry("opt/app/file8", b"rewritten"), entry("usr/bin/.wh.apt-cdrom")]
    third += [entry(f"srv/data/blob{i}", bytes(4096) * (1 + i % 16)) for i in range(500)]
    return [buf.getvalue(), tar_of(second), tar_of(third)]


def layout(work: Path) -> Path:
    out = work / "layout"
    if (out / "index.json").exists():
        return out
    blobs_dir = out / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    descs, diff_ids = [], []
    for raw in layers(rootfs(work)):
        blob = gzip.compress(raw, compresslevel=6, mtime=0)
        (blobs_dir / sha(blob)[7:]).write_bytes(blob)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha(blob),
                      "size": len(blob)})
        diff_ids.append(sha(raw))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/bash"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    (blobs_dir / sha(config)[7:]).write_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)}, "layers": descs}).encode()
    (blobs_dir / sha(manifest)[7:]).write_bytes(manifest)
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}))
    return out


def timed(cmd: list[str], bundle: Path) -> float:
    if bundle.exists():
        shutil.rmtree(bundle)
    # Flush the previous run's dirty pages first: on a virtual disk, writeback of one tool's output
    # would otherwise be charged to the next run (we saw both tools slow down run after run).
    os.sync()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    shutil.rmtree(bundle)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/ocibundle-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    image = layout(args.work)
    ocibundle = REPO / ".venv" / "bin" / "ocibundle"
    ours_cmd = [str(ocibundle)] if ocibundle.exists() else [sys.executable, "-m", "ociruntime.image"]
    umoci = shutil.which("umoci")
    if umoci is None:
        print("umoci not installed (apt-get install umoci)", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in (image / "blobs/sha256").iterdir())
    print(f"image: {image} ({size / 2**20:.1f} MiB compressed, 3 gzip layers)")
    ours, theirs = [], []
    for i in range(args.runs):
        ours.append(timed([*ours_cmd, "unpack", f"{image}:bench", str(args.work / "b-ours")], args.work / "b-ours"))
        theirs.append(timed([umoci, "unpack", "--image", f"{image}:bench", str(args.work / "b-umoci")],
                            args.work / "b-umoci"))
        print(f"run {i + 1}: ocibundle {ours[-1]:.3f}s  umoci {theirs[-1]:.3f}s")
    for name, samples in (("ocibundle", ours), ("umoci", theirs)):
        print(f"{name}: min {min(samples):.3f}s  median {statistics.median(samples):.3f}s  max {max(samples):.3f}s")
    print(f"ratio of the medians ocibundle/umoci: {statistics.median(ours) / statistics.median(theirs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
