"""runtime-spec hooks on real containers, observed by a recorder (helpers/hook_recorder.py) that logs the
phase, its argv and env, the state it read on stdin, the namespaces it ran in and what the container's
process was executing at the time; the test appends its own markers to the same log between lifecycle
calls, so the log's line order is the order things happened in.

Note: runc 1.1 runs poststart hooks while `start` has not yet seen the program started (in fact from
its create-ish `start` path, before the program is known to have exec'd); we follow the spec (config.md
"poststart": called after the user-specified process is executed), which these tests check.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bundle, BundleFactory, Runtime, new_id
from tests.integration.helpers.common import HELPERS, devnull, one_line_failure, pid_alive, wait_status

pytestmark = pytest.mark.root

PYTHON = "/usr/bin/python3"
RECORDER = str(HELPERS / "hook_recorder.py")
HOST_PHASES = ("prestart", "createRuntime", "poststart", "poststop")


@dataclass
class HookBundle:
    bundle: Bundle
    log: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def phases(self) -> list[str]:
        return [r["phase"] for r in self.records()]

    def of(self, phase: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["phase"] == phase]

    def mark(self, what: str) -> None:
        with open(self.log, "a") as f:
            f.write(json.dumps({"phase": f"test:{what}", "time": time.monotonic()}) + "\n")


def recorder(
    phase: str,
    log: Path,
    *,
    exit: int = 0,
    stderr: str = "",
    sleep: float = 0,
    timeout: int | None = None,
    tag: str = "",
) -> dict[str, Any]:
    """A hook running the recorder through python3, so that argv[0] is ours to choose and observable."""
    env = [f"HOOK_PHASE={phase}{tag}", f"HOOK_LOG={log}", f"HOOK_EXIT={exit}"]
    if stderr:
        env.append(f"HOOK_STDERR={stderr}")
    if sleep:
        env.append(f"HOOK_SLEEP={sleep}")
    hook: dict[str, Any] = {"path": PYTHON, "args": [f"{phase}-argv0", RECORDER, "one", "two words", ""], "env": env}
    if timeout is not None:
        hook["timeout"] = timeout
    return hook


def start_container_hook(*, exit: int = 0, stderr: str = "") -> dict[str, Any]:
    env = [f"HOOK_EXIT={exit}"] + ([f"HOOK_STDERR={stderr}"] if stderr else [])
    return {"path": "/start-hook.sh", "args": ["/start-hook.sh", "arg"], "env": env}


def hook_bundle(
    make_bundle: BundleFactory, args: list[str], hooks: dict[str, list[dict[str, Any]]] | None = None, **kinds: Any
) -> HookBundle:
    """A bundle with its own rootfs copy (the startContainer script lives in it) and the host directory
    <bundle>/hooklog bind-mounted on /hooklog, where every hook appends to hooks.log.

    `hooks` as given, or built from `kinds`: phase=dict(exit=..., ...) for a recorder with those options."""
    bundle = make_bundle(args, copy_rootfs=True)
    logdir = bundle.path / "hooklog"
    logdir.mkdir()
    log = logdir / "hooks.log"
    shutil.copy(HELPERS / "start_container_hook.sh", bundle.rootfs / "start-hook.sh")
    (bundle.rootfs / "hooklog").mkdir(exist_ok=True)
    bundle.config["mounts"].append(
        {"destination": "/hooklog", "type": "bind", "source": str(logdir), "options": ["rbind", "rw"]}
    )
    bundle.config["annotations"] = {"org.example.hooks": "recorded"}
    if hooks is None:
        hooks = {}
        for phase, options in kinds.items():
            if phase == "startContainer":
                hooks[phase] = [start_container_hook(**options)]
            else:
                hooks[phase] = [recorder(phase, log, **options)]
    bundle.config["hooks"] = hooks
    return HookBundle(bundle.write(), log)


def all_six(log: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        "prestart": [recorder("prestart", log, tag="#1"), recorder("prestart", log, tag="#2")],
        "createRuntime": [recorder("createRuntime", log)],
        "createContainer": [recorder("createContainer", log)],
        "startContainer": [start_container_hook()],
        "poststart": [recorder("poststart", log)],
        "poststop": [recorder("poststop", log)],
    }


def host_ns(name: str) -> int:
    return os.stat(f"/proc/self/ns/{name}").st_ino


def create(runtime: Runtime, hb: HookBundle, cid: str) -> Any:
    return runtime("create", "-b", str(hb.bundle.path), cid, stdin=devnull())


# --- the happy path: order, namespaces, state, args and env ----------------------------------------------


@pytest.fixture
def lifecycle(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> dict[str, Any]:
    """create, start, kill, delete a container with a recorder for each of the six phases."""
    hb = hook_bundle(make_bundle, ["sleep", "100"])
    hb.bundle.config["hooks"] = all_six(hb.log)
    hb.bundle.write()
    cid = new_id()
    result = create(runtime, hb, cid)
    assert result.returncode == 0, result.stderr
    hb.mark("create returned")
    init_pid = runtime.state(cid)["pid"]
    init_ns = {name: os.stat(f"/proc/{init_pid}/ns/{name}").st_ino for name in ("mnt", "net", "pid", "uts", "ipc")}
    time.sleep(0.2)  # nothing runs before `start`
    hb.mark("before start")
    runtime.ok("start", cid)
    hb.mark("start returned")
    runtime.ok("kill", cid, "KILL")
    wait_status(runtime, cid, "stopped")
    hb.mark("stopped")
    runtime.ok("delete", cid)
    hb.mark("delete returned")
    return {"hb": hb, "cid": cid, "init_pid": init_pid, "init_ns": init_ns}


def test_hooks_run_in_lifecycle_order(lifecycle: dict[str, Any]) -> None:
    """prestart (in array order), createRuntime, createContainer all before `create` returns;
    startContainer and poststart only after `start`, poststart before `start` returns; poststop at delete."""
    assert lifecycle["hb"].phases() == [
        "prestart#1",
        "prestart#2",
        "createRuntime",
        "createContainer",
        "test:create returned",
        "test:before start",
        "startContainer",
        "poststart",
        "test:start returned",
        "test:stopped",
        "poststop",
        "test:delete returned",
    ]


def test_hooks_run_in_the_namespaces_the_spec_gives(lifecycle: dict[str, Any]) -> None:
    hb, init_ns = lifecycle["hb"], lifecycle["init_ns"]
    assert init_ns["mnt"] != host_ns("mnt") and init_ns["net"] != host_ns("net")
    for record in hb.records():
        phase = record["phase"].split("#")[0]
        if phase in HOST_PHASES:
            # By the runtime, in the runtime's namespaces.
            for name in ("mnt", "net", "pid", "uts", "ipc"):
                assert record["ns"][name] == host_ns(name), f"{phase}: {name} namespace is not the host's"
        elif phase == "createContainer":
            for name in ("mnt", "net", "pid", "uts", "ipc"):
                assert record["ns"][name] == init_ns[name], f"createContainer: {name} namespace is not the container's"
        elif phase == "startContainer":
            assert record["mnt"] == f"mnt:[{init_ns['mnt']}]"


def test_poststart_runs_after_the_program_was_executed(lifecycle: dict[str, Any]) -> None:
    """Each recorder looks at the state's pid: until `start`, that is still the runtime's init (python);
    at poststart it is the user program. runc 1.1 differs (see the module docstring); we follow the spec."""
    hb, init_pid = lifecycle["hb"], lifecycle["init_pid"]
    for phase in ("prestart#1", "createRuntime", "createContainer"):
        (record,) = hb.of(phase)
        assert record["target"]["cmdline"] != ["sleep", "100"]
        assert "python" in record["target"]["exe"]
    (start,) = hb.of("startContainer")
    assert "sleep" not in start["init_cmdline"], "startContainer ran after the program started"
    (poststart,) = hb.of("poststart")
    assert poststart["state"]["pid"] == init_pid
    assert poststart["target"]["cmdline"] == ["sleep", "100"]
    assert poststart["target"]["exe"].endswith("/bin/busybox")


def test_hooks_read_the_state_on_stdin(lifecycle: dict[str, Any]) -> None:
    hb, cid, init_pid = lifecycle["hb"], lifecycle["cid"], lifecycle["init_pid"]
    expected_status = {
        "prestart": "creating",
        "createRuntime": "creating",
        "createContainer": "creating",
        "poststart": "running",
        "poststop": "stopped",
    }
    for record in hb.records():
        phase = record["phase"].split("#")[0]
        if phase.startswith("test:") or phase == "startContainer":
            continue
        state = record["state"]
        assert isinstance(state, dict), f"{phase}: stdin was not JSON: {record['stdin']!r}"
        assert state["id"] == cid
        assert state["bundle"] == str(hb.bundle.path)
        assert state["annotations"] == {"org.example.hooks": "recorded"}
        assert state["ociVersion"]
        assert state["status"] == expected_status[phase], phase
        if phase != "poststop":
            assert state["pid"] == init_pid, phase


def test_start_container_hook_state_says_created(lifecycle: dict[str, Any]) -> None:
    """startContainer runs once `start` was called on a created container: the state it reads must be valid
    and say `created` (runc sets specs.StateCreated there too), with the container's pid."""
    (record,) = lifecycle["hb"].of("startContainer")
    state = record["state"]
    assert state["id"] == lifecycle["cid"] and state["pid"] == lifecycle["init_pid"]
    assert state["status"] == "created"


def test_hook_args_and_env_are_passed_exactly(lifecycle: dict[str, Any]) -> None:
    hb = lifecycle["hb"]
    for record in hb.records():
        phase = record["phase"]
        if phase.startswith("test:") or phase == "startContainer":
            continue
        base = phase.split("#")[0]
        assert record["argv"] == [f"{base}-argv0", RECORDER, "one", "two words", ""], phase
        assert record["env"] == [f"HOOK_PHASE={phase}", f"HOOK_LOG={hb.log}", "HOOK_EXIT=0"], phase
    (start,) = hb.of("startContainer")
    assert start["argv"] == "/start-hook.sh arg"


def test_hook_without_args_gets_its_path_as_argv0(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """No `args`: argv is just the path (the recorder is a #! script: the kernel puts the interpreter
    first); no `env`: an empty environment (the recorder then logs to <bundle>/hooks.log)."""
    hb = hook_bundle(make_bundle, ["true"], hooks={"prestart": [{"path": RECORDER}]})
    runtime.ok("run", "-b", str(hb.bundle.path), new_id(), stdin=devnull())
    (record,) = [json.loads(line) for line in (hb.bundle.path / "hooks.log").read_text().splitlines()]
    assert record["argv"] == [PYTHON, RECORDER]
    assert record["env"] == []


# --- failures, phase by phase -------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["prestart", "createRuntime", "createContainer"])
def test_create_phase_hook_failure_fails_create_and_runs_poststop(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, phase: str
) -> None:
    hb = hook_bundle(
        make_bundle, ["sleep", "100"], **{phase: {"exit": 3, "stderr": "hook says no"}}, poststop={}, startContainer={}
    )
    line = one_line_failure(create(runtime, hb, new_id()))
    assert phase in line and PYTHON in line
    assert "exit status 3" in line and "hook says no" in line
    assert hb.phases() == [phase, "poststop"]
    (failed,) = hb.of(phase)
    init_pid = failed["state"]["pid"]
    assert init_pid > 0 and not pid_alive(init_pid), "the container's init survived the failed create"
    assert runtime.container_dirs() == []


def test_missing_hook_program_fails_create(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    hb = hook_bundle(make_bundle, ["sleep", "100"], poststop={})
    hb.bundle.config["hooks"]["createRuntime"] = [{"path": "/no/such/hook", "args": ["hook"]}]
    hb.bundle.write()
    line = one_line_failure(create(runtime, hb, new_id()))
    assert "createRuntime" in line and "/no/such/hook" in line
    assert hb.phases() == ["poststop"]


def test_start_container_hook_failure_fails_start(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """startContainer fails: `start` reports it, the program never runs, the container ends stopped and
    the lifecycle continues at delete, which runs poststop."""
    hb = hook_bundle(
        make_bundle,
        ["sh", "-c", "echo ran > /hooklog/program-ran; exec sleep 100"],
        createContainer={},
        startContainer={"exit": 1, "stderr": "start hook refuses"},
        poststart={},
        poststop={},
    )
    cid = new_id()
    assert create(runtime, hb, cid).returncode == 0
    line = one_line_failure(runtime("start", cid))
    assert "startContainer" in line and "start hook refuses" in line, line
    time.sleep(0.3)
    assert not (hb.log.parent / "program-ran").exists(), "the program ran although startContainer failed"
    assert wait_status(runtime, cid, "stopped")["status"] == "stopped"
    assert "poststart" not in hb.phases()
    runtime.ok("delete", cid)
    assert hb.phases() == ["createContainer", "startContainer", "poststop"]


def test_start_container_hook_alone(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """The only hook is startContainer: it runs inside the container, then the program."""
    hb = hook_bundle(make_bundle, ["sh", "-c", "echo ran > /hooklog/program-ran"], startContainer={})
    result = runtime("run", "-b", str(hb.bundle.path), new_id(), stdin=devnull())
    assert result.returncode == 0, result.stderr
    assert hb.phases() == ["startContainer"]
    assert (hb.log.parent / "program-ran").read_text() == "ran\n"


def test_poststart_failure_is_an_error(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """runtime-spec v1.3.0 made a failing poststart hook an error (ChangeLog: "runtime: fail when a
    poststart hook fails", #1262): `start` fails, the container is stopped, delete runs poststop."""
    hb = hook_bundle(make_bundle, ["sleep", "100"], poststart={"exit": 2, "stderr": "poststart unhappy"})
    cid = new_id()
    runtime.ok("create", "-b", str(hb.bundle.path), cid, stdin=devnull())
    result = runtime("start", cid)
    assert result.returncode == 1
    assert "poststart" in result.stderr and "exit status 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", cid)


def test_poststop_failure_only_warns(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    hb = hook_bundle(make_bundle, ["true"], poststop={"exit": 5})
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(hb.bundle.path), cid, stdin=devnull())
    wait_status(runtime, cid, "stopped")
    result = runtime("delete", cid)
    assert result.returncode == 0, result.stderr
    assert "poststop" in result.stderr
    assert runtime("state", cid).returncode != 0
    assert hb.phases() == ["poststop"]


def test_poststart_failure_stops_at_the_failing_hook(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    """The first failing poststart hook ends `start` with an error: the hooks after it do not run."""
    hb = hook_bundle(make_bundle, ["sleep", "100"])
    hb.bundle.config["hooks"] = {
        "poststart": [recorder("poststart", hb.log, exit=1, tag="#1"), recorder("poststart", hb.log, tag="#2")]
    }
    hb.bundle.write()
    cid = new_id()
    assert runtime("run", "-d", "-b", str(hb.bundle.path), cid, stdin=devnull()).returncode == 1
    assert runtime("state", cid).returncode != 0  # run -d removes what it made when start fails
    assert hb.phases() == ["poststart#1"]


def test_poststop_failure_remaining_hooks_still_run(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    """runtime-spec: if any poststop hook fails, the runtime MUST log a warning, but the remaining hooks
    and lifecycle continue as if the hook had succeeded."""
    hb = hook_bundle(make_bundle, ["true"])
    hb.bundle.config["hooks"] = {
        "poststop": [recorder("poststop", hb.log, exit=1, tag="#1"), recorder("poststop", hb.log, tag="#2")]
    }
    hb.bundle.write()
    runtime.ok("run", "-b", str(hb.bundle.path), new_id(), stdin=devnull())
    assert hb.phases() == ["poststop#1", "poststop#2"]


@pytest.mark.parametrize("phase", ["prestart", "createContainer"])
def test_hook_timeout(runtime: Runtime, make_bundle: BundleFactory, no_trace: None, phase: str) -> None:
    hb = hook_bundle(make_bundle, ["sleep", "100"], **{phase: {"sleep": 10, "timeout": 1}}, poststop={})
    began = time.monotonic()
    line = one_line_failure(create(runtime, hb, new_id()))
    elapsed = time.monotonic() - began
    assert elapsed < 8, f"create took {elapsed:.1f}s: the timeout was not enforced"
    assert phase in line and "timed out" in line
    (record,) = hb.of(phase)
    assert not pid_alive(record["pid"]), "the timed-out hook process is still there"
    assert hb.phases() == [phase, "poststop"]


def test_poststart_timeout_is_an_error(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    hb = hook_bundle(make_bundle, ["sleep", "100"], poststart={"sleep": 10, "timeout": 1})
    cid = new_id()
    runtime.ok("create", "-b", str(hb.bundle.path), cid, stdin=devnull())
    result = runtime("start", cid)
    assert result.returncode == 1
    assert "timed out" in result.stderr
    (record,) = hb.of("poststart")
    assert not pid_alive(record["pid"])  # the hook was killed, not left behind
    assert runtime.state(cid)["status"] == "stopped"
    runtime.ok("delete", cid)
