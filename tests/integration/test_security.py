"""Attacks from inside real containers against the runtime's isolation (SECURITY.md, items 1-6).

Each test tries the escape and checks that it fails and that the host is unchanged. A test marked
xfail(strict) with a "BUG:" reason is an attack that works today; SECURITY.md says how to fix it.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from ociruntime.state.store import STATE_FILE
from tests.conftest import BundleFactory, Runtime, new_id

pytestmark = pytest.mark.root

HOST_PYTHON = os.path.realpath("/proc/self/exe")


# --- 1. no runtime fd reaches the container; cwd inside the rootfs ------------------------------------

# ls runs in a child: it lists the shell's fds, which are exactly what the runtime handed over.
# `ls` writes straight to stdout: with a pipe (`ls | tr`) the shell's own pipe fds would race into the
# listing of its fds.
FD_SCRIPT = "ls /proc/$$/fd; readlink /proc/$$/cwd; readlink /proc/$$/root"


def test_only_stdio_reaches_the_program(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", FD_SCRIPT])
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.stdout == "0\n1\n2\n/\n/\n", (result.stdout, result.stderr)


def test_preserved_fds_and_nothing_else(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", FD_SCRIPT + "; cat <&3"])
    r, w = os.pipe()
    os.write(w, b"through fd 3\n")
    os.close(w)
    cmd = [runtime.binary, "--root", str(runtime.root), "run", "--preserve-fds", "1", "-b", str(bundle.path), new_id()]
    # The caller hands the runtime exactly fds 0-3 (3: the pipe), as an engine would.
    wrapper = ["bash", "-c", f'exec 3<&{r} {r}<&-; exec "$@"', "bash", *cmd]
    with tempfile.TemporaryFile() as out:
        subprocess.run(wrapper, stdin=subprocess.DEVNULL, stdout=out, stderr=out, pass_fds=(r,), timeout=60)
        os.close(r)
        out.seek(0)
        text = out.read().decode()
    assert text == "0\n1\n2\n3\n/\n/\nthrough fd 3\n", text


# --- 2. the host interpreter cannot be reached through /proc/<pid>/exe -----------------------------------

EXE_PROBE = """#!/proc/self/exe
import os
fd = os.open("/proc/self/exe", os.O_PATH)
st = os.fstat(fd)
print("exe", st.st_dev, st.st_ino, os.statvfs("/proc/self/fd/%d" % fd).f_flag & 1)
"""


def test_proc_self_exe_does_not_reach_the_host_interpreter(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    bundle = make_bundle(["/evil"], copy_rootfs=True)
    (bundle.rootfs / "evil").write_text(EXE_PROBE)
    (bundle.rootfs / "evil").chmod(0o755)
    # Give the container what python needs to start, read-only: the attacker brings its own stdlib.
    for path in ("/usr/lib", "/usr/lib64"):
        if os.path.isdir(path):
            bundle.config["mounts"].append(
                {"destination": path, "type": "bind", "source": path, "options": ["rbind", "ro"]}
            )
    for link in ("lib", "lib64"):
        target = bundle.rootfs / link
        if not target.exists() and os.path.islink(f"/{link}"):
            target.symlink_to(os.readlink(f"/{link}"))
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    host = os.stat(HOST_PYTHON)
    if result.stdout.startswith("exe "):
        _, dev, ino, readonly = result.stdout.split()
        same_file = (int(dev), int(ino)) == (host.st_dev, host.st_ino)
        assert not same_file or readonly == "1", "the host interpreter is writable from the container"
    # Otherwise the interpreter did not run at all in the container: nothing reached.


def test_runtime_processes_are_not_dumpable_while_visible(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    # A created container's init is runtime code; a second container sharing its pid namespace must not
    # be able to follow /proc/<pid>/exe, cwd or root of it.
    first = make_bundle(["sleep", "30"])
    cid = new_id()
    runtime.ok("create", "-b", str(first.path), cid)
    init_pid = runtime.state(cid)["pid"]
    status = Path(f"/proc/{init_pid}/status").read_text()
    # Non-dumpable processes' /proc files belong to root, and ptrace-mode checks refuse other users.
    script = (
        "for l in exe cwd root; do readlink /proc/1/$l || echo denied-$l; done; "
        "cat /proc/1/environ >/dev/null || echo denied-environ"
    )
    second = make_bundle(["sh", "-c", script])
    second.config["process"]["user"] = {"uid": 0, "gid": 0}
    second.config["linux"]["namespaces"] = [
        ns if ns["type"] != "pid" else {"type": "pid", "path": f"/proc/{init_pid}/ns/pid"}
        for ns in second.config["linux"]["namespaces"]
    ]
    second.write()
    result = runtime("run", "-b", str(second.path), new_id())
    runtime("delete", "--force", cid)
    assert "denied-exe" in result.stdout and "denied-root" in result.stdout and "denied-cwd" in result.stdout, (
        result.stdout,
        result.stderr,
    )
    assert "denied-environ" in result.stdout
    assert "python" not in result.stdout
    assert status  # init existed when probed


# --- 3. mount destinations and /dev/null bind sources are not redirected by symlinks -------------------


def test_mount_destination_symlink_stays_in_rootfs(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    (host_dir / "keep").write_text("host file\n")
    bundle = make_bundle(["sh", "-c", "echo pwned > /evil/written; ls /evil"], copy_rootfs=True)
    (bundle.rootfs / "evil").symlink_to(str(host_dir))  # absolute: must resolve inside the rootfs
    bundle.config["mounts"].append({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"})
    bundle.write()
    runtime("run", "-b", str(bundle.path), new_id())  # refused or contained: either way the host is intact
    assert sorted(p.name for p in host_dir.iterdir()) == ["keep"]
    assert (host_dir / "keep").read_text() == "host file\n"


def test_masked_path_bind_source_cannot_be_redirected(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    masked = next(p for p in ("/proc/timer_list", "/proc/keys", "/proc/sched_debug") if os.path.exists(p))
    bundle = make_bundle(["sh", "-c", f"wc -c < {masked}; head -c 64 {masked}"], copy_rootfs=True)
    dev = bundle.rootfs / "dev"
    dev.mkdir(exist_ok=True)
    null = dev / "null"
    if null.exists() or null.is_symlink():
        null.unlink()
    null.symlink_to("/proc/sys/kernel/core_pattern")  # a file of the host kernel; only ever read here
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if not m["destination"].startswith("/dev")]
    bundle.config["mounts"].append({"destination": "/dev", "type": "bind", "source": str(dev), "options": ["rbind"]})
    bundle.config["linux"]["maskedPaths"] = [masked]
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    assert core_pattern.strip() not in result.stdout
    # Refused (the runtime checks /dev/null is the 1:3 device) or masked with the real null device.
    assert (result.returncode != 0 and "/dev/null" in result.stderr) or result.stdout == "0\n", result


# --- 5. state directory permissions; other users cannot drive root's containers -----------------------


@pytest.fixture
def other_user() -> tuple[int, int]:
    name = "ocirt-sec-test"
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
        entry = pwd.getpwnam(name)
    assert entry.pw_uid != 0
    return entry.pw_uid, grp.getgrnam(name).gr_gid if name in [g.gr_name for g in grp.getgrall()] else entry.pw_gid


def test_state_files_are_private(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sleep", "30"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid)
    try:
        modes = {p.name: stat.S_IMODE(p.lstat().st_mode) for p in (runtime.root / cid).iterdir()}
        assert stat.S_IMODE(runtime.root.stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE((runtime.root / cid).stat().st_mode) & 0o022 == 0
        assert all(mode & 0o077 == 0 for mode in modes.values()), modes
        assert STATE_FILE in modes
    finally:
        runtime("delete", "--force", cid)


def test_other_user_cannot_drive_roots_container(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, other_user: tuple[int, int]
) -> None:
    uid, gid = other_user
    bundle = make_bundle(["sleep", "30"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid)
    try:
        before = (runtime.root / cid / STATE_FILE).read_bytes()
        pid = runtime.state(cid)["pid"]
        setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all"]
        for args in (["state", cid], ["kill", cid, "KILL"], ["start", cid], ["delete", "--force", cid], ["list"]):
            result = subprocess.run(
                [*setpriv, runtime.binary, "--root", str(runtime.root), *args],
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": "/usr/bin:/bin"},
            )
            if args[0] == "list":
                assert cid not in result.stdout
                continue
            assert result.returncode != 0, (args, result.stdout)
        assert (runtime.root / cid / STATE_FILE).read_bytes() == before
        assert runtime.state(cid)["status"] == "created"
        assert Path(f"/proc/{pid}").exists()
    finally:
        runtime("delete", "--force", cid)


# --- 6. fail closed ------------------------------------------------------------------------------------


def test_lsm_label_the_host_cannot_apply_fails_create(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None
) -> None:
    for field, value in (("apparmorProfile", "docker-default"), ("selinuxLabel", "system_u:system_r:container_t:s0")):
        bundle = make_bundle(["true"])
        bundle.config["process"][field] = value
        bundle.write()
        result = runtime("create", "-b", str(bundle.path), new_id())
        assert result.returncode == 1, result.stderr
        assert f"process.{field}" in result.stderr
        assert runtime.container_dirs() == []


def test_mount_label_is_ignored_without_selinux(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["true"])
    bundle.config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"
    bundle.write()
    assert runtime("run", "-b", str(bundle.path), new_id()).returncode == 0


def test_program_never_runs_when_the_notify_listener_fails(
    runtime: Runtime, make_bundle: BundleFactory, no_trace: None, tmp_path: Path
) -> None:
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def hang_up() -> None:
        conn, _ = server.accept()
        conn.close()  # the agent goes away before the runtime can send the fd

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    bundle = make_bundle(["sh", "-c", "echo ran > /marker"], copy_rootfs=True)
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    bundle.write()
    cid = new_id()
    try:
        # Loaded (and the fd sent) before the wait, as runc does: `create` fails. Were it loaded after
        # `start` (the Python init's order, kept with startContainer hooks), `start` would.
        result = runtime("create", "-b", str(bundle.path), cid)
        if result.returncode == 0:
            thread.join(10)
            result = runtime("start", cid)
        assert result.returncode != 0
        assert "seccomp" in result.stderr
    finally:
        runtime("delete", "--force", cid)
        server.close()
    assert not (bundle.rootfs / "marker").exists()


def test_bad_profile_never_runs_the_program(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    bundle = make_bundle(["sh", "-c", "echo ran > /marker"], copy_rootfs=True)
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}
    bundle.write()
    result = runtime("run", "-b", str(bundle.path), new_id())
    assert result.returncode != 0
    assert not (bundle.rootfs / "marker").exists()
    assert runtime.container_dirs() == []
