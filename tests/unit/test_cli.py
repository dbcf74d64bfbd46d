"""The command line (ociruntime.cli.main.main) in-process with a tmp --root: exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ociruntime.cli.main import main
from ociruntime.spec.schema import validate_config
from ociruntime.spec.semantic import check_config
from ociruntime.state.status import Phase
from ociruntime.state.store import Record, Store

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z")


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def stopped_container(root: str, container_id: str = "c1") -> None:
    store = Store(root)
    store.make_container_dir(container_id)
    store.save(
        Record(
            id=container_id,
            bundle="/b",
            rootfs="/b/rootfs",
            created="2024-01-01T00:00:00.000000000Z",
            owner="",
            phase=Phase.RUNNING,
            pid=0,
        )
    )


# --- version -------------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    code, out, err = run(capsys, flag)
    assert code == 0
    assert err == []
    lines = out.split("\n")
    assert len(lines) == 4 and lines[3] == ""
    assert lines[0] == "ociruntime version 0.1.0"
    assert re.fullmatch(r"commit: (unknown|[0-9a-f]{1,12}|\S+)", lines[1]), lines[1]
    assert lines[2] == "spec: 1.3.0"


# --- state / delete / kill on a missing container ----------------------------------------------------


def test_state_missing(capsys: pytest.CaptureFixture[str], root: str) -> None:
    code, out, err = run(capsys, "--root", root, "state", "nosuch")
    assert code == 1
    assert out == ""
    assert err == ["ociruntime: container does not exist"]


def test_state_invalid_id(capsys: pytest.CaptureFixture[str], root: str) -> None:
    code, out, err = run(capsys, "--root", root, "state", "../x")
    assert code == 1
    assert len(err) == 1 and err[0].startswith("ociruntime: invalid container id '../x'")


def test_delete_force_missing(capsys: pytest.CaptureFixture[str], root: str) -> None:
    assert run(capsys, "--root", root, "delete", "--force", "nosuch") == (0, "", [])


def test_delete_missing_without_force(capsys: pytest.CaptureFixture[str], root: str) -> None:
    assert run(capsys, "--root", root, "delete", "nosuch") == (1, "", ["ociruntime: container does not exist"])


def test_kill_bad_signal_unknown_id(capsys: pytest.CaptureFixture[str], root: str) -> None:
    code, out, err = run(capsys, "--root", root, "kill", "x", "FOO")
    assert code == 1
    assert out == ""
    assert len(err) == 1 and err[0].startswith("ociruntime: ")


def test_kill_unknown_id(capsys: pytest.CaptureFixture[str], root: str) -> None:
    assert run(capsys, "--root", root, "kill", "nosuch", "KILL") == (1, "", ["ociruntime: container does not exist"])


def test_kill_stopped_container(capsys: pytest.CaptureFixture[str], root: str) -> None:
    stopped_container(root)
    assert run(capsys, "--root", root, "kill", "c1") == (1, "", ["ociruntime: container not running"])


# --- --log -----------------------------------------------------------------------------------------


def test_json_log_line(capsys: pytest.CaptureFixture[str], root: str, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    code, out, err = run(capsys, "--root", root, "--log", str(log), "--log-format", "json", "state", "nosuch")
    assert code == 1
    assert err == ["ociruntime: container does not exist"]
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert set(entry) == {"level", "msg", "time"}
    assert entry["level"] == "error"
    assert entry["msg"] == "container does not exist"
    assert TIME.fullmatch(entry["time"]), entry["time"]


def test_text_log_line(capsys: pytest.CaptureFixture[str], root: str, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    assert run(capsys, "--root", root, "--log", str(log), "state", "nosuch")[0] == 1
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r'time="[^"]+" level=error msg="container does not exist"', lines[0]), lines[0]


# --- list ------------------------------------------------------------------------------------------


def test_list_empty_table(capsys: pytest.CaptureFixture[str], root: str) -> None:
    code, out, err = run(capsys, "--root", root, "list")
    assert (code, err) == (0, [])
    assert out == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"


def test_list_empty_json(capsys: pytest.CaptureFixture[str], root: str) -> None:
    assert run(capsys, "--root", root, "list", "--format", "json") == (0, "null\n", [])


def test_list_empty_quiet(capsys: pytest.CaptureFixture[str], root: str) -> None:
    assert run(capsys, "--root", root, "list", "-q") == (0, "", [])


def test_list_one_stopped(capsys: pytest.CaptureFixture[str], root: str) -> None:
    stopped_container(root)
    code, out, _ = run(capsys, "--root", root, "list", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "ociVersion": "1.3.0",
            "id": "c1",
            "pid": 0,
            "status": "stopped",
            "bundle": "/b",
            "rootfs": "/b/rootfs",
            "created": "2024-01-01T00:00:00.000000000Z",
            "owner": "",
        }
    ]
    code, out, _ = run(capsys, "--root", root, "list")
    assert out.splitlines()[1] == "c1          0           stopped     /b          2024-01-01T00:00:00.000000000Z   "


# --- spec ------------------------------------------------------------------------------------------


def test_spec_writes_valid_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "spec", "-b", str(tmp_path)) == (0, "", [])
    doc = json.loads((tmp_path / "config.json").read_text())
    validate_config(doc)
    check_config(doc)
    assert "uidMappings" not in doc["linux"]


def test_spec_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "spec", "-b", str(tmp_path))[0] == 0
    before = (tmp_path / "config.json").read_text()
    code, out, err = run(capsys, "spec", "--bundle", str(tmp_path))
    assert code == 1
    assert out == ""
    assert err == [f"ociruntime: File {tmp_path}/config.json exists. Remove it first"]
    assert (tmp_path / "config.json").read_text() == before


def test_spec_rootless(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "spec", "--rootless", "-b", str(tmp_path))[0] == 0
    doc = json.loads((tmp_path / "config.json").read_text())
    validate_config(doc)
    check_config(doc, rootless=True)
    # The caller's own ids (runc's rule): the only ones an unprivileged user may map by itself.
    assert doc["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert doc["linux"]["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]


def test_spec_missing_bundle_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "spec", "-b", str(tmp_path / "nope"))
    assert code == 1
    assert len(err) == 1 and err[0].startswith(f"ociruntime: {tmp_path}/nope/config.json: ")


# --- usage errors ---------------------------------------------------------------------------------


def test_systemd_cgroup_is_refused(capsys: pytest.CaptureFixture[str], root: str, tmp_path: Path) -> None:
    code, out, err = run(capsys, "--root", root, "--systemd-cgroup", "create", "-b", str(tmp_path), "c1")
    assert (code, out) == (1, "")
    assert err == ["ociruntime: --systemd-cgroup: the systemd cgroup driver is not available; use cgroupfs"]
    assert not Path(root).exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["--no-such-flag", "list"],
        ["list", "--no-such-flag"],
        ["list", "--format", "yaml"],
        ["state"],
        ["kill"],
        ["--log-format", "xml", "list"],
        ["create", "--preserve-fds", "many", "c1"],
        [],
    ],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], root: str, argv: list[str]) -> None:
    code, out, err = run(capsys, "--root", root, *argv)
    assert code == 1
    assert out == ""
    assert len(err) == 1, err
    assert err[0].startswith("ociruntime: ")
    assert "Traceback" not in err[0]


def test_unknown_command_message(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate")
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("ociruntime: ")
    assert "unknown command 'frobnicate'" in err[0]


# --- --root spelling ----------------------------------------------------------------------------------


def test_root_flag_forms(capsys: pytest.CaptureFixture[str], root: str) -> None:
    stopped_container(root)
    code1, out1, err1 = run(capsys, f"--root={root}", "state", "c1")
    code2, out2, err2 = run(capsys, "--root", root, "state", "c1")
    assert (code1, err1) == (0, [])
    assert (code2, err2) == (0, [])
    assert out1 == out2
    doc = json.loads(out1)
    assert (doc["id"], doc["pid"], doc["status"]) == ("c1", 0, "stopped")


def test_root_flag_is_used(capsys: pytest.CaptureFixture[str], root: str, tmp_path: Path) -> None:
    stopped_container(root)
    other = str(tmp_path / "other")
    assert run(capsys, f"--root={other}", "state", "c1") == (1, "", ["ociruntime: container does not exist"])


def test_delete_stopped_container(capsys: pytest.CaptureFixture[str], root: str) -> None:
    stopped_container(root)
    assert run(capsys, "--root", root, "delete", "c1") == (0, "", [])
    assert run(capsys, "--root", root, "state", "c1")[0] == 1
