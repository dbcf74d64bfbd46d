"""What engines rely on, reproduced without an engine: quick to run, and they name the engine behind each.

These use the plain runtime fixtures of tests/conftest.py, no engine daemons.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root


def test_create_with_a_terminal_releases_the_callers_stdout(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path, no_trace: None  # type: ignore[no-untyped-def]
) -> None:
    """containerd's runc shim (go-runc cmdOutput) reads create's stdout+stderr pipe to end-of-file, and only
    then takes the pty master from the console socket and calls start: whoever keeps the pipe hangs it."""
    bundle = make_bundle(["true"])
    bundle.config["process"]["terminal"] = True
    bundle.write()
    path = tmp_path / "console.sock"
    with socket.socket(socket.AF_UNIX) as listener:  # like the shim: listen, accept only after create
        listener.bind(str(path))
        listener.listen(1)
        cid = new_id()
        cmd = [runtime.binary, "--root", str(runtime.root), "create", "--bundle", str(bundle.path),
               "--console-socket", str(path), cid]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            runtime("delete", "--force", cid)  # kills init, which holds the pipe
            proc.kill()
            proc.communicate()
            raise AssertionError("create's stdout still open 10 s after create (init holds it)") from None
        runtime("delete", "--force", cid)
        assert proc.returncode == 0, output
