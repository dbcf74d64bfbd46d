"""`exec` on real containers: the new process is observed from the host (/proc/<pid>) and from inside.

Every exec'd process must look like the container's init: same namespaces, same cgroup, the configured
capabilities, user, cwd and environment, with stdio and the exit status passing through.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id
from tests.integration.helpers.common import (
    HELPERS,
    cgroup_procs,
    devnull,
    one_line_failure,
    pid_alive,
    proc_status,
    run_with_fds,
    wait_for,
    wait_status,
)

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")

# runtime-spec namespace type → /proc/<pid>/ns/ file name
NS_FILES = {
    "pid": "pid",
    "network": "net",
    "ipc": "ipc",
    "uts": "uts",
    "mount": "mnt",
    "cgroup": "cgroup",
    "user": "user",
    "time": "time",
}
CAP_SYS_ADMIN = 21


@dataclass
class Running:
    cid: str
    pid: int
    bundle: Bundle


def start_detached(runtime: Runtime, bundle: Bundle) -> Running:
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=devnull())
    return Running(cid, runtime.state(cid)["pid"], bundle)


@pytest.fixture
def running(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> Iterator[Running]:
    """A running `sleep 100` container (example config: pid, network, ipc, uts, mount, cgroup)."""
    container = start_detached(runtime, make_bundle(["sleep", "100"]))
    yield container
    runtime("delete", "--force", container.cid)


def exec_detached(runtime: Runtime, container: Running, tmp_path: Path, *args: str) -> int:
    """`exec -d --pid-file F ARGS...`; returns the exec'd process's host pid."""
    pid_file = tmp_path / f"exec-{new_id()}.pid"
    runtime.ok("exec", "-d", "--pid-file", str(pid_file), *args, stdin=devnull())
    return int(pid_file.read_text())


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- namespaces and cgroup ------------------------------------------------------------------------------


def userns_time_bundle(make_bundle: BundleFactory) -> Bundle:
    """Every namespace type, user and time included (container root = host root, the rest shifted)."""
    bundle = make_bundle(["sleep", "100"])
    bundle.config["linux"]["namespaces"] += [{"type": "user"}, {"type": "time"}]
    mapping = [{"containerID": 0, "hostID": 0, "size": 1}, {"containerID": 1, "hostID": 100001, "size": 65535}]
    bundle.config["linux"]["uidMappings"] = mapping
    bundle.config["linux"]["gidMappings"] = mapping
    return bundle.write()


@pytest.mark.parametrize("flavour", ["example", "user+time"])
def test_exec_joins_every_namespace_of_init(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None, flavour: str
) -> None:
    bundle = make_bundle(["sleep", "100"]) if flavour == "example" else userns_time_bundle(make_bundle)
    container = start_detached(runtime, bundle)
    try:
        pid = exec_detached(runtime, container, tmp_path, container.cid, "sleep", "100")
        types = [ns["type"] for ns in bundle.config["linux"]["namespaces"]]
        assert len(types) >= 6
        for ns_type in types:
            name = NS_FILES[ns_type]
            init_ns = os.readlink(f"/proc/{container.pid}/ns/{name}")
            assert init_ns != os.readlink(f"/proc/self/ns/{name}"), f"{name}: the container's is the host's"
            assert os.readlink(f"/proc/{pid}/ns/{name}") == init_ns, f"{name} namespace differs from init's"
        # The pid namespace is joined for real: the exec'd process has a pid in it (not 1: that is init).
        nspid = proc_status(pid)["NSpid"].split()
        assert len(nspid) == 2 and nspid[0] == str(pid) and nspid[1] not in ("1", str(pid))
    finally:
        runtime("delete", "--force", container.cid)


def test_exec_joins_init_cgroup(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    pid = exec_detached(runtime, running, tmp_path, running.cid, "sleep", "100")
    init_cgroups = Path(f"/proc/{running.pid}/cgroup").read_text()
    assert running.bundle.cgroup in init_cgroups
    assert Path(f"/proc/{pid}/cgroup").read_text() == init_cgroups
    assert cgroup_procs(running.bundle.cgroup) == {running.pid, pid}


# --- capabilities, user, cwd, env, args -----------------------------------------------------------------


def caps_of(pid: int) -> dict[str, int]:
    status = proc_status(pid)
    return {key: int(status[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_exec_capabilities_are_the_configured_ones(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    configured = running.bundle.config["process"]["capabilities"]
    expected = {"CAP_AUDIT_WRITE": 29, "CAP_KILL": 5, "CAP_NET_BIND_SERVICE": 10}
    assert sorted(configured["effective"]) == sorted(expected)
    mask = sum(1 << bit for bit in expected.values())
    plain = caps_of(exec_detached(runtime, running, tmp_path, running.cid, "sleep", "100"))
    assert plain["CapEff"] == mask and plain["CapBnd"] == mask and plain["CapPrm"] == mask
    assert caps_of(running.pid)["CapEff"] == mask  # init: the same
    added = caps_of(exec_detached(runtime, running, tmp_path, "-c", "CAP_SYS_ADMIN", running.cid, "sleep", "100"))
    assert added["CapEff"] == mask | 1 << CAP_SYS_ADMIN
    assert added["CapBnd"] == mask | 1 << CAP_SYS_ADMIN


def test_exec_no_new_privs_flag(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "100"])
    bundle.config["process"]["noNewPrivileges"] = False
    container = start_detached(runtime, bundle.write())
    try:
        assert proc_status(container.pid)["NoNewPrivs"] == "0"
        plain = exec_detached(runtime, container, tmp_path, container.cid, "sleep", "100")
        assert proc_status(plain)["NoNewPrivs"] == "0"
        flagged = exec_detached(runtime, container, tmp_path, "--no-new-privs", container.cid, "sleep", "100")
        assert proc_status(flagged)["NoNewPrivs"] == "1"
    finally:
        runtime("delete", "--force", container.cid)


def test_exec_user_and_additional_gids(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    pid = exec_detached(runtime, running, tmp_path, "-u", "1000:1000", "-g", "2000", running.cid, "sleep", "100")
    status = proc_status(pid)
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["1000"] * 4
    assert status["Groups"].split() == ["2000"]
    # A non-root user keeps no capabilities (no ambient set configured).
    assert caps_of(pid)["CapEff"] == 0
    out = runtime.ok(
        "exec", "-u", "1000:1000", "-g", "2000", running.cid, "sh", "-c", "id -u; id -g; id -G", stdin=devnull()
    ).stdout
    assert out.split() == ["1000", "1000", "1000", "2000"]


def test_exec_cwd_env_and_args(runtime: Runtime, running: Running) -> None:
    script = 'pwd; env | sort; printf "<%s>" "$@"'
    result = runtime.ok(
        "exec",
        "--cwd",
        "/proc",
        "-e",
        "TERM=dumb",
        "-e",
        "EXTRA=a b=c",
        running.cid,
        "sh",
        "-c",
        script,
        "zero",
        "one",
        "two words",
        "",
        "-e",
        stdin=devnull(),
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "/proc"
    env = [line for line in lines[1:-1] if not line.startswith(("PWD=", "SHLVL=", "_="))]
    # -e replaces TERM=xterm of the config rather than adding a second TERM; PATH comes from the config.
    assert env == sorted(
        ["EXTRA=a b=c", "HOME=/root", "PATH=" + running.bundle.config["process"]["env"][0][5:], "TERM=dumb"]
    )
    assert lines[-1] == "<one><two words><><-e>"


def test_exec_stdio_and_exit_code_pass_through(runtime: Runtime, running: Running) -> None:
    result = runtime(
        "exec",
        running.cid,
        "sh",
        "-c",
        "read a; read b; echo out:$a; echo err:$b >&2; exit 7",
        input=b"first\nsecond\n",
    )
    assert result.returncode == 7
    assert result.stdout == "out:first\n"
    assert result.stderr == "err:second\n"
    assert runtime("exec", running.cid, "true", stdin=devnull()).returncode == 0


def test_exec_killed_from_host_exits_128_plus_signal(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    pid_file = tmp_path / "fg.pid"
    cmd = [
        runtime.binary,
        "--root",
        str(runtime.root),
        "exec",
        "--pid-file",
        str(pid_file),
        running.cid,
        "sleep",
        "100",
    ]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the exec pid file")
            pid = int(pid_file.read_text())
            assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x00100\x00"
            os.kill(pid, signal.SIGKILL)
            assert proc.wait(20) == 128 + signal.SIGKILL
        finally:
            proc.kill()
            proc.wait()


def test_exec_forwards_signals_to_the_process(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    """A foreground exec is a signal proxy (as runc's): SIGTERM to the runtime reaches the process."""
    pid_file = tmp_path / "fg.pid"
    script = "trap 'echo got TERM; exit 42' TERM; while true; do sleep 0.05; done"
    cmd = [
        runtime.binary,
        "--root",
        str(runtime.root),
        "exec",
        "--pid-file",
        str(pid_file),
        running.cid,
        "sh",
        "-c",
        script,
    ]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), what="the exec pid file")
            time.sleep(0.2)  # the trap is set
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 42
            out.seek(0)
            assert out.read() == b"got TERM\n"
        finally:
            proc.kill()
            proc.wait()


# --- detach ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "exit_code", "signum"),
    [("sleep 0.3; exit 5", 5, None), ("exit 6", 6, None), ("sleep 0.3; kill -9 $$", None, signal.SIGKILL)],
    ids=["exits-later", "exits-at-once", "killed"],
)
def test_exec_detach_pid_file_process_is_waitable_by_the_subreaper(
    runtime: Runtime, running: Running, tmp_path: Path, script: str, exit_code: int | None, signum: int | None
) -> None:
    """The caller (a containerd shim, conmon) is a child subreaper: once `exec -d` returns, the exec'd
    process is its child (even one that exited before `exec` returned: its zombie is handed on) and it
    collects the exit status with waitpid()."""
    pid_file = tmp_path / "detached.pid"
    command = [
        runtime.binary,
        "--root",
        str(runtime.root),
        "exec",
        "-d",
        "--pid-file",
        str(pid_file),
        running.cid,
        "sh",
        "-c",
        script,
    ]
    with tempfile.TemporaryFile() as out:
        subprocess.run(
            [sys.executable, str(HELPERS / "subreaper.py"), str(pid_file), *command],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
        out.seek(0)
        text = out.read().decode()
    result = json.loads(text.strip().splitlines()[-1])
    assert result["command_rc"] == 0, text
    assert result["pid"] > 0 and result["pid"] != running.pid
    assert result["ppid"] == result["subreaper"]
    assert result["waited"] is True
    assert (result["exit"], result["signal"]) == (exit_code, signum)


# --- --process FILE ------------------------------------------------------------------------------------


def test_exec_process_file(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    process = {
        "terminal": False,
        "user": {"uid": 4, "gid": 5, "additionalGids": [6]},
        "args": ["sh", "-c", 'echo "$(id -u) $(id -g) $(id -G) $(pwd) $GREETING"; exit 3'],
        "env": ["PATH=/bin:/sbin", "GREETING=hello"],
        "cwd": "/etc",
    }
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(process))
    result = runtime("exec", "--process", str(process_file), running.cid, stdin=devnull())
    assert result.returncode == 3, result.stderr
    assert result.stdout.split() == ["4", "5", "5", "6", "/etc", "hello"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"args": "sh"}, "args"),
        ({"cwd": "relative/dir"}, "cwd"),
        ({"user": {"uid": "root", "gid": 0}}, "uid"),
    ],
)
def test_exec_invalid_process_file_fails_cleanly(
    runtime: Runtime, running: Running, tmp_path: Path, change: dict, field: str
) -> None:
    process = {"user": {"uid": 0, "gid": 0}, "args": ["sleep", "100"], "cwd": "/", **change}
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(process))
    line = one_line_failure(runtime("exec", "--process", str(process_file), running.cid, stdin=devnull()))
    assert field in line
    assert cgroup_procs(running.bundle.cgroup) == {running.pid}, "a process was left in the container"
    assert runtime.state(running.cid)["status"] == "running"


# --- status and lookup errors ----------------------------------------------------------------------------


def test_exec_into_stopped_container_names_the_status(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["sleep", "100"])
    container = start_detached(runtime, bundle)
    runtime.ok("kill", container.cid, "KILL")
    wait_status(runtime, container.cid, "stopped")
    line = one_line_failure(runtime("exec", container.cid, "true", stdin=devnull()))
    assert "stopped" in line
    runtime.ok("delete", container.cid)


def test_exec_into_created_container_is_allowed_as_with_runc(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    """runc 1.1 execs into a created (not started) container; so do we, and the init still waits."""
    bundle = make_bundle(["sh", "-c", "echo started; sleep 100"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=devnull())
    result = runtime("exec", cid, "sh", "-c", "echo $$ inside; cat /proc/1/cmdline | tr '\\0' ' '", stdin=devnull())
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.endswith(" inside") and first != "1 inside"
    # pid 1 still waits, as the exec stub (process/waiter.py) or the Python init: `sh` has not started
    assert second.startswith("ociwait ") or "python" in second, second
    assert runtime.state(cid)["status"] == "created"
    runtime.ok("delete", "--force", cid)
    if RUNC:
        runc_root = tmp_path / "runc-state"
        rid = new_id()
        base = [RUNC, "--root", str(runc_root)]
        run = subprocess.run
        with tempfile.TemporaryFile() as sink:
            assert (
                run(
                    [*base, "create", "-b", str(bundle.path), rid],
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=sink,
                    timeout=60,
                ).returncode
                == 0
            )
            try:
                oracle = run([*base, "exec", rid, "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                assert oracle.returncode == 0, oracle.stderr
            finally:
                run([*base, "delete", "--force", rid], capture_output=True, timeout=60)


def test_exec_unknown_container(runtime: Runtime, no_trace: None) -> None:
    line = one_line_failure(runtime("exec", "no-such-container", "true", stdin=devnull()))
    assert "container does not exist" in line


def test_exec_missing_binary(runtime: Runtime, running: Running) -> None:
    line = one_line_failure(runtime("exec", running.cid, "no-such-program", stdin=devnull()))
    assert "executable file not found" in line
    assert cgroup_procs(running.bundle.cgroup) == {running.pid}
    line = one_line_failure(runtime("exec", running.cid, "/bin/no-such-program", stdin=devnull()))
    assert "executable file not found" in line


def test_exec_missing_cwd(runtime: Runtime, running: Running) -> None:
    line = one_line_failure(runtime("exec", "--cwd", "/no/such/dir", running.cid, "true", stdin=devnull()))
    assert "/no/such/dir" in line
    assert cgroup_procs(running.bundle.cgroup) == {running.pid}


# --- fds -------------------------------------------------------------------------------------------------


def test_exec_preserve_fds_passes_fd_3(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("passed through\n")
    with open(secret) as f:
        rc, out, err = run_with_fds(
            runtime, ["exec", "--preserve-fds", "1", running.cid, "sh", "-c", "cat <&3"], {3: f.fileno()}
        )
    assert (rc, out) == (0, "passed through\n"), err
    with open(secret) as f:
        rc, out, err = run_with_fds(runtime, ["exec", running.cid, "sh", "-c", "cat <&3"], {3: f.fileno()})
    assert rc != 0 and out == "", "fd 3 reached the process without --preserve-fds"


def test_exec_leaks_no_fds(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    """Only stdio reaches the program (ls itself opens fd 3 for /proc/self/fd), even when the caller
    hands the runtime extra fds."""
    extra = tmp_path / "extra"
    extra.write_text("x")
    with open(extra) as f:
        rc, out, err = run_with_fds(
            runtime, ["exec", running.cid, "ls", "/proc/self/fd"], {3: f.fileno(), 5: f.fileno()}
        )
    assert rc == 0, err
    assert out.split() == ["0", "1", "2", "3"]
    rc, out, err = run_with_fds(runtime, ["exec", "-d", running.cid, "sh", "-c", "sleep 100"], {})
    assert rc == 0, err
    pids = cgroup_procs(running.bundle.cgroup) - {running.pid}
    assert len(pids) == 1
    (pid,) = pids
    assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
    kill_pid(pid)
    wait_for(lambda: not pid_alive(pid), what="the detached exec to die")


# --- seccomp -------------------------------------------------------------------------------------------------


def test_exec_applies_the_container_seccomp_filter(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    bundle = make_bundle(["sleep", "100"])
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    container = start_detached(runtime, bundle.write())
    try:
        pid = exec_detached(runtime, container, tmp_path, container.cid, "sleep", "100")
        assert proc_status(pid)["Seccomp"] == "2"
        result = runtime("exec", container.cid, "mkdir", "/tmp/blocked", stdin=devnull())
        assert result.returncode != 0
        assert "Operation not permitted" in result.stderr
    finally:
        runtime("delete", "--force", container.cid)


# --- rlimits, paused, --cgroup -------------------------------------------------------------------------------


def test_exec_gets_the_configured_rlimits(runtime: Runtime, running: Running, tmp_path: Path) -> None:
    pid = exec_detached(runtime, running, tmp_path, running.cid, "sleep", "100")
    limits = Path(f"/proc/{pid}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert line.split()[3:5] == ["1024", "1024"]


def test_exec_into_paused_container_names_the_status(runtime: Runtime, running: Running) -> None:
    runtime.ok("pause", running.cid)
    try:
        line = one_line_failure(runtime("exec", running.cid, "true", stdin=devnull(), timeout=20))
        assert "paused" in line
    finally:
        runtime.ok("resume", running.cid)
    assert cgroup_procs(running.bundle.cgroup) == {running.pid}


def make_sub_cgroup(cgroup: str, name: str) -> list[Path]:
    """A child cgroup of the container's, in every hierarchy (cpuset needs its cpus and mems filled in)."""
    from tests.conftest import cgroup_dirs

    made = []
    for parent in cgroup_dirs(cgroup):
        child = parent / name
        child.mkdir()
        made.append(child)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (child / knob).exists():
                (child / knob).write_text((parent / knob).read_text())
    return made


def test_exec_into_sub_cgroup_and_delete_cleans_up(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path, no_trace: None
) -> None:
    container = start_detached(runtime, make_bundle(["sleep", "100"]))
    make_sub_cgroup(container.bundle.cgroup, "sub")
    pid = exec_detached(runtime, container, tmp_path, "--cgroup", "sub", container.cid, "sleep", "100")
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    assert lines and all(line.endswith(f"{container.bundle.cgroup}/sub") for line in lines if "::" not in line)
    runtime.ok("delete", "--force", container.cid)
    assert not pid_alive(pid)
    # no_trace then checks that no cgroup of the container is left: the sub-cgroup goes too, as with runc.
