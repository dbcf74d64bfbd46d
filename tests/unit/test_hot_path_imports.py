"""The commands engines call most (`state`, `kill`, `start`, `delete`, `list`) import no costly module.

Each call is a new interpreter, so every import is paid every time (issue #10; measured with
-X importtime: json 5.6 ms, dataclasses 10, typing 5.5, re 4.6, enum 3, signal 3, shutil 3). Each
command runs here in a fresh interpreter started as bin/ociruntime starts it (-I -S), on a stopped
container's record, and the modules it ended up with are checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ociruntime.state.status import Phase
from ociruntime.state.store import Record, Store

REPO = Path(__file__).resolve().parents[2]

COSTLY = (
    "json", "re", "enum", "signal", "typing", "dataclasses", "shutil", "contextlib", "collections",
    "functools", "inspect", "subprocess", "ctypes", "pathlib", "argparse", "tempfile", "jsonschema",
)  # fmt: skip

COMMANDS = [
    ["state", "c1"],
    ["kill", "c1", "0"],  # not running: the error line
    ["--log", "{log}", "--log-format", "json", "kill", "c1", "KILL"],  # and the JSON log line
    ["--log", "{log}", "kill", "c1", "SIGRTMIN+2"],
    ["start", "c1"],  # stopped: refused
    ["delete", "c1"],
    ["delete", "--force", "c1"],
    ["delete", "--force", "nosuch"],
    ["list"],
    ["list", "-q"],
]

_RUN = """
import sys
sys.path.insert(0, {repo!r})
from ociruntime.cli.main import main
code = main({argv!r})
print(code, ' '.join(sorted(sys.modules)))
"""


def run_command(argv: list[str]) -> tuple[int, set[str]]:
    code = _RUN.format(repo=str(REPO), argv=argv)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    exit_code, _, modules = result.stdout.splitlines()[-1].partition(" ")
    return int(exit_code), set(modules.split())


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_hot_command_imports_nothing_costly(argv: list[str], tmp_path: Path) -> None:
    store = Store(str(tmp_path / "root"))
    store.make_container_dir("c1")
    store.save(Record("c1", "/b", "/b/rootfs", "2024-01-02T03:04:05Z", "", Phase.RUNNING, config={"a": [1]}))
    log = tmp_path / "log"
    args = ["--root", store.root, *(a.replace("{log}", str(log)) for a in argv)]
    exit_code, modules = run_command(args)
    assert exit_code in (0, 1)
    costly = sorted(m for m in modules if m.split(".")[0] in COSTLY or m == "collections.abc")
    assert costly == [], f"{' '.join(argv)} imported {costly}"
    if "--log" in argv:
        assert log.read_text().count("\n") == 1  # the error was logged, by the json-free writer


def test_check_can_fail() -> None:
    """The same harness sees a costly import when there is one (`features` imports json)."""
    _, modules = run_command(["features"])
    assert "json" in modules and "re" in modules
