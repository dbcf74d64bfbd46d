"""Drives any runc-compatible runtime binary through the runtime-spec operations.

One `Suite` per run: a temporary directory, a busybox rootfs template (bundles/make-rootfs) with the
probe at /conformance-probe, and a cgroup parent `/ociruntime-conformance-<pid>` that every container
config uses and that `Suite.close()` removes from every hierarchy. Each check gets a fresh `Ctx`: its own
`--root`, bundles and containers, all cleaned up after the check whatever its verdict.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MAKE_ROOTFS = REPO / "bundles" / "make-rootfs"
PROBE = HERE / "probe.sh"
PROBE_PATH = "/conformance-probe"
CGROUP_ROOT = Path("/sys/fs/cgroup")
SPEC_VERSION = "1.3.0"
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Fail(Exception):
    """The runtime did not do what the requirement asks."""


class Skip(Exception):
    """The check cannot judge on this host or for this runtime (reason given)."""


def fail(reason: str) -> None:
    raise Fail(reason)


def expect(condition: object, reason: str) -> None:
    if not condition:
        raise Fail(reason)


def default_runtime() -> str:
    venv = REPO / ".venv" / "bin" / "ociruntime"
    if venv.exists():
        return str(venv)
    return shutil.which("ociruntime") or str(venv)


def cgroup_hierarchies() -> list[Path]:
    """Every mounted hierarchy root under /sys/fs/cgroup (v1 controllers, name=systemd, unified)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink())


def cgroup_dirs(path: str) -> list[Path]:
    """The directories of cgroup `path` that exist, in every hierarchy."""
    return [h / path.lstrip("/") for h in cgroup_hierarchies() if (h / path.lstrip("/")).is_dir()]


def remove_cgroup_tree(path: str) -> None:
    """rmdir `path` and everything under it in every hierarchy, deepest first (only our own tree)."""
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / path.lstrip("/")
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            for _ in range(50):
                try:
                    os.rmdir(dirpath)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    kill_cgroup_procs(Path(dirpath))
                    time.sleep(0.05)


def kill_cgroup_procs(directory: Path) -> None:
    try:
        pids = (directory / "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def ns_of(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_rooted_in(rootfs: Path) -> list[int]:
    """Live processes whose root directory is `rootfs` (a container left behind)."""
    found = []
    target = str(rootfs.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def base_config(args: list[str], cgroups_path: str) -> dict[str, Any]:
    """A config close to `runc spec`: new pid/net/ipc/uts/mount/cgroup namespaces, runc's mounts."""
    return {
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [PATH_ENV, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
        },
    }


@dataclass
class Probe:
    """What the probe reported from inside the container."""

    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def status_field(self, name: str) -> str:
        for line in self.data["status"].splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
        raise Fail(f"/proc/self/status has no {name} line")

    def ns(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.data["ns"].splitlines() if "=" in line)

    def mounts(self) -> list[dict[str, Any]]:
        """/proc/self/mountinfo as dicts: mountpoint, options (set), optional (list), fstype, super (set)."""
        result = []
        for line in self.data["mountinfo"].splitlines():
            left, _, right = line.partition(" - ")
            parts = left.split()
            fstype, source, superopts = (right.split() + ["", "", ""])[:3]
            result.append(
                {
                    "id": parts[0],
                    "parent": parts[1],
                    "root": parts[3],
                    "mountpoint": parts[4].replace("\\040", " "),
                    "options": set(parts[5].split(",")),
                    "optional": parts[6:],
                    "fstype": fstype,
                    "source": source,
                    "super": set(superopts.split(",")),
                }
            )
        return result

    def mount_at(self, mountpoint: str) -> dict[str, Any] | None:
        """The topmost (last listed) mount at `mountpoint`."""
        found = [m for m in self.mounts() if m["mountpoint"] == mountpoint]
        return found[-1] if found else None

    def limits(self) -> dict[str, tuple[str, str]]:
        """/proc/self/limits: 'Max open files' -> (soft, hard)."""
        out = {}
        for line in self.data["limits"].splitlines()[1:]:
            name = line[:26].strip()
            fields = line[26:].split()
            if len(fields) >= 2:
                out[name] = (fields[0], fields[1])
        return out

    def cmd(self, index: int) -> tuple[int, str]:
        entry = self.data["cmds"][index]
        return int(entry["rc"]), str(entry["out"])


@dataclass
class Container:
    ctx: Ctx
    id: str
    bundle: Path
    config: dict[str, Any]
    out: Path = field(init=False)
    created: bool = False

    def __post_init__(self) -> None:
        self.out = self.bundle / "stdout.txt"

    @property
    def rootfs(self) -> Path:
        root = Path(self.config.get("root", {}).get("path", "rootfs"))
        return root if root.is_absolute() else self.bundle / root

    @property
    def cgroups_path(self) -> str:
        return str(self.config.get("linux", {}).get("cgroupsPath", ""))

    def write_config(self) -> None:
        (self.bundle / "config.json").write_text(json.dumps(self.config, indent=2))

    def create(self, check: bool = True, extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        self.write_config()
        with open(self.out, "wb") as out:
            result = self.ctx.runtime(
                "create", "--bundle", str(self.bundle), *(extra or []), self.id, stdout=out, stderr=out
            )
        self.created = result.returncode == 0
        if check and result.returncode != 0:
            fail(f"create failed ({result.returncode}): {self.output_text()[-300:].strip()}")
        return result

    def start(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ctx.runtime("start", self.id)
        if check and result.returncode != 0:
            fail(f"start failed ({result.returncode}): {result.stderr.strip()[-300:]}")
        return result

    def state(self) -> dict[str, Any] | None:
        return self.ctx.state(self.id)

    def must_state(self) -> dict[str, Any]:
        state = self.state()
        if state is None:
            fail(f"state {self.id} failed")
        assert state is not None
        return state

    def kill(self, sig: str = "KILL", check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ctx.runtime("kill", self.id, sig)
        if check and result.returncode != 0:
            fail(f"kill {sig} failed ({result.returncode}): {result.stderr.strip()[-300:]}")
        return result

    def delete(self, force: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.ctx.runtime("delete", *(["--force"] if force else []), self.id)
        if check and result.returncode != 0:
            fail(f"delete failed ({result.returncode}): {result.stderr.strip()[-300:]}")
        return result

    def wait_status(self, status: str, timeout: float = 10) -> dict[str, Any]:
        return wait_for(
            lambda: (s := self.state()) is not None and s.get("status") == status and s,
            timeout,
            f"{self.id} to be {status}",
        )

    def output_text(self) -> str:
        try:
            return self.out.read_text(errors="replace")
        except OSError:
            return ""

    def wait_output(self, needle: str, timeout: float = 10) -> str:
        return str(wait_for(lambda: needle in (t := self.output_text()) and t, timeout, f"{needle!r} in output"))

    def probe(self, timeout: float = 15) -> Probe:
        """Wait for the probe's JSON line on the container's stdout."""

        def parsed() -> dict[str, Any] | None:
            for line in self.output_text().splitlines():
                if line.startswith('{"pid":'):
                    try:
                        return dict(json.loads(line))
                    except ValueError:
                        return None
            return None

        try:
            return Probe(wait_for(parsed, timeout, "the probe's report"))
        except Fail:
            fail(f"no probe report; container output: {self.output_text()[-300:].strip()!r}")
            raise

    def run_probe(self) -> Probe:
        """create + start + probe report + wait stopped."""
        self.create()
        self.start()
        probe = self.probe()
        self.wait_status("stopped")
        return probe

    def cleanup(self) -> None:
        state = self.state()
        if state is not None:
            self.ctx.runtime("kill", self.id, "KILL")
            self.ctx.runtime("delete", "--force", self.id)
            pid = int(state.get("pid") or 0)
            if pid > 0 and pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in processes_rooted_in(self.rootfs) if self.rootfs.exists() else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@dataclass
class RuntimeCLI:
    binary: str
    root: Path

    def __call__(
        self,
        *args: str,
        stdout: Any = None,
        stderr: Any = None,
        cwd: Path | None = None,
        timeout: float = 60,
        global_args: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the runtime; output goes through files (a created init keeps inherited pipes open)."""
        cmd = [self.binary, "--root", str(self.root), *(global_args or []), *args]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout if stdout is not None else out,
                    stderr=stderr if stderr is not None else err,
                    cwd=cwd,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout}s")
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                cmd, proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")
            )


class Suite:
    """Per-run resources shared by every check."""

    def __init__(self, runtime: str, workdir: Path | None = None) -> None:
        self.runtime_path = runtime
        self.tmp = Path(tempfile.mkdtemp(prefix="oci-conformance-", dir=workdir))
        self.tmp.chmod(0o755)  # user-namespaced containers must traverse it to their rootfs
        self.cgroup_parent = f"/ociruntime-conformance-{os.getpid()}"
        self.counter = 0
        self.template = self.tmp / "rootfs-template"
        self._features: dict[str, Any] | None = None
        self.cache: dict[str, Any] = {}
        self.shared_ctxs: list[Ctx] = []

    def cached(self, key: str, compute: Callable[[Ctx], Any]) -> Any:
        """Run a scenario once per suite (its own Ctx, closed with the suite); failures are cached too."""
        if key not in self.cache:
            ctx = Ctx(self, f"shared-{key}")
            self.shared_ctxs.append(ctx)
            try:
                self.cache[key] = ("ok", compute(ctx))
            except (Fail, Skip) as exc:
                self.cache[key] = (type(exc).__name__, exc)
        kind, value = self.cache[key]
        if kind != "ok":
            raise value
        return value

    def prepare(self) -> None:
        result = subprocess.run([str(MAKE_ROOTFS), str(self.template)], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"make-rootfs failed: {result.stderr.strip()}")
        shutil.copyfile(PROBE, self.template / PROBE_PATH.lstrip("/"))
        os.chmod(self.template / PROBE_PATH.lstrip("/"), 0o755)

    def next_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def features(self) -> dict[str, Any]:
        if self._features is None:
            cli = RuntimeCLI(self.runtime_path, self.tmp / "features-root")
            result = cli("features")
            if result.returncode != 0:
                raise Skip(f"`features` is not supported: {result.stderr.strip()[-200:]}")
            try:
                self._features = dict(json.loads(result.stdout))
            except ValueError as exc:
                raise Fail(f"`features` printed invalid JSON: {exc}") from exc
        return self._features

    def close(self) -> None:
        for ctx in self.shared_ctxs:
            ctx.close()
        remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Ctx:
    """One check's world: its own --root, bundles and containers; `close()` removes them."""

    def __init__(self, suite: Suite, name: str) -> None:
        self.suite = suite
        self.dir = suite.tmp / name
        self.dir.mkdir(mode=0o755)
        self.runtime = RuntimeCLI(suite.runtime_path, self.dir / "state-root")
        self.containers: list[Container] = []
        self.cleanups: list[Callable[[], None]] = []

    def state(self, container_id: str) -> dict[str, Any] | None:
        result = self.runtime("state", container_id)
        if result.returncode != 0:
            return None
        try:
            return dict(json.loads(result.stdout))
        except ValueError:
            fail(f"state printed invalid JSON: {result.stdout[:200]!r}")
            raise

    def listed_ids(self) -> list[str]:
        result = self.runtime("list", "--format", "json")
        if result.returncode != 0 or not result.stdout.strip() or result.stdout.strip() == "null":
            return []
        try:
            return [str(c.get("id")) for c in json.loads(result.stdout) or []]
        except ValueError:
            return []

    def container(self, args: list[str] | None = None, rootfs: bool = True) -> Container:
        """A new bundle (copy of the rootfs template) and its default config; nothing is run yet."""
        name = self.suite.next_name("c")
        bundle = self.dir / name
        bundle.mkdir()
        if rootfs:
            shutil.copytree(self.suite.template, bundle / "rootfs", symlinks=True)
        cgroups_path = f"{self.suite.cgroup_parent}/{name}"
        config = base_config(args if args is not None else [PROBE_PATH], cgroups_path)
        container = Container(self, f"conf-{os.getpid()}-{name}", bundle, config)
        self.containers.append(container)
        return container

    def host_dir(self, name: str) -> Path:
        path = self.dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def expect_no_container(self, container: Container, what: str) -> None:
        """After a failed operation: no state, not listed, no cgroup, no process left behind."""
        problems = []
        if self.state(container.id) is not None:
            problems.append("`state` still reports it")
        if container.id in self.listed_ids():
            problems.append("`list` still shows it")
        if container.cgroups_path and cgroup_dirs(container.cgroups_path):
            problems.append(f"its cgroup {container.cgroups_path} exists")
        if container.rootfs.exists() and processes_rooted_in(container.rootfs):
            problems.append("a process rooted in its rootfs is alive")
        if problems:
            fail(f"{what}: " + "; ".join(problems))

    def expect_create_error(self, container: Container, what: str) -> subprocess.CompletedProcess[str]:
        result = container.create(check=False)
        if result.returncode == 0:
            fail(f"create succeeded with {what}")
        self.expect_no_container(container, f"after the failed create ({what})")
        return result

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
        for container in self.containers:
            container.cleanup()
            if container.cgroups_path.startswith(self.suite.cgroup_parent + "/"):
                remove_cgroup_tree(container.cgroups_path)


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class CheckDef:
    id: str
    func: Callable[[Ctx], None]
    doc: str


CHECKS: dict[str, CheckDef] = {}


def check(check_id: str) -> Callable[[Callable[[Ctx], None]], Callable[[Ctx], None]]:
    """Register a check; its docstring's first line says what it verifies."""

    def register(func: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        if check_id in CHECKS:
            raise ValueError(f"duplicate check id {check_id}")
        CHECKS[check_id] = CheckDef(check_id, func, (func.__doc__ or "").strip().splitlines()[0])
        return func

    return register


def iter_check_ids() -> Iterator[str]:
    return iter(sorted(CHECKS))
