"""create / start / state / kill / delete / run on real containers, observed from both sides."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root


def wait_status(runtime: Runtime, container_id: str, status: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = runtime.state(container_id)
        if state["status"] == status or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def test_program_does_not_run_before_start(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "echo started > /tmp/marker; sleep 100"], copy_rootfs=True)
    cid = new_id()
    runtime.ok("create", "--bundle", str(bundle.path), cid, stdin=open(os.devnull))
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["pid"] > 0
    time.sleep(0.2)
    assert not (bundle.rootfs / "tmp" / "marker").exists()
    runtime.ok("start", cid)
    deadline = time.monotonic() + 5
    while not (bundle.rootfs / "tmp" / "marker").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (bundle.rootfs / "tmp" / "marker").read_text() == "started\n"
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL")
    state = wait_status(runtime, cid, "stopped")
    assert state["status"] == "stopped" and state["pid"] == 0
    runtime.ok("delete", cid)
    assert runtime("state", cid).returncode != 0


def test_state_document(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"], annotations={"org.example.key": "value"})
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    state = runtime.state(cid)
    assert state["id"] == cid
    assert state["bundle"] == str(bundle.path)
    assert state["annotations"] == {"org.example.key": "value"}
    assert set(state) >= {"ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "owner"}
    # The pid is the host pid of the container's init: it exists and is PID 1 of its own namespace.
    status = Path(f"/proc/{state['pid']}/status").read_text()
    nspid = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()
    assert nspid[1] == str(state["pid"]) and nspid[-1] == "1"
    runtime.ok("delete", cid)


def test_run_exit_status_and_stdio(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "read line; echo got:$line; echo err >&2; exit 7"])
    result = runtime("run", "-b", str(bundle.path), new_id(), input=b"hello\n")
    assert result.returncode == 7
    assert result.stdout == "got:hello\n"
    assert "err\n" in result.stderr


def test_run_killed_by_signal_exits_128_plus_signal(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # PID 1 cannot SIGKILL itself from inside its namespace, so the signal comes from the host.
    import threading

    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    result: list[object] = []
    runner = threading.Thread(target=lambda: result.append(runtime("run", "-b", str(bundle.path), cid)))
    runner.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = runtime("state", cid)
        if probe.returncode == 0 and '"running"' in probe.stdout:
            break
        time.sleep(0.02)
    runtime.ok("kill", cid, "SIGKILL")
    runner.join(20)
    assert result and result[0].returncode == 128 + signal.SIGKILL  # type: ignore[attr-defined]


def test_pid_namespace_isolation(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"])
    result = runtime.ok("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    pid, count = result.stdout.split()
    assert pid == "1"
    assert int(count) <= 3  # sh, ls, grep: nothing of the host


def test_run_detach_and_kill_default_sigterm(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid)
    assert wait_status(runtime, cid, "stopped")["status"] == "stopped"
    runtime.ok("delete", cid)


def test_pid_file_has_init_host_pid(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    pid_file = tmp_path / "pid"
    runtime.ok("create", "-b", str(bundle.path), "--pid-file", str(pid_file), cid, stdin=open(os.devnull))
    assert int(pid_file.read_text()) == runtime.state(cid)["pid"]
    runtime.ok("delete", "--force", cid)


def test_delete_running_needs_force(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    pid = runtime.state(cid)["pid"]
    result = runtime("delete", cid)
    assert result.returncode == 1
    assert "not stopped" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert runtime.state(cid)["status"] == "running"
    runtime.ok("delete", "--force", cid)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def test_delete_created_container_without_force(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    runtime.ok("delete", cid)  # runc deletes a created container: its program never ran


def test_start_twice_is_an_error(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    runtime.ok("start", cid)
    again = runtime("start", cid)
    assert again.returncode == 1 and "running" in again.stderr
    runtime.ok("delete", "-f", cid)


def test_kill_created_container_with_sigterm(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    runtime.ok("kill", cid, "TERM")
    assert wait_status(runtime, cid, "stopped")["status"] == "stopped"
    assert runtime("start", cid).returncode == 1
    runtime.ok("delete", cid)


def test_list_formats(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    import json

    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    assert runtime.ok("list", "--format", "json").stdout.strip() == "null"
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    table = runtime.ok("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[:3] == [cid, str(runtime.state(cid)["pid"]), "created"]
    docs = json.loads(runtime.ok("list", "--format=json").stdout)
    assert [d["id"] for d in docs] == [cid] and docs[0]["status"] == "created"
    assert runtime.ok("list", "-q").stdout == cid + "\n"
    runtime.ok("delete", cid)


def test_stopped_state_survives_pid_reuse_check(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """A state whose init start time no longer matches is stopped, whatever now runs at that pid."""
    import marshal

    from ociruntime.state.store import STATE_FILE

    bundle = make_bundle(["sleep", "100"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    state_file = runtime.root / cid / STATE_FILE
    record = marshal.loads(state_file.read_bytes())
    record["init_start_time"] += 1  # as if the pid now belonged to a newer process
    state_file.write_bytes(marshal.dumps(record))
    assert runtime.state(cid)["status"] == "stopped"
    assert runtime("kill", cid, "KILL").stderr.strip().endswith("container not running")
    record["init_start_time"] -= 1
    state_file.write_bytes(marshal.dumps(record))
    runtime.ok("delete", "-f", cid)
