"""Each engine runs busybox containers with ociruntime, driven the way its users drive it.

Every scenario runs under containerd (ctr), podman and docker. Where the engine's answer depends on the
runtime (a failing create), the same command is run with runc and the two answers are compared.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.engines.harness import Engine, cgroup_children, cgroup_file, mounts_below, new_id, processes_mentioning

pytestmark = [pytest.mark.root, pytest.mark.engines]

OCI = "ociruntime"
SLEEPER = ["sleep", "1000"]


def test_run_prints_output_and_returns_the_exit_code(engine: Engine) -> None:
    result = engine.run_fg(OCI, ["sh", "-c", "echo hello from $(hostname); exit 3"])
    assert result.returncode == 3, result
    assert "hello from" in result.stdout, result
    assert engine.run_fg(OCI, ["true"]).returncode == 0


def test_stdin_is_piped_into_the_container(engine: Engine) -> None:
    # one line, not to EOF: ctr never closes the container's stdin (with runc alike)
    result = engine.run_fg(OCI, ["sh", "-c", "read line; echo got:$line"], input=b"piped text\n")
    assert result.returncode == 0, result
    assert "got:piped text" in result.stdout, result


# containerd's runc shim reads what `create` writes on stdout/stderr until end-of-file (go-runc cmdOutput)
# before it takes the pty master from the console socket and only then calls `start`: init must have put
# the terminal over its stdio by then (test_engine_contracts.py checks that without an engine).


def test_terminal(engine: Engine, request: pytest.FixtureRequest) -> None:
    status, output = engine.run_tty(OCI, ["sh", "-c", "test -t 0 && test -t 1 && echo IS-A-TTY; tty; exit 4"])
    assert status == 4, output
    assert "IS-A-TTY" in output and "/dev/pts/" in output, output


def test_terminal_takes_keyboard_input(engine: Engine, request: pytest.FixtureRequest) -> None:
    status, output = engine.run_tty(OCI, ["sh"], input=b"echo typed-$((6*7)); exit 5\r")
    assert status == 5, output
    assert "typed-42" in output, output


def test_exec_with_and_without_terminal(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER)
    try:
        result = engine.exec(cid, ["sh", "-c", "echo in-exec; exit 6"])
        assert result.returncode == 6, result
        assert "in-exec" in result.stdout, result
        status, output = engine.exec_tty(cid, ["sh", "-c", "test -t 1 && echo EXEC-TTY; exit 7"])
        assert status == 7, output
        assert "EXEC-TTY" in output, output
    finally:
        engine.rm_force(cid)


def test_stop_sends_sigterm_then_sigkill_after_the_timeout(engine: Engine) -> None:
    trapper, stubborn = new_id(), new_id()
    engine.start(OCI, trapper, ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.1; done"])
    engine.start(OCI, stubborn, SLEEPER)  # PID 1 without a handler: SIGTERM is ignored
    try:
        assert engine.stop(trapper, timeout=20) == 3
        began = time.monotonic()
        assert engine.stop(stubborn, timeout=2) == 137
        assert time.monotonic() - began >= 1.5
    finally:
        engine.rm_force(trapper)
        engine.rm_force(stubborn)


def test_kill(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER)
    try:
        engine.kill(cid, "SIGKILL")
        assert engine.wait_exit(cid) == 137
    finally:
        engine.rm_force(cid)


def test_pause_and_unpause(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER)
    try:
        paused = engine.pause(cid)
        assert paused.returncode == 0, paused
        assert engine.status(cid) == "paused"
        freezer = cgroup_file(engine.init_pid(cid), "freezer", "freezer.state")
        assert freezer.read_text().strip() == "FROZEN"
        resumed = engine.unpause(cid)
        assert resumed.returncode == 0, resumed
        assert engine.status(cid) == "running"
    finally:
        engine.rm_force(cid)


def test_top_lists_the_container_processes(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER)
    try:
        result = engine.top(cid)
        assert result.returncode == 0, result
        assert "sleep" in result.stdout or str(engine.init_pid(cid)) in result.stdout, result
    finally:
        engine.rm_force(cid)


@pytest.mark.parametrize("engine", ["podman", "docker"], indirect=True)  # ctr 1.6 has no update command
def test_update_memory_and_cpu(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER, ["--memory", "128m", "--cpus", "1"])
    try:
        result = engine.update(cid, 64 * 1024 * 1024, 0.5)
        assert result.returncode == 0, result
        pid = engine.init_pid(cid)
        assert cgroup_file(pid, "memory", "memory.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
        quota = int(cgroup_file(pid, "cpu", "cpu.cfs_quota_us").read_text())
        period = int(cgroup_file(pid, "cpu", "cpu.cfs_period_us").read_text())
        assert quota / period == pytest.approx(0.5)
    finally:
        engine.rm_force(cid)


def test_rm_force_of_a_running_container(engine: Engine) -> None:
    cid = new_id()
    engine.start(OCI, cid, SLEEPER)
    pid = engine.init_pid(cid)
    result = engine.rm_force(cid)
    assert result.returncode == 0, result
    assert not engine.exists(cid)
    assert not os.path.exists(f"/proc/{pid}") or "Z" in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_failing_create_reaches_the_user_as_with_runc(engine: Engine) -> None:
    ours = engine.run_fg(OCI, ["nosuchbinary"])
    reference = engine.run_fg("runc", ["nosuchbinary"])
    assert reference.returncode != 0 and "executable file not found" in reference.stderr, reference
    assert ours.returncode == reference.returncode, (ours, reference)
    assert "executable file not found" in ours.stderr, ours
    assert "nosuchbinary" in ours.stderr, ours


def test_read_only_root(engine: Engine) -> None:
    result = engine.run_fg(OCI, ["sh", "-c", "touch /x; echo status=$?"], ["--read-only"])
    assert "Read-only file system" in result.stdout + result.stderr, result
    assert "status=1" in result.stdout, result


def test_env_user_and_workdir(engine: Engine) -> None:
    probe = ["sh", "-c", 'echo "foo=$FOO uid=$(id -u) gid=$(id -g) cwd=$(pwd)"']
    if engine.name == "containerd":  # ctr run has no --user; ctr task exec has
        result = engine.run_fg(OCI, probe, ["--env", "FOO=bar", "--cwd", "/tmp"])
        assert "foo=bar uid=0 gid=0 cwd=/tmp" in result.stdout, result
        cid = new_id()
        engine.start(OCI, cid, SLEEPER)
        try:
            result = engine.exec(cid, probe, ["--user", "1000:1000", "--cwd", "/home/user"])
        finally:
            engine.rm_force(cid)
        assert "uid=1000 gid=1000 cwd=/home/user" in result.stdout, result
        return
    result = engine.run_fg(OCI, probe, ["-e", "FOO=bar", "-u", "1000:1000", "-w", "/tmp"])
    assert result.returncode == 0, result
    assert "foo=bar uid=1000 gid=1000 cwd=/tmp" in result.stdout, result


def test_twenty_containers_in_a_row_leave_nothing_behind(engine: Engine) -> None:
    mounts_before = set(mounts_below(engine.work))
    cgroups_before = set(cgroup_children(engine.cgroup_parent))
    state_before = engine.runtime_state_dirs()
    ids = [new_id() for _ in range(20)]
    for n, cid in enumerate(ids):
        result = engine.run_fg(OCI, ["echo", f"run-{n}"], cid=cid)
        assert result.returncode == 0 and f"run-{n}" in result.stdout, result
    assert any(root.is_dir() for root in engine.runtime_roots()), "the runtime root is elsewhere: fix the harness"
    assert engine.runtime_state_dirs() - state_before == set(), "runtime state directories left behind"
    assert [c for c in cgroup_children(engine.cgroup_parent) if c not in cgroups_before] == []
    assert set(mounts_below(engine.work)) == mounts_before
    assert [p for cid in ids for p in processes_mentioning(cid)] == []
    assert not any(engine.exists(cid) for cid in ids)
