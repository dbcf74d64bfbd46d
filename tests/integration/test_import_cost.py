"""Real `run` and `exec` calls import no costly module and no module of a feature the config leaves out.

Each call is a new interpreter, so every import is paid every time (issue #10). The command runs in a
fresh interpreter set up as bin/ociruntime sets itself up (-I -S, the same sys.path), and the modules
it ended with are checked. The container's own processes import nothing after the fork (they could
not: see ociruntime.process.spawn), so the runtime's modules are the parent's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, BundleFactory, Runtime, new_id
from tests.integration.helpers.common import devnull

pytestmark = pytest.mark.root

NOT_LOADED = (
    "json", "re", "enum", "functools", "collections", "signal",
    "dataclasses", "typing", "shutil", "contextlib", "inspect", "copy", "socket", "subprocess", "pathlib",
    "jsonschema", "ociruntime.linux.seccomp", "ociruntime.linux.lsm", "ociruntime.linux.console",
    "ociruntime.linux.idmap", "ociruntime.linux.sysctl", "ociruntime.linux.netdevices",
)  # fmt: skip

_COMMAND = """
import sys
sys.path[:] = [{repo!r}, *{path!r}]
from ociruntime.cli.main import main
code = main({argv!r})
modules = sorted(sys.modules)  # before this harness imports anything to write them down
with open({out!r}, "w") as f:
    f.write(" ".join(modules))
sys.exit(code)
"""


def modules_of(runtime: Runtime, argv: list[str], out: Path) -> set[str]:
    code = _COMMAND.format(repo=str(REPO), path=sys.path, argv=["--root", str(runtime.root), *argv], out=str(out))
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], stdin=devnull(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(out.read_text().split())


def test_run_loads_only_what_the_config_uses(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    modules = modules_of(runtime, ["run", "--bundle", str(bundle.path), new_id()], tmp_path / "modules")
    assert sorted(m for m in NOT_LOADED if m in modules) == []
    assert "ociruntime.linux.attributes" in modules  # the example config sets rlimits


def test_exec_loads_only_what_the_process_uses(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "--detach", "--bundle", str(bundle.path), cid, stdin=devnull())
    try:
        modules = modules_of(runtime, ["exec", cid, "true"], tmp_path / "modules")
    finally:
        runtime.ok("delete", "--force", cid)
    assert sorted(m for m in NOT_LOADED if m in modules) == []
    # exec does not load what only create needs.
    assert not {"ociruntime.container.create", "ociruntime.process.init", "ociruntime.linux.rootfs"} & modules
