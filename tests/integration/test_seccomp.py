"""Seccomp in real containers: each action's effect on a real syscall, argument conditions, flags, the
engines' default profiles, and a notify listener that receives the fd and answers."""

from __future__ import annotations

import copy
import errno
import json
import os
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

ENGINE_CONFIGS = Path(__file__).resolve().parents[1] / "fixtures" / "engine-configs"
MKDIRS = ["mkdir", "mkdirat"]
SIGSYS_EXIT = 128 + 31


def run(runtime: Runtime, make_bundle: BundleFactory, script: str, seccomp: dict[str, Any] | None, **process: Any):
    bundle = make_bundle(["sh", "-c", script])
    if seccomp is not None:
        bundle.config["linux"]["seccomp"] = seccomp
    bundle.config["process"].update(process)
    bundle.write()
    return runtime("run", "-b", str(bundle.path), new_id())


def rule(action: str, names: list[str] = MKDIRS, **extra: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": names, "action": action, **extra}]}


# Each probe makes the syscall in a forked child (a subshell), so a killing action ends the child only.
PROBE = "(mkdir /dev/probe); echo rc=$?; ls -d /dev/probe 2>/dev/null || echo absent"


def test_without_filter_the_probe_succeeds(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    result = run(runtime, make_bundle, PROBE, None)
    assert result.stdout == "rc=0\n/dev/probe\n", result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, os.strerror(errno.EPERM)),
        ({"errnoRet": errno.ENOMSG}, os.strerror(errno.ENOMSG)),
        ({"errnoRet": errno.EROFS}, os.strerror(errno.EROFS)),
    ],
)
def test_errno_action_returns_the_errno(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, extra: dict[str, Any], message: str
) -> None:
    result = run(runtime, make_bundle, PROBE, rule("SCMP_ACT_ERRNO", **extra))
    assert result.stdout == "rc=1\nabsent\n"
    assert message in result.stderr


def test_default_errno_ret(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # Everything but mkdir allowed; mkdir falls to the default action with errno 38.
    seccomp = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOSYS,
        "syscalls": [{"names": MKDIRS, "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}],
    }
    allow_all = _all_syscalls_but(MKDIRS)
    seccomp["syscalls"].append({"names": allow_all, "action": "SCMP_ACT_ALLOW"})
    result = run(runtime, make_bundle, PROBE, seccomp)
    assert result.stdout == "rc=1\nabsent\n", result.stderr
    assert os.strerror(errno.ENOSYS) in result.stderr


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_killing_actions_end_the_process_with_sigsys(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, action: str
) -> None:
    result = run(runtime, make_bundle, PROBE, rule(action))
    assert result.stdout == f"rc={SIGSYS_EXIT}\nabsent\n", result.stderr


def test_kill_as_pid1_gives_run_status_159(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["mkdir", "/dev/probe"])
    bundle.config["linux"]["seccomp"] = rule("SCMP_ACT_KILL_PROCESS")
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.returncode == SIGSYS_EXIT


def test_trace_without_tracer_fails_with_enosys(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    result = run(runtime, make_bundle, PROBE, rule("SCMP_ACT_TRACE", errnoRet=7))
    assert result.stdout == "rc=1\nabsent\n"
    assert os.strerror(errno.ENOSYS) in result.stderr


def test_log_lets_the_syscall_run(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    script = PROBE + "; grep -E '^Seccomp(_filters)?:' /proc/self/status"
    result = run(runtime, make_bundle, script, rule("SCMP_ACT_LOG"))
    assert result.stdout == "rc=0\n/dev/probe\nSeccomp:\t2\nSeccomp_filters:\t1\n", result.stderr


def test_allow_rule_overrides_errno_default(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": _all_syscalls_but([]), "action": "SCMP_ACT_ALLOW"}],
    }
    result = run(runtime, make_bundle, PROBE, seccomp)
    assert result.stdout == "rc=0\n/dev/probe\n", result.stderr


# --- argument conditions ---------------------------------------------------------------------------

MODE_PROBE = "mkdir /dev/probe; (chmod {mode} /dev/probe); echo rc=$?"
CHMODS = [("chmod", 1), ("fchmodat", 2)]


def mode_rule(op: str, value: int, value_two: int | None = None) -> dict[str, Any]:
    """ERRNO for chmod(path, mode) / fchmodat(dirfd, path, mode) when the mode condition holds."""

    def arg(index: int) -> dict[str, Any]:
        doc = {"index": index, "value": value, "op": op}
        if value_two is not None:
            doc["valueTwo"] = value_two
        return doc

    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM, "args": [arg(index)]}
            for name, index in CHMODS
        ],
    }


@pytest.mark.parametrize(
    ("op", "value", "value_two", "blocked", "allowed"),
    [
        ("SCMP_CMP_EQ", 0o700, None, "700", "755"),
        ("SCMP_CMP_NE", 0o755, None, "700", "755"),
        ("SCMP_CMP_LT", 0o750, None, "700", "755"),
        ("SCMP_CMP_LE", 0o700, None, "700", "711"),
        ("SCMP_CMP_GT", 0o750, None, "755", "700"),
        ("SCMP_CMP_GE", 0o755, None, "755", "711"),
        # value is the mask, valueTwo the datum: no group or other bits at all.
        ("SCMP_CMP_MASKED_EQ", 0o077, 0, "700", "755"),
    ],
)
def test_argument_conditions(
    runtime: Runtime,
    make_bundle: BundleFactory,
    no_trace: None,
    op: str,
    value: int,
    value_two: int | None,
    blocked: str,
    allowed: str,
) -> None:
    seccomp = mode_rule(op, value, value_two)
    result = run(runtime, make_bundle, MODE_PROBE.format(mode=blocked), seccomp)
    assert result.stdout == "rc=1\n" and os.strerror(errno.EDOM) in result.stderr, (result.stdout, result.stderr)
    result = run(runtime, make_bundle, MODE_PROBE.format(mode=allowed), seccomp)
    assert result.stdout == "rc=0\n", result.stderr


def two_arg_rule(path_condition_holds: bool) -> dict[str, Any]:
    """chmod(path, mode) blocked when mode == 0700 AND a condition on the path pointer holds.

    The path pointer is never NULL: `!= 0` always holds, `== 0` never does."""
    path_arg = {"index": 0, "value": 0, "op": "SCMP_CMP_NE" if path_condition_holds else "SCMP_CMP_EQ"}
    mode_arg = {"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM, "args": [path_arg, mode_arg]}
        ],
    }


def test_conditions_on_two_args_must_all_hold(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    assert run(runtime, make_bundle, MODE_PROBE.format(mode="700"), two_arg_rule(True)).stdout == "rc=1\n"
    assert run(runtime, make_bundle, MODE_PROBE.format(mode="755"), two_arg_rule(True)).stdout == "rc=0\n"
    # One condition false: the rule does not match, whatever the other says.
    assert run(runtime, make_bundle, MODE_PROBE.format(mode="700"), two_arg_rule(False)).stdout == "rc=0\n"


def test_repeated_index_rules_are_ored(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # runc's split: the same index twice means either condition blocks (700 and 711 blocked, 755 not).
    args1 = [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0o711, "op": "SCMP_CMP_EQ"}]
    args2 = [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 0o711, "op": "SCMP_CMP_EQ"}]
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": args1},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": args2},
        ],
    }
    for mode, expected in (("700", "rc=1\n"), ("711", "rc=1\n"), ("755", "rc=0\n")):
        assert run(runtime, make_bundle, MODE_PROBE.format(mode=mode), seccomp).stdout == expected, mode


# --- flags, architectures, status ------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        ["SECCOMP_FILTER_FLAG_TSYNC"],
        ["SECCOMP_FILTER_FLAG_LOG"],
        ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    ],
)
def test_flags_load(runtime: Runtime, make_bundle: BundleFactory, no_trace: None, flags: list[str]) -> None:
    seccomp = {**rule("SCMP_ACT_ERRNO"), "flags": flags, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]}
    result = run(runtime, make_bundle, PROBE, seccomp)
    assert result.stdout == "rc=1\nabsent\n", result.stderr


def test_unknown_syscall_names_are_skipped(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    result = run(runtime, make_bundle, PROBE, rule("SCMP_ACT_ERRNO", names=["no_such_syscall", *MKDIRS]))
    assert result.stdout == "rc=1\nabsent\n", result.stderr


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_status_shows_filter_and_nnp(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, no_new_privileges: bool
) -> None:
    result = run(
        runtime,
        make_bundle,
        "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status",
        rule("SCMP_ACT_ERRNO"),
        noNewPrivileges=no_new_privileges,
    )
    assert result.stdout == f"NoNewPrivs:\t{int(no_new_privileges)}\nSeccomp:\t2\nSeccomp_filters:\t1\n", result.stderr


def test_bad_filter_fails_create_and_leaves_nothing(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["true"])
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_M68K"]}
    bundle.write()
    result = runtime("create", "-b", str(bundle.path), new_id())
    assert result.returncode == 1
    assert "SCMP_ARCH_M68K" in result.stderr
    assert runtime.container_dirs() == []


# --- the engines' default profiles -----------------------------------------------------------------


def engine_seccomp(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((ENGINE_CONFIGS / name).read_text())["linux"]["seccomp"])


SYS_ADMIN_CAPS = {k: ["CAP_SYS_ADMIN", "CAP_AUDIT_WRITE", "CAP_KILL"] for k in ("bounding", "effective", "permitted")}
SWAPOFF = "id -u; ls / >/dev/null && echo listed; " + PROBE + "; swapoff /dev/probe; echo swapoff=$?"


def test_swapoff_probe_without_filter(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    # With CAP_SYS_ADMIN the kernel itself answers (EISDIR: not a swap device): EPERM below is the filter's.
    result = run(runtime, make_bundle, SWAPOFF, None, capabilities=SYS_ADMIN_CAPS)
    assert result.stdout == "0\nlisted\nrc=0\n/dev/probe\nswapoff=1\n", result.stderr
    assert os.strerror(errno.EISDIR) in result.stderr


@pytest.mark.parametrize("config", ["docker-create-1.json", "podman-create-1.json"])
def test_engine_default_profiles(runtime: Runtime, make_bundle: BundleFactory, no_trace: None, config: str) -> None:
    result = run(
        runtime, make_bundle, SWAPOFF, engine_seccomp(config), noNewPrivileges=False, capabilities=SYS_ADMIN_CAPS
    )
    assert result.stdout == "0\nlisted\nrc=0\n/dev/probe\nswapoff=1\n", result.stderr
    assert os.strerror(errno.EPERM) in result.stderr


# --- SCMP_ACT_NOTIFY -------------------------------------------------------------------------------

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_SIZE = 80  # struct seccomp_notif: id u64, pid u32, flags u32, seccomp_data (nr i32, arch u32, ip u64, args[6])


class Agent:
    """A seccomp agent: receives the container process state and the fd, then answers notifications.

    chmod to 0700 fails with EDOM (answered by the agent), anything else continues."""

    def __init__(self, path: str) -> None:
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.state: dict[str, Any] = {}
        self.fds_received = 0
        self.answered: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import fcntl

        try:
            conn, _ = self.server.accept()
            with conn:
                msg, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
                self.state = json.loads(msg)
                self.fds_received = len(fds)
                assert conn.recv(1) == b""  # the runtime closes the connection after one state
            notify_fd = fds[0]
            while True:
                buf = bytearray(NOTIF_SIZE)
                try:
                    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, buf)
                except OSError:
                    break  # the filter's last process is gone
                notif_id, _pid, _flags, nr = struct.unpack_from("=QIIi", buf)
                args = struct.unpack_from("=6Q", buf, 32)
                mode = args[1] if nr == 90 else args[2]  # chmod(path, mode), fchmodat(fd, path, mode)
                if mode == 0o700:
                    resp = struct.pack("=QqiI", notif_id, 0, -errno.EDOM, 0)
                else:
                    resp = struct.pack("=QqiI", notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
                self.answered.append(mode)
                fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, resp)
            os.close(notify_fd)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def close(self) -> None:
        self.server.close()


@pytest.mark.parametrize("no_new_privileges", [True, False])
def test_notify_listener_receives_fd_and_answers(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, tmp_path: Path, no_new_privileges: bool
) -> None:
    agent = Agent(str(tmp_path / "agent.sock"))
    try:
        seccomp = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": str(tmp_path / "agent.sock"),
            "listenerMetadata": "probe=mkdir",
            "syscalls": [{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_NOTIFY"}],
        }
        script = "mkdir /dev/p; (chmod 700 /dev/p); echo a=$?; (chmod 755 /dev/p); echo b=$?"
        bundle = make_bundle(["sh", "-c", script], annotations={"k": "v"})
        bundle.config["linux"]["seccomp"] = seccomp
        bundle.config["process"]["noNewPrivileges"] = no_new_privileges
        bundle.write()
        cid = new_id()
        runtime.ok("create", "-b", str(bundle.path), cid)
        init_pid = runtime.state(cid)["pid"]
        runtime.ok("start", cid)
        agent.thread.join(10)
        runtime("delete", "--force", cid)
    finally:
        agent.close()
    assert agent.error is None, agent.error
    assert agent.fds_received == 1
    assert agent.state["fds"] == ["seccompFd"]
    assert agent.state["metadata"] == "probe=mkdir"
    assert agent.state["pid"] == init_pid == agent.state["state"]["pid"]
    assert agent.state["state"]["id"] == cid
    assert agent.state["state"]["annotations"] == {"k": "v"}
    assert agent.answered == [0o700, 0o755]


def test_notify_without_listener_fails_create(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["true"])
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/nonexistent/agent.sock",
        "syscalls": [{"names": MKDIRS, "action": "SCMP_ACT_NOTIFY"}],
    }
    bundle.write()
    result = runtime("create", "-b", str(bundle.path), new_id())
    assert result.returncode == 1
    assert "/nonexistent/agent.sock" in result.stderr


def _all_syscalls_but(excluded: list[str]) -> list[str]:
    """Every syscall name this libseccomp knows on x86_64 (by number), minus `excluded`."""
    import seccomp as libseccomp

    names = []
    for number in range(0, 460):
        try:
            name = libseccomp.resolve_syscall(libseccomp.Arch.NATIVE, number)
        except (ValueError, RuntimeError, TypeError):
            continue
        if name:
            text = name.decode() if isinstance(name, bytes) else str(name)
            if text not in excluded:
                names.append(text)
    return names
