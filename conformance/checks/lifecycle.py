"""runtime.md Lifecycle and Operations: create/start/kill/delete and what each must (not) do."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from conformance.harness import (
    PROBE_PATH,
    Ctx,
    cgroup_dirs,
    check,
    expect,
    fail,
    ns_of,
    pid_alive,
    processes_rooted_in,
    wait_for,
)

LOOP = "trap 'echo got-USR1' USR1; echo ready; while :; do sleep 0.1; done"


def bind(source: Path, destination: str, ro: bool = False) -> dict[str, object]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "ro" if ro else "rw"],
    }


@check("lifecycle.create-without-running")
def create_without_running(ctx: Ctx) -> None:
    """create builds the container but does not run process.args; start runs it."""
    out = ctx.host_dir("out")
    c = ctx.container(["sh", "-c", f"echo ran > /out/marker; exec {PROBE_PATH}"])
    c.config["mounts"].append(bind(out, "/out"))
    c.create()
    state = c.must_state()
    expect(state.get("status") == "created", f"status after create is {state.get('status')!r}, not 'created'")
    time.sleep(0.5)
    expect(not (out / "marker").exists(), "the user program ran before start")
    c.start()
    c.probe()
    expect((out / "marker").exists(), "the user program did not run after start")


@check("lifecycle.create-applies-config")
def create_applies_config(ctx: Ctx) -> None:
    """After create (before start): namespaces, cgroup, mounts and hostname are in place."""
    c = ctx.container()
    c.config["mounts"].append({"destination": "/conformance-tmp", "type": "tmpfs", "source": "tmpfs"})
    c.create()
    pid = int(c.must_state().get("pid") or 0)
    expect(pid > 0 and pid_alive(pid), f"state pid {pid} is not a live process after create")
    for ns in ("mnt", "uts", "ipc", "net", "pid"):
        expect(ns_of(pid, ns) != ns_of(os.getpid(), ns), f"the {ns} namespace is not created at create time")
    cgroup = Path(f"/proc/{pid}/cgroup").read_text()
    expect(c.cgroups_path in cgroup, f"init is not in {c.cgroups_path} after create: {cgroup.splitlines()[:3]}")
    mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
    expect(" /conformance-tmp " in mountinfo, "the configured mount is not in init's mount table after create")
    uts = subprocess.run(["nsenter", "-t", str(pid), "-u", "hostname"], capture_output=True, text=True, check=False)
    expect(uts.stdout.strip() == "conformance", f"hostname after create is {uts.stdout.strip()!r}")


@check("lifecycle.config-changes-ignored")
def config_changes_ignored(ctx: Ctx) -> None:
    """Editing config.json after create changes nothing in the container."""
    c = ctx.container()
    c.create()
    changed = json.loads((c.bundle / "config.json").read_text())
    changed["process"]["args"] = ["sh", "-c", "echo CHANGED-CONFIG"]
    changed["hostname"] = "changed"
    (c.bundle / "config.json").write_text(json.dumps(changed))
    c.start()
    probe = c.probe()
    expect("CHANGED-CONFIG" not in c.output_text(), "start ran the args of the edited config.json")
    expect(probe["hostname"] == "conformance", f"hostname is {probe['hostname']!r} after editing config.json")


@check("lifecycle.operations")
def operations(ctx: Ctx) -> None:
    """The creator can create, query, start, kill and delete its container, seeing each status."""
    c = ctx.container(["sh", "-c", LOOP])
    c.create()
    expect(c.must_state()["status"] == "created", "not 'created' after create")
    c.start()
    c.wait_output("ready")
    expect(c.must_state()["status"] == "running", "not 'running' after start")
    c.kill("KILL")
    c.wait_status("stopped")
    c.delete()
    expect(c.state() is None, "state still answers after delete")


@check("lifecycle.kill-signal")
def kill_signal(ctx: Ctx) -> None:
    """kill delivers the named signal to the container process."""
    c = ctx.container(["sh", "-c", LOOP])
    c.create()
    c.start()
    c.wait_output("ready")
    c.kill("USR1")
    c.wait_output("got-USR1", timeout=5)
    expect(c.must_state()["status"] == "running", "the container stopped on SIGUSR1 it handles")


@check("lifecycle.start-not-created")
def start_not_created(ctx: Ctx) -> None:
    """start on a running or stopped container fails and changes nothing."""
    c = ctx.container(["sh", "-c", LOOP])
    c.create()
    c.start()
    c.wait_output("ready")
    pid = c.must_state()["pid"]
    result = c.start(check=False)
    expect(result.returncode != 0, "a second start succeeded")
    state = c.must_state()
    expect(state["status"] == "running" and state["pid"] == pid, f"second start changed the container: {state}")
    expect(c.output_text().count("ready") == 1, "the user program ran twice")
    c.kill("KILL")
    c.wait_status("stopped")
    expect(c.start(check=False).returncode != 0, "start of a stopped container succeeded")
    expect(c.must_state()["status"] == "stopped", "start changed a stopped container")


@check("lifecycle.kill-stopped")
def kill_stopped(ctx: Ctx) -> None:
    """kill on a stopped container fails and leaves it stopped and deletable."""
    c = ctx.container(["true"])
    c.create()
    c.start()
    c.wait_status("stopped")
    expect(c.kill("KILL", check=False).returncode != 0, "kill of a stopped container succeeded")
    expect(c.must_state()["status"] == "stopped", "kill changed a stopped container")
    c.delete()


@check("lifecycle.delete-running")
def delete_running(ctx: Ctx) -> None:
    """delete (without force) of a running container fails and leaves it running."""
    c = ctx.container(["sh", "-c", LOOP])
    c.create()
    c.start()
    c.wait_output("ready")
    pid = c.must_state()["pid"]
    expect(c.delete(check=False).returncode != 0, "delete of a running container succeeded")
    state = c.must_state()
    expect(state["status"] == "running" and state["pid"] == pid, f"delete changed the running container: {state}")
    expect(pid_alive(int(pid)), "the container process died")


@check("lifecycle.delete-removes")
def delete_removes(ctx: Ctx) -> None:
    """delete removes what create made: state, cgroup, processes."""
    c = ctx.container(["true"])
    c.create()
    expect(cgroup_dirs(c.cgroups_path), f"create made no cgroup at {c.cgroups_path}")
    c.start()
    c.wait_status("stopped")
    c.delete()
    ctx.expect_no_container(c, "after delete")


def make_cgroup(hierarchy: Path, path: str) -> Path:
    """mkdir a cgroup (and missing parents); cpuset dirs inherit cpus/mems or nothing could join them."""
    current = hierarchy
    for part in path.strip("/").split("/"):
        child = current / part
        if not child.is_dir():
            child.mkdir()
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (child / name).exists() and not (child / name).read_text().strip():
                    (child / name).write_text((current / name).read_text())
        current = child
    return current


@check("lifecycle.delete-keeps-foreign")
def delete_keeps_foreign(ctx: Ctx) -> None:
    """delete leaves what it did not create: a pre-existing cgroup parent, bind sources, a joined namespace."""
    parent = f"{ctx.suite.cgroup_parent}/{ctx.suite.next_name('keep')}"
    made = []
    for hierarchy in (Path("/sys/fs/cgroup") / d for d in os.listdir("/sys/fs/cgroup")):
        if (hierarchy / "cgroup.procs").exists():
            made.append(make_cgroup(hierarchy, parent))
    source = ctx.host_dir("keep-source")
    (source / "file").write_text("keep")
    holder = subprocess.Popen(["unshare", "--uts", "sleep", "60"])
    ctx.cleanups.append(holder.kill)
    wait_for(lambda: ns_of(holder.pid, "uts") != ns_of(os.getpid(), "uts"), 5, "the holder's namespace")
    c = ctx.container(["true"])
    c.config["linux"]["cgroupsPath"] = f"{parent}/child"
    c.config["mounts"].append(bind(source, "/keep"))
    c.config["linux"]["namespaces"] = [n for n in c.config["linux"]["namespaces"] if n["type"] != "uts"]
    c.config["linux"]["namespaces"].append({"type": "uts", "path": f"/proc/{holder.pid}/ns/uts"})
    del c.config["hostname"]
    c.create()
    c.start()
    c.wait_status("stopped")
    c.delete()
    missing = [str(p) for p in made if not p.is_dir()]
    expect(not missing, f"delete removed the pre-existing cgroup parent: {missing[:2]}")
    expect((source / "file").read_text() == "keep", "delete removed or changed the bind-mount source")
    expect(holder.poll() is None, "the process holding the joined namespace died")


@check("lifecycle.no-process")
def no_process(ctx: Ctx) -> None:
    """Without `process`, the container cannot be started: create or start fails, nothing runs."""
    c = ctx.container()
    del c.config["process"]
    result = c.create(check=False)
    if result.returncode != 0:
        ctx.expect_no_container(c, "after create without process failed")
        return
    expect(c.start(check=False).returncode != 0, "start succeeded although process was not set")
    if processes_rooted_in(c.rootfs):
        fail("a process runs in the container after start without process")
