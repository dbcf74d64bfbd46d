"""Real engines (containerd + ctr, podman + conmon, dockerd + docker) driven against ociruntime and runc.

Everything an engine writes lives in one temporary directory of the session: containerd and dockerd run as
plain processes on unix sockets there, podman gets its own containers.conf, storage.conf, --root and
--runroot there. Every container's cgroup is below CGROUP_PARENT (one directory per engine), which the
session removes from every hierarchy at the end. Host networking is never touched: dockerd runs without
iptables, masquerading or a bridge, and every container runs with no network.

Also imported by bench/engines.py (which puts the repository on sys.path).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ociruntime.state.store import STATE_FILE
from tests.conftest import processes_mentioning  # one definition for every ring

REPO = Path(__file__).resolve().parents[2]
MAKE_ROOTFS = REPO / "bundles" / "make-rootfs"
IMAGE = "docker.io/library/busybox:latest"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Debian 12 packages that provide the engines (scripts/setup should install them).
PACKAGES = ["containerd", "podman", "conmon", "docker.io"]
COMMANDS = {
    "containerd": "/usr/bin/containerd",
    "ctr": "/usr/bin/ctr",
    "podman": "/usr/bin/podman",
    "conmon": "/usr/bin/conmon",
    "dockerd": "/usr/sbin/dockerd",
    "docker": "/usr/bin/docker",
}


def ociruntime_binary() -> str:
    explicit = os.environ.get("OCIRUNTIME")
    return explicit or str(REPO / ".venv" / "bin" / "ociruntime")


def runc_binary() -> str:
    return shutil.which("runc") or "/usr/sbin/runc"


def install_packages() -> None:
    """apt-get install the engines that are missing (the host has Debian's registry, nothing else)."""
    missing = [p for p in PACKAGES if not _installed(p)]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in result.stdout


# --- the image ------------------------------------------------------------------------------------------------


def build_image_archive(rootfs: Path, dest: Path) -> Path:
    """One tar that is both an OCI image layout and a `docker save` archive of busybox:latest.

    containerd (`ctr image import`), podman (`podman load`) and docker (`docker load`) all read it, so the
    three engines run the same bytes. The single layer is an uncompressed tar of `rootfs`.
    """
    layer = _tar_directory(rootfs)
    layer_digest = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [PATH_ENV], "Cmd": ["sh"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
            "history": [{"created_by": "bundles/make-rootfs"}],
        },
        sort_keys=True,
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{layer_digest}",
                    "size": len(layer),
                }
            ],
        },
        sort_keys=True,
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest),
                    "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"},
                }
            ],
        }
    ).encode()
    docker_manifest = json.dumps(
        [
            {
                "Config": f"blobs/sha256/{config_digest}",
                "RepoTags": ["busybox:latest"],
                "Layers": [f"blobs/sha256/{layer_digest}"],
            }
        ]
    ).encode()
    files = {
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
        "index.json": index,
        "manifest.json": docker_manifest,
        f"blobs/sha256/{layer_digest}": layer,
        f"blobs/sha256/{config_digest}": config,
        f"blobs/sha256/{manifest_digest}": manifest,
    }
    with tarfile.open(dest, "w") as archive:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return dest


def _tar_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(root.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buffer.getvalue()


# --- running commands -----------------------------------------------------------------------------------------


def run(
    argv: Sequence[str], *, input: bytes | None = None, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client command; output through files (a container may keep inherited pipes open).

    The wait blocks in waitpid, with a timer thread for the timeout: `subprocess.run(timeout=...)` polls
    with sleeps growing to 50 ms, which would round every duration bench/engines.py measures up to the
    next poll.
    """
    import tempfile
    import threading

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if input is not None:
            inp.write(input)
            inp.seek(0)
        proc = subprocess.Popen(
            list(argv), stdin=inp if input is not None else subprocess.DEVNULL, stdout=out, stderr=err, env=env
        )
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            proc.wait()
        finally:
            watchdog.cancel()
        if expired.is_set():
            raise subprocess.TimeoutExpired(list(argv), timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(
            list(argv), proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
        )


def run_in_pty(
    argv: Sequence[str], *, input: bytes = b"", timeout: float = 30, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run argv with a new pseudo-terminal as its controlling terminal and stdio; return (status, output)."""
    pid, master = pty.fork()
    if pid == 0:  # child: the pty is stdin/stdout/stderr and controlling terminal
        try:
            os.execve(argv[0], list(argv), env if env is not None else dict(os.environ))
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + timeout
    sent = False
    try:
        while time.monotonic() < deadline:
            if input and not sent:
                time.sleep(0.5)
                os.write(master, input)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the last holder of the slave closed it
                    break
                if not chunk:
                    break
                output += chunk
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def wait_for(predicate, timeout: float = 20, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --- runtime tracing ------------------------------------------------------------------------------------------

TRACE_WRAPPER = """#!/bin/sh
# Logs how an engine calls the runtime, then becomes it: argv, cwd, the bundle's config.json, --process file.
d="{trace_dir}/$(date +%s.%N)-$$"
mkdir -p "$d"
for a in "$@"; do printf '%s\\n' "$a"; done > "$d/argv"
pwd > "$d/cwd"
prev=
for a in "$@"; do
    case "$prev" in
        --bundle|-b) cp "$a/config.json" "$d/config.json" 2>/dev/null ;;
        --process|-p) cp "$a" "$d/process.json" 2>/dev/null ;;
    esac
    case "$a" in
        --bundle=*) cp "${{a#--bundle=}}/config.json" "$d/config.json" 2>/dev/null ;;
        --process=*) cp "${{a#--process=}}" "$d/process.json" 2>/dev/null ;;
        create|run) [ -e "$d/config.json" ] || cp config.json "$d/config.json" 2>/dev/null ;;
    esac
    prev=$a
done
exec {real} "$@"
"""


def make_trace_wrapper(real: str, directory: Path) -> str:
    """A script that records each call (see TRACE_WRAPPER) under directory/calls and execs `real`."""
    calls = directory / "calls"
    calls.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "ociruntime-traced"
    wrapper.write_text(TRACE_WRAPPER.format(trace_dir=calls, real=real))
    wrapper.chmod(0o755)
    return str(wrapper)


# --- the engines ----------------------------------------------------------------------------------------------


@dataclass
class Engine:
    """The verbs every engine offers, so each scenario is written once.

    `runtime` is "ociruntime" or "runc" everywhere. Background containers are started with `start` and
    always get the engine's cgroup parent and no network.
    """

    name: str
    work: Path  # this engine's own directory (configuration, roots, sockets, logs)
    cgroup_parent: str  # absolute cgroup path every container of this engine goes below
    ociruntime: str  # the path the engine is given for ociruntime (maybe a tracing wrapper)
    runc: str = field(default_factory=runc_binary)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def client(self) -> list[str]:
        raise NotImplementedError

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run([*self.client(), *args], input=input, timeout=timeout, env=self.env)

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
        result = self.cli(*args, **kw)
        assert result.returncode == 0, f"{self.name} {args}: rc={result.returncode} {result.stderr!r}"
        return result

    def start_engine(self, archive: Path) -> None:
        """Write the configuration, start the daemon (if any) and load the image archive."""

    def stop_engine(self) -> None:
        """Remove every container and stop the daemon (if any)."""

    def runtime_roots(self) -> list[Path]:
        """Where the engine has ociruntime keep its state (the --root it passes, or the default)."""
        return []

    def runtime_state_dirs(self) -> set[str]:
        """Container state directories of ociruntime for this engine (compare before and after)."""
        found = (p for root in self.runtime_roots() if root.exists() for p in root.rglob(STATE_FILE))
        return {str(p.parent) for p in found}

    def kill_stuck_runtime(self) -> None:
        """Kill ociruntime processes of this engine's containers (after a hang), so the engine unwinds."""
        for entry in processes_mentioning(ociruntime_binary()):
            if str(self.work) in entry:
                try:
                    os.kill(int(entry.split(":", 1)[0]), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # scenario verbs, overridden per engine
    def run_fg(
        self,
        runtime: str,
        cmd: Sequence[str],
        opts: Sequence[str] = (),
        *,
        input: bytes | None = None,
        cid: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run in the foreground and remove the container; the client's status is the container's."""
        raise NotImplementedError

    def run_tty(self, runtime: str, cmd: Sequence[str], *, input: bytes = b"") -> tuple[int, str]:
        raise NotImplementedError

    def start(self, runtime: str, cid: str, cmd: Sequence[str], opts: Sequence[str] = ()) -> None:
        raise NotImplementedError

    def exec(
        self, cid: str, cmd: Sequence[str], opts: Sequence[str] = (), input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        raise NotImplementedError

    def exec_tty(self, cid: str, cmd: Sequence[str]) -> tuple[int, str]:
        raise NotImplementedError

    def stop(self, cid: str, timeout: int) -> int:
        """Stop (SIGTERM, SIGKILL after `timeout` seconds); return the container's exit status."""
        raise NotImplementedError

    def kill(self, cid: str, sig: str) -> None:
        self.ok("kill", "-s", sig, cid)

    def wait_exit(self, cid: str) -> int:
        return int(self.ok("wait", cid, timeout=30).stdout.split()[-1])

    def pause(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("pause", cid)

    def unpause(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("unpause", cid)

    def status(self, cid: str) -> str:
        return self.ok("inspect", "-f", "{{.State.Status}}", cid).stdout.strip()

    def top(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("top", cid)

    def update(self, cid: str, memory: int, cpus: float) -> subprocess.CompletedProcess[str]:
        return self.cli("update", "--memory", str(memory), "--cpus", str(cpus), cid)

    def rm_force(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("rm", "-f", cid)

    def exists(self, cid: str) -> bool:
        return self.cli("inspect", cid).returncode == 0

    def init_pid(self, cid: str) -> int:
        return int(self.ok("inspect", "-f", "{{.State.Pid}}", cid).stdout.strip())


class Containerd(Engine):
    """containerd as a plain process, driven with ctr; the runc shim calls the runtime (--runc-binary)."""

    namespace = "ocitest"

    @property
    def socket(self) -> Path:
        return self.work / "containerd.sock"

    def config_toml(self) -> str:
        w = self.work
        return CONTAINERD_CONFIG.format(root=w / "root", state=w / "state", socket=self.socket, opt=w / "opt")

    def start_engine(self, archive: Path) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "config.toml").write_text(self.config_toml())
        with open(self.work / "containerd.log", "ab") as log:
            self.daemon = subprocess.Popen(
                [COMMANDS["containerd"], "--config", str(self.work / "config.toml")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        if not wait_for(lambda: self.cli("version").returncode == 0, timeout=30):
            raise RuntimeError(f"containerd did not start: {(self.work / 'containerd.log').read_text()[-2000:]}")
        self.ok("image", "import", "--all-platforms", str(archive), timeout=120)

    def stop_engine(self) -> None:
        if getattr(self, "daemon", None) is None:
            return
        for line in self.cli("task", "ls", "-q").stdout.split():
            self.cli("task", "rm", "-f", line)
        for line in self.cli("container", "ls", "-q").stdout.split():
            self.cli("container", "rm", line)
        _stop(self.daemon)
        kill_processes_mentioning(str(self.work))  # shims of tasks that never got started
        for mount in mounts_below(self.work):
            run(["umount", "-l", mount])

    def client(self) -> list[str]:
        return [COMMANDS["ctr"], "--address", str(self.socket), "--namespace", self.namespace]

    def runtime_roots(self) -> list[Path]:
        return [self.work / "ociruntime-root"]

    def run_args(self, runtime: str, cid: str, opts: Sequence[str] = ()) -> list[str]:
        binary = self.ociruntime if runtime == "ociruntime" else self.runc
        return [
            "run",
            "--runc-binary",
            binary,
            "--runc-root",
            str(self.work / f"{runtime}-root"),
            "--fifo-dir",
            str(self.work / "fifo"),
            "--cgroup",
            f"{self.cgroup_parent}/{cid}",
            *opts,
            IMAGE,
            cid,
        ]

    def run_fg(
        self,
        runtime: str,
        cmd: Sequence[str],
        opts: Sequence[str] = (),
        *,
        input: bytes | None = None,
        cid: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        # ctr copies stdin but never closes the container's end at EOF (runc alike): read lines, not to EOF
        return self.cli(*self.run_args(runtime, cid or new_id(), ["--rm", *opts]), *cmd, input=input, timeout=timeout)

    def run_tty(self, runtime: str, cmd: Sequence[str], *, input: bytes = b"") -> tuple[int, str]:
        argv = [*self.client(), *self.run_args(runtime, new_id(), ["--rm", "-t"]), *cmd]
        return run_in_pty(argv, input=input, env=self.env)

    def start(self, runtime: str, cid: str, cmd: Sequence[str], opts: Sequence[str] = ()) -> None:
        self.ok(*self.run_args(runtime, cid, ["-d", *opts]), *cmd)

    def exec(
        self, cid: str, cmd: Sequence[str], opts: Sequence[str] = (), input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.cli(
            "task", "exec", "--fifo-dir", str(self.work / "fifo"), "--exec-id", new_id(), *opts, cid, *cmd, input=input
        )

    def exec_tty(self, cid: str, cmd: Sequence[str]) -> tuple[int, str]:
        return run_in_pty(
            [
                *self.client(),
                "task",
                "exec",
                "--fifo-dir",
                str(self.work / "fifo"),
                "-t",
                "--exec-id",
                new_id(),
                cid,
                *cmd,
            ],
            env=self.env,
        )

    def task_status(self, cid: str) -> str:
        for line in self.ok("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[2].lower()
        return "absent"

    def stop(self, cid: str, timeout: int) -> int:
        self.ok("task", "kill", "-s", "SIGTERM", cid)
        if not wait_for(lambda: self.task_status(cid) == "stopped", timeout=timeout):
            self.ok("task", "kill", "-s", "SIGKILL", cid)
        return self.wait_exit(cid)

    def kill(self, cid: str, sig: str) -> None:
        self.ok("task", "kill", "-s", sig, cid)

    def wait_exit(self, cid: str) -> int:
        """Wait for the task to stop, delete it (ctr reports a non-zero status as it does) and the container."""
        assert wait_for(lambda: self.task_status(cid) == "stopped", timeout=30), f"{cid} did not stop"
        removed = self.ok("task", "rm", cid)
        self.ok("container", "rm", cid)
        found = re.search(r"exit with non-zero exit code (\d+)", removed.stderr)
        return int(found.group(1)) if found else 0

    def pause(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("task", "pause", cid)

    def unpause(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("task", "resume", cid)

    def status(self, cid: str) -> str:
        return self.task_status(cid)

    def top(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("task", "ps", cid)

    def rm_force(self, cid: str) -> subprocess.CompletedProcess[str]:
        result = self.cli("task", "rm", "-f", cid)
        if result.returncode != 0:
            return result
        return self.cli("container", "rm", cid)

    def exists(self, cid: str) -> bool:
        return self.cli("container", "info", cid).returncode == 0

    def init_pid(self, cid: str) -> int:
        for line in self.ok("task", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return int(fields[1])
        raise LookupError(cid)


class _DockerLike(Engine):
    """docker and podman share their verbs; they differ in how the runtime is named and configured."""

    def runtime_flag(self, runtime: str) -> str:
        raise NotImplementedError

    def common(self, runtime: str) -> list[str]:
        return ["--runtime", self.runtime_flag(runtime), "--network", "none", "--cgroup-parent", self.cgroup_parent]

    def run_fg(
        self,
        runtime: str,
        cmd: Sequence[str],
        opts: Sequence[str] = (),
        *,
        input: bytes | None = None,
        cid: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        stdin = ["-i"] if input is not None else []
        return self.cli(
            "run",
            "--rm",
            "--name",
            cid or new_id(),
            *self.common(runtime),
            *stdin,
            *opts,
            IMAGE,
            *cmd,
            input=input,
            timeout=timeout,
        )

    def run_tty(self, runtime: str, cmd: Sequence[str], *, input: bytes = b"") -> tuple[int, str]:
        flags = ["-it"] if input else ["-t"]
        argv = [*self.client(), "run", "--rm", *self.common(runtime), *flags, IMAGE, *cmd]
        return run_in_pty(argv, input=input, env=self.env)

    def start(self, runtime: str, cid: str, cmd: Sequence[str], opts: Sequence[str] = ()) -> None:
        self.ok("run", "-d", "--name", cid, *self.common(runtime), *opts, IMAGE, *cmd)

    def exec(
        self, cid: str, cmd: Sequence[str], opts: Sequence[str] = (), input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        stdin = ["-i"] if input is not None else []
        return self.cli("exec", *stdin, *opts, cid, *cmd, input=input)

    def exec_tty(self, cid: str, cmd: Sequence[str]) -> tuple[int, str]:
        return run_in_pty([*self.client(), "exec", "-t", cid, *cmd], env=self.env)

    def stop(self, cid: str, timeout: int) -> int:
        self.ok("stop", "-t", str(timeout), cid, timeout=timeout + 30)
        return self.wait_exit(cid)

    def wait_exit(self, cid: str) -> int:
        code = int(self.ok("wait", cid, timeout=30).stdout.split()[-1])
        self.ok("rm", cid)
        return code


class Podman(_DockerLike):
    """podman with its own containers.conf and storage.conf (cgroupfs manager, no network, file events)."""

    def start_engine(self, archive: Path) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "containers.conf").write_text(
            PODMAN_CONTAINERS_CONF.format(binary=self.ociruntime, runc=self.runc, work=self.work)
        )
        (self.work / "storage.conf").write_text(PODMAN_STORAGE_CONF.format(work=self.work))
        self.env = {
            **self.env,
            "CONTAINERS_CONF": str(self.work / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.work / "storage.conf"),
        }
        self.ok("load", "-i", str(archive), timeout=120)

    def stop_engine(self) -> None:
        if "CONTAINERS_CONF" not in self.env:
            return
        self.cli("rm", "-af", "-t", "0", timeout=120)
        self.cli("system", "reset", "-f", timeout=120)  # image layers, overlay mounts, libpod database
        for mount in mounts_below(self.work):
            run(["umount", "-l", mount])

    def client(self) -> list[str]:
        return [COMMANDS["podman"]]

    def runtime_flag(self, runtime: str) -> str:
        # a path, not the [engine.runtimes] name: podman would otherwise pick crun when it is installed
        return self.ociruntime if runtime == "ociruntime" else self.runc

    def runtime_roots(self) -> list[Path]:
        return [Path("/run/ociruntime")]  # conmon passes no --root when podman runs as root

    def rm_force(self, cid: str) -> subprocess.CompletedProcess[str]:
        return self.cli("rm", "-f", "-t", "0", cid)  # SIGKILL at once, as docker rm -f does


class Docker(_DockerLike):
    """dockerd as a plain process with its own daemon.json (data and exec roots, no iptables, no bridge)."""

    @property
    def socket(self) -> Path:
        return self.work / "docker.sock"

    def daemon_json(self) -> dict[str, object]:
        w = self.work
        return {
            "data-root": str(w / "data"),
            "exec-root": str(w / "exec"),
            "pidfile": str(w / "docker.pid"),
            "hosts": [f"unix://{self.socket}"],
            "iptables": False,
            "ip-masq": False,
            "bridge": "none",
            "cgroup-parent": self.cgroup_parent,
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "runtimes": {"ociruntime": {"path": self.ociruntime}},
        }

    def start_engine(self, archive: Path) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "daemon.json").write_text(json.dumps(self.daemon_json(), indent=2))
        with open(self.work / "dockerd.log", "ab") as log:
            self.daemon = subprocess.Popen(
                [COMMANDS["dockerd"], "--config-file", str(self.work / "daemon.json")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        if not wait_for(lambda: self.cli("version").returncode == 0, timeout=60):
            raise RuntimeError(f"dockerd did not start: {(self.work / 'dockerd.log').read_text()[-2000:]}")
        self.ok("load", "-i", str(archive), timeout=120)

    def stop_engine(self) -> None:
        if getattr(self, "daemon", None) is None:
            return
        ids = self.cli("ps", "-aq").stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, timeout=120)
        _stop(self.daemon, timeout=30)
        for mount in mounts_below(self.work):
            run(["umount", "-l", mount])

    def client(self) -> list[str]:
        return [COMMANDS["docker"], "-H", f"unix://{self.socket}"]

    def runtime_flag(self, runtime: str) -> str:
        return runtime  # "runc" is docker's default runtime, "ociruntime" the one daemon.json adds

    def runtime_roots(self) -> list[Path]:
        # docker 20.10 gives every runc-shim runtime the same --root as runc's (observed with a trace)
        return [self.work / "exec" / "runtime-runc"]


ENGINES: dict[str, type[Engine]] = {"containerd": Containerd, "podman": Podman, "docker": Docker}


def new_id() -> str:
    return "e" + uuid.uuid4().hex[:11]


def mounts_below(directory: Path) -> list[str]:
    """Mount points at or below `directory`, deepest first."""
    prefix = str(directory)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def cgroup_children(parent: str) -> list[str]:
    """Cgroup directories below `parent` in any hierarchy (relative paths, deduplicated)."""
    found: set[str] = set()
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        top = hierarchy / parent.lstrip("/")
        if top.is_dir():
            found.update(str(p.relative_to(top)) for p in top.rglob("*") if p.is_dir())
    return sorted(found)


def kill_processes_mentioning(text: str) -> None:
    for entry in processes_mentioning(text):
        try:
            os.kill(int(entry.split(":", 1)[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def cgroup_file(pid: int, controller: str, name: str) -> Path:
    """The host path of `name` in the `controller` cgroup of process `pid` (cgroup v1)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controllers / path.lstrip("/") / name
    raise LookupError(f"{pid} has no {controller} cgroup")


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- configuration snippets (docs/engines.md shows these very files) ------------------------------------------

CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
# no Kubernetes here: the CRI plugin would also want CNI and a pause image
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
"""

PODMAN_CONTAINERS_CONF = """\
[containers]
# root without CAP_SYS_RESOURCE cannot raise hard limits: keep the process's own ulimits
default_ulimits = []
netns = "none"
log_driver = "k8s-file"

[network]
network_config_dir = "{work}/networks"

[engine]
runtime = "ociruntime"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{work}/events.log"
tmp_dir = "{work}/tmp"

[engine.runtimes]
ociruntime = ["{binary}"]
runc = ["{runc}"]
"""

PODMAN_STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{work}/root"
runroot = "{work}/runroot"
"""
