"""config.md POSIX-platform Hooks and runtime.md Lifecycle steps 3-13: when, where and with what hooks run.

Hooks record into a log directory that is bind-mounted into the container at its host path, so runtime-
namespace hooks (host scripts) and container-namespace hooks (a script inside the rootfs) write to one log.
Each line: phase, tag, the hook's mount namespace, the container process's root and cmdline (from the
state on stdin) and whether a host-only file was visible (before pivot_root it is).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from conformance.harness import Container, Ctx, check, expect, fail, processes_rooted_in

HOOK = """#!/bin/sh
# conformance hook: $1 phase, $2 tag, $3 log directory, $4 a path that exists only on the host
L=$3
cat > "$L/$1-$2.json"
pid=$(sed -n 's/.*"pid": *\\([0-9][0-9]*\\).*/\\1/p' "$L/$1-$2.json" | head -n 1)
root=$(readlink "/proc/$pid/root" 2>/dev/null)
cmd=$(tr '\\000' ' ' < "/proc/$pid/cmdline" 2>/dev/null)
hostonly=no
[ -e "$4" ] && hostonly=yes
echo "$1 $2 mnt=$(readlink /proc/self/ns/mnt) root=$root hostonly=$hostonly cmd=$cmd" >> "$L/log"
"""
FAIL_HOOK = "#!/bin/sh\necho failing-hook >&2\nexit 1\n"
PHASES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
RUNTIME_NS = ["prestart", "createRuntime", "poststart", "poststop"]
CONTAINER_NS = ["createContainer", "startContainer"]
IN_ROOTFS = "/conformance-hook"


def write_script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def hook_container(ctx: Ctx, program: str) -> tuple[Container, Path, Path]:
    """A container whose hooks (two per phase) log to a shared directory; returns (container, log dir, marker)."""
    log = ctx.host_dir("hooklog")
    marker = ctx.dir / "host-only"
    marker.write_text("")
    host_hook = write_script(ctx.dir / "hook.sh", HOOK)
    c = ctx.container(["sh", "-c", program])
    write_script(c.rootfs / IN_ROOTFS.lstrip("/"), HOOK)
    c.config["mounts"].append({"destination": str(log), "type": "bind", "source": str(log), "options": ["rbind", "rw"]})
    c.config["hooks"] = {
        phase: [
            {
                "path": IN_ROOTFS if phase == "startContainer" else host_hook,
                "args": ["conformance-hook", phase, str(tag), str(log), str(marker)],
            }
            for tag in (1, 2)
        ]
        for phase in PHASES
    }
    return c, log, marker


def read_log(log: Path) -> list[dict[str, str]]:
    entries = []
    text = (log / "log").read_text() if (log / "log").exists() else ""
    for line in text.splitlines():
        phase, tag, rest = (line.split(" ", 2) + ["", ""])[:3]
        fields = {"phase": phase, "tag": tag}
        for key in ("mnt", "root", "hostonly"):
            fields[key] = rest.split(f"{key}=", 1)[1].split(" ", 1)[0] if f"{key}=" in rest else ""
        fields["cmd"] = rest.split("cmd=", 1)[1] if "cmd=" in rest else ""
        entries.append(fields)
    return entries


def scenario(ctx: Ctx) -> dict[str, Any]:
    program = "grep -q '^startContainer' \"$HOOKLOG/log\" && echo SC_SEEN; /conformance-probe; sleep 1"
    c, log, _marker = hook_container(ctx, program)
    c.config["process"]["env"].append(f"HOOKLOG={log}")
    result: dict[str, Any] = {"id": c.id, "log": log}
    c.create()
    result["after_create"] = read_log(log)
    c.start()
    result["after_start"] = read_log(log)
    result["probe"] = c.probe()
    result["output"] = c.output_text()
    c.wait_status("stopped")
    result["before_delete"] = read_log(log)
    c.delete()
    result["after_delete"] = read_log(log)
    result["states"] = {p.stem: p.read_text() for p in log.glob("*.json")}
    return result


def run(ctx: Ctx) -> dict[str, Any]:
    return dict(ctx.suite.cached("hooks", scenario))


def names(entries: list[dict[str, str]]) -> list[str]:
    return [f"{e['phase']}{e['tag']}" for e in entries]


@check("hooks.create-phases")
def create_phases(ctx: Ctx) -> None:
    """prestart, createRuntime, createContainer run during create, in that order, each phase's hooks in list order."""
    got = names(run(ctx)["after_create"])
    want = ["prestart1", "prestart2", "createRuntime1", "createRuntime2", "createContainer1", "createContainer2"]
    expect(got == want, f"hooks run by create: {got}")


@check("hooks.before-pivot")
def before_pivot(ctx: Ctx) -> None:
    """prestart/createRuntime/createContainer hooks run before pivot_root (the host root is still visible)."""
    for entry in run(ctx)["after_create"]:
        if entry["phase"] in ("prestart", "createRuntime"):
            expect(entry["root"] == "/", f"{entry['phase']}: container root is already {entry['root']!r}")
        if entry["phase"] == "createContainer":
            expect(entry["hostonly"] == "yes", "createContainer ran after pivot_root (host path not visible)")


@check("hooks.start-container")
def start_container(ctx: Ctx) -> None:
    """startContainer hooks run during start, before the user program (resolved inside the container)."""
    result = run(ctx)
    got = names(result["after_start"])
    expect("startContainer1" in got and "startContainer2" in got, f"hooks after start: {got}")
    expect(got.index("startContainer1") < got.index("startContainer2"), "startContainer hooks out of order")
    expect("SC_SEEN" in result["output"], "the user program started before the startContainer hooks ran")
    expect(
        not any(n.startswith("startContainer") for n in names(result["after_create"])), "startContainer ran in create"
    )


@check("hooks.poststart")
def poststart(ctx: Ctx) -> None:
    """poststart hooks run after the user program is executed, before start returns."""
    result = run(ctx)
    entries = [e for e in result["after_start"] if e["phase"] == "poststart"]
    expect([e["tag"] for e in entries] == ["1", "2"], f"poststart hooks when start returned: {entries}")
    for entry in entries:
        # the user program is `sh -c '...; sleep 1'` (busybox execs the last command): any of those is fine
        user = entry["cmd"].startswith(("sh ", "/bin/sh ", "sleep "))
        expect(user, f"poststart ran before the program was executed: container process is {entry['cmd']!r}")


@check("hooks.poststop")
def poststop(ctx: Ctx) -> None:
    """poststop hooks run during delete, after the container is gone, before delete returns."""
    result = run(ctx)
    expect(not any(e["phase"] == "poststop" for e in result["before_delete"]), "poststop ran before delete")
    got = [e["tag"] for e in result["after_delete"] if e["phase"] == "poststop"]
    expect(got == ["1", "2"], f"poststop hooks when delete returned: {got}")


@check("hooks.namespaces")
def namespaces(ctx: Ctx) -> None:
    """prestart/createRuntime/poststart/poststop run in the runtime's namespaces, the others in the container's."""
    result = run(ctx)
    host_mnt = os.readlink("/proc/self/ns/mnt")
    container_mnt = result["probe"].ns()["mnt"]
    for entry in result["after_delete"]:
        want = host_mnt if entry["phase"] in RUNTIME_NS else container_mnt
        where = "runtime" if entry["phase"] in RUNTIME_NS else "container"
        expect(entry["mnt"] == want, f"{entry['phase']} ran in mount namespace {entry['mnt']}, not the {where}'s")


@check("hooks.path-resolution")
def path_resolution(ctx: Ctx) -> None:
    """Hook paths resolve in the runtime namespace (host scripts), startContainer's in the container."""
    got = set(names(run(ctx)["after_delete"]))
    missing = [f"{p}{t}" for p in PHASES for t in (1, 2) if f"{p}{t}" not in got]
    expect(not missing, f"hooks that never ran: {missing}")


@check("hooks.state-stdin")
def state_stdin(ctx: Ctx) -> None:
    """Every hook gets the container state JSON on stdin."""
    result = run(ctx)
    for name, text in sorted(result["states"].items()):
        try:
            state = json.loads(text)
        except ValueError:
            fail(f"{name}: stdin is not JSON: {text[:80]!r}")
        expect(state.get("id") == result["id"], f"{name}: state id {state.get('id')!r}")
        expect(isinstance(state.get("pid"), int) or name.startswith("poststop"), f"{name}: no pid")
        expect(state.get("bundle") and state.get("status"), f"{name}: state lacks bundle or status")


def failing(ctx: Ctx, phase: str) -> tuple[Container, Path]:
    out = ctx.host_dir(f"out-{phase}")
    c = ctx.container(["sh", "-c", "echo ran > /out/marker; sleep 5"])
    c.config["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]})
    script = IN_ROOTFS if phase == "startContainer" else write_script(ctx.dir / "fail.sh", FAIL_HOOK)
    write_script(c.rootfs / IN_ROOTFS.lstrip("/"), FAIL_HOOK)
    c.config["hooks"] = {phase: [{"path": script}]}
    return c, out / "marker"


def create_hook_fails(phase: str) -> None:
    def verify(ctx: Ctx) -> None:
        c, marker = failing(ctx, phase)
        ctx.expect_create_error(c, f"a failing {phase} hook")
        expect(not marker.exists(), "the user program ran")

    verify.__doc__ = f"A failing {phase} hook makes create fail; the container is destroyed, nothing runs."
    check(f"hooks.fail-{phase}")(verify)


for _phase in ("prestart", "createRuntime", "createContainer"):
    create_hook_fails(_phase)


@check("hooks.fail-startContainer")
def fail_start_container(ctx: Ctx) -> None:
    """A failing startContainer hook makes start fail; the user program never runs and the container stops."""
    c, marker = failing(ctx, "startContainer")
    c.create()
    expect(c.start(check=False).returncode != 0, "start succeeded with a failing startContainer hook")
    expect(not marker.exists(), "the user program ran")
    state = c.state()
    expect(state is None or state["status"] == "stopped", f"container is {state and state['status']}")
    expect(not processes_rooted_in(c.rootfs), "a container process is still alive")


@check("hooks.fail-poststart")
def fail_poststart(ctx: Ctx) -> None:
    """A failing poststart hook makes start fail and the container is stopped."""
    c, _marker = failing(ctx, "poststart")
    c.create()
    expect(c.start(check=False).returncode != 0, "start succeeded with a failing poststart hook")
    state = c.state()
    expect(state is None or state["status"] == "stopped", f"container is {state and state['status']}")


@check("hooks.poststop-failure-continues")
def poststop_failure_continues(ctx: Ctx) -> None:
    """A failing poststop hook is only a warning: later hooks run and delete succeeds."""
    log = ctx.host_dir("hooklog")
    c = ctx.container(["true"])
    record = write_script(ctx.dir / "record.sh", f"#!/bin/sh\necho second-ran > {log}/poststop\n")
    c.config["hooks"] = {"poststop": [{"path": write_script(ctx.dir / "fail.sh", FAIL_HOOK)}, {"path": record}]}
    c.create()
    c.start()
    c.wait_status("stopped")
    result = c.delete(check=False)
    expect(result.returncode == 0, f"delete failed because of the poststop hook: {result.stderr.strip()[-200:]}")
    expect((log / "poststop").exists(), "the poststop hook after the failing one did not run")
    expect(c.state() is None, "the container still exists")


@check("hooks.path-relative")
def path_relative(ctx: Ctx) -> None:
    """A relative hook path is invalid (even one that resolves from the bundle): create fails."""
    for phase in ("prestart", "createRuntime"):
        c = ctx.container()
        write_script(c.bundle / "relhook.sh", "#!/bin/sh\nexit 0\n")
        c.config["hooks"] = {phase: [{"path": "relhook.sh"}]}
        c.write_config()
        result = ctx.runtime("create", "--bundle", str(c.bundle), c.id, cwd=c.bundle)
        expect(result.returncode != 0, f"create succeeded with a relative {phase} hook path")
        ctx.expect_no_container(c, f"a relative {phase} hook path")


@check("hooks.timeout-zero")
def timeout_zero(ctx: Ctx) -> None:
    """A hook timeout of 0 is invalid: create fails."""
    hook = write_script(ctx.dir / "ok.sh", "#!/bin/sh\nexit 0\n")
    for phase in ("prestart", "createRuntime"):
        c = ctx.container()
        c.config["hooks"] = {phase: [{"path": hook, "timeout": 0}]}
        ctx.expect_create_error(c, f"a {phase} hook with timeout 0")
