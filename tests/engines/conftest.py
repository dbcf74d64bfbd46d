"""Session fixtures for the engine tests: packages, the busybox image, and one running engine per param.

The engines are installed from Debian if missing, started once per session (containerd and dockerd as plain
processes on unix sockets in a temporary directory) and stopped at the end; the session's cgroup parent is
removed from every hierarchy. With ENGINES_TRACE=1 each engine is given a wrapper that records every runtime
call (argv, config.json, process.json) under <workdir>/trace/calls before exec'ing ociruntime; the work
directory is then kept for reading.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import remove_cgroup_tree
from tests.engines import harness

CGROUP_PARENT = f"/ociruntime-engines-{os.getpid()}"
TRACE = os.environ.get("ENGINES_TRACE") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "engines: drives real container engines (containerd, podman, docker)")


@dataclass
class Assets:
    work: Path
    archive: Path
    ociruntime: str  # what the engines are told to run (the binary, or its tracing wrapper)


@pytest.fixture(scope="session")
def engine_assets() -> Iterator[Assets]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    harness.install_packages()
    work = Path(tempfile.mkdtemp(prefix="ocie-", dir="/tmp"))  # short: unix socket paths live here
    rootfs = work / "rootfs"
    subprocess.run([str(harness.MAKE_ROOTFS), str(rootfs)], check=True)
    archive = harness.build_image_archive(rootfs, work / "busybox.tar")
    binary = harness.ociruntime_binary()
    yield Assets(work, archive, harness.make_trace_wrapper(binary, work / "trace") if TRACE else binary)
    left = remove_cgroup_tree(CGROUP_PARENT)
    leftover = harness.mounts_below(work)
    for mount in leftover:
        subprocess.run(["umount", "-l", mount], check=False)
    if not TRACE:
        shutil.rmtree(work, ignore_errors=True)
    assert not left, f"cgroups left by the engines: {[str(p) for p in left]}"


@pytest.fixture(scope="session", params=list(harness.ENGINES))
def engine(request: pytest.FixtureRequest, engine_assets: Assets) -> Iterator[harness.Engine]:
    name = request.param
    engine = harness.ENGINES[name](name, engine_assets.work / name, f"{CGROUP_PARENT}/{name}",
                                   engine_assets.ociruntime)
    try:
        engine.start_engine(engine_assets.archive)
        yield engine
    finally:
        engine.stop_engine()
        remove_cgroup_tree(f"{CGROUP_PARENT}/{name}")
