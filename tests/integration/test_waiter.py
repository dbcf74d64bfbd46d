"""A created container waits for `start` in the exec stub (process/waiter.py), observed from the host:
what the waiting process is, who it already is, where failures surface, and when the Python init
keeps waiting instead."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id
from tests.integration.helpers.common import proc_status

# The stub is x86-64 code; elsewhere the Python init waits and these tests do not apply.
pytestmark = [pytest.mark.root, pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 stub")]

STUB_EXE = "/memfd:ociruntime-exec"


def create(runtime: Runtime, bundle: Bundle) -> tuple[str, int]:
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    return cid, runtime.state(cid)["pid"]


def test_the_waiting_process_is_the_stub_not_an_interpreter(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    cid, pid = create(runtime, make_bundle(["true"]))
    exe = os.readlink(f"/proc/{pid}/exe")
    maps = Path(f"/proc/{pid}/maps").read_text()
    rss_kb = int(proc_status(pid)["VmRSS"].split()[0])
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    runtime.ok("delete", "--force", cid)
    assert exe.startswith(STUB_EXE), exe
    assert "python" not in maps and ".so" not in maps, maps  # nothing but the stub, its stack, vdso
    assert rss_kb < 512, rss_kb
    assert cmdline[0] == b"ociwait" and cmdline[4:6] == [b"/bin/true", b"true"], cmdline


def test_the_waiting_process_already_is_the_configured_user(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, tmp_path: Path
) -> None:
    # runc's order: user, groups, capabilities and no_new_privs are set before the wait.
    bundle = make_bundle(["sh", "-c", "grep -E '^(Uid|Gid|Groups|CapEff|CapBnd|NoNewPrivs):' /proc/self/status"])
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [1002]}
    # Ambient too: a non-root user keeps capabilities across execve (the stub's, then the program's)
    # only through the ambient set. CAP_DAC_OVERRIDE, which init lowers from its effective set just
    # for the stub's execve, must be back in the stub's and the program's.
    sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
    bundle.config["process"]["capabilities"] = {k: ["CAP_KILL", "CAP_DAC_OVERRIDE"] for k in sets}
    bundle.write()
    cid, pid = create(runtime, bundle)
    waiting = proc_status(pid)
    runtime.ok("delete", "--force", cid)
    assert waiting["Uid"].split() == ["1000"] * 4 and waiting["Gid"].split() == ["1001"] * 4
    assert waiting["Groups"].split() == ["1002"]
    kill_and_dac = 1 << 5 | 1 << 1  # CAP_KILL, CAP_DAC_OVERRIDE
    assert int(waiting["CapEff"], 16) == kill_and_dac and int(waiting["CapBnd"], 16) == kill_and_dac
    assert waiting["NoNewPrivs"] == "1"
    # and the program, once started, is the same
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    seen = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert seen["Uid"].split() == ["1000"] * 4 and int(seen["CapEff"], 16) == kill_and_dac, result.stdout


def test_a_failure_before_the_wait_fails_create_and_leaves_nothing(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # The cwd exists but the configured user may not enter it: chdir fails in init after the switch of
    # user, after READY but before the stub, so `create` reports it (as runc's does), not `start`.
    bundle = make_bundle(["true"], copy_rootfs=True)
    private = bundle.rootfs / "private"
    private.mkdir(mode=0o700)
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["cwd"] = "/private"
    bundle.write()
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cwd" in lines[0] and "Permission denied" in lines[0], result.stderr
    assert runtime("state", cid).returncode != 0


def test_an_exec_failure_after_start_is_the_error_of_start(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # Found at create (a regular, executable file), refused by execve at start: the stub reports it.
    bundle = make_bundle(["/not-an-elf"], copy_rootfs=True)
    program = bundle.rootfs / "not-an-elf"
    program.write_bytes(b"\x7fELF but not really\n")
    program.chmod(0o755)
    cid, pid = create(runtime, bundle)
    assert os.readlink(f"/proc/{pid}/exe").startswith(STUB_EXE)
    result = runtime("start", cid)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["ociruntime: exec: /not-an-elf: Exec format error"], result.stderr
    assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", cid)


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_the_stub_waits_under_the_filter(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, no_new_privileges: bool
) -> None:
    # Loaded before the stub's execve, as runc's init loads it before its wait: the stub is never
    # dumpable without it.
    seccomp: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}],
    }
    bundle = make_bundle(["sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/x 2>&1"])
    bundle.config["linux"]["seccomp"] = seccomp
    bundle.config["process"]["noNewPrivileges"] = no_new_privileges
    bundle.write()
    cid, pid = create(runtime, bundle)
    waiting = proc_status(pid)
    exe = os.readlink(f"/proc/{pid}/exe")
    runtime.ok("delete", "--force", cid)
    assert exe.startswith(STUB_EXE)
    assert (waiting["Seccomp"], waiting["NoNewPrivs"]) == ("2", str(int(no_new_privileges)))
    result = runtime("run", "-b", str(bundle.path), new_id(), stdin=open(os.devnull))
    assert result.stdout.split("\n")[0].split() == ["Seccomp:", "2"], result.stdout
    assert os.strerror(42) in result.stdout, result.stdout


def test_the_python_init_waits_where_the_stub_cannot(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # startContainer hooks run in init after `start`: the stub could not run them.
    bundle = make_bundle(["true"], hooks={"startContainer": [{"path": "/bin/true"}]})
    cid, pid = create(runtime, bundle)
    exe = os.readlink(f"/proc/{pid}/exe")
    runtime.ok("delete", "--force", cid)
    assert not exe.startswith(STUB_EXE) and "python" in exe, exe


def test_a_filter_refusing_the_stubs_syscalls_fails_create(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # The filter is on before the stub's execve (runc's order), so it judges the stub's set-up. A
    # profile refusing prctl stops the stub before it closes the channel: `create` fails, every time,
    # and nothing is left (runc, which makes no prctl after loading, would run this container).
    bundle = make_bundle(["true"])
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["prctl"], "action": "SCMP_ACT_ERRNO"}],
    }
    bundle.config["process"]["noNewPrivileges"] = True
    bundle.write()
    cid = new_id()
    result = runtime("create", "-b", str(bundle.path), cid, stdin=open(os.devnull))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "exited with status 127 before waiting for start" in lines[0], result.stderr
    assert runtime("state", cid).returncode != 0
