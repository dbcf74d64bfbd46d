#!/usr/bin/env python3
"""Latency benchmark of ociruntime against runc (the reference runtime).

Every measured operation is run alternately for each runtime (A B A B ...),
so that slow drifts of the machine affect all runtimes alike.  See
bench/README.md for what is measured.

Usage: python3 bench/bench.py [--runs N] [--runtime NAME=PATH ...] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import datetime
import errno
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MAKE_ROOTFS = REPO / "bundles" / "make-rootfs"
REFERENCE = "runc"
CGROUP_PARENT = "ociruntime-bench"
COMMAND_TIMEOUT = 60.0  # seconds, for any single runtime call
STOP_TIMEOUT = 10.0  # seconds to wait for a container to reach "stopped"
CONCURRENT = 50  # containers created and started at once (issue #10, target 3)

# Operations, in the order they appear in the table.
OP_RUN = "run (true)"
OP_CREATE = "create"
OP_START = "start"
OP_DELETE = "delete --force"
OP_CYCLE = "create+start+delete"
OP_STATE_CREATED = "state (created)"
OP_STATE_RUNNING = "state (running)"
OP_KILL = "kill KILL (running)"
OP_KILL_CREATED = "kill KILL (created)"
OP_CONCURRENT = f"{CONCURRENT} x (create+start), delete"
OPERATIONS = [
    OP_RUN,
    OP_CREATE,
    OP_START,
    OP_DELETE,
    OP_CYCLE,
    OP_STATE_CREATED,
    OP_STATE_RUNNING,
    OP_KILL,
    OP_KILL_CREATED,
    OP_CONCURRENT,
]
# Memory figures (MB), in a table of their own.
MEM_WAITING_INIT = "waiting init PSS"
MEM_CONCURRENT_PEAK = f"peak PSS, {CONCURRENT} concurrent"
MEMORY = [MEM_WAITING_INIT, MEM_CONCURRENT_PEAK]


class BenchError(Exception):
    """A runtime call failed or the environment is unusable."""


class Terminated(BaseException):
    """Raised from the SIGTERM/SIGHUP handler so that cleanup still runs."""


@dataclass(eq=False)
class Runtime:
    name: str
    path: str
    root: Path | None = None
    failure: str | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)

    def record(self, op: str, seconds: float) -> None:
        self.samples.setdefault(op, []).append(seconds)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


# ---------------------------------------------------------------------------
# Running commands
# ---------------------------------------------------------------------------


def execute(
    argv: list[str], capture_stdout: bool = False, timeout: float = COMMAND_TIMEOUT, cwd: Path | None = None
) -> Result:
    """Run argv with stdin=/dev/null and return its status and timing.

    stdout/stderr go to temporary files rather than pipes: after `create` the
    container's init process inherits them and keeps them open, so waiting
    for EOF on a pipe would hang.  The child gets its own session so that a
    Ctrl-C at the terminal reaches only this script; an interrupted call is
    given a few seconds to finish so that the runtime's state stays
    consistent for the cleanup.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out if capture_stdout else subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            cwd=cwd,
        )
        # Popen.wait(timeout=...) polls with growing sleeps, which would
        # quantise the measurements; block in waitpid() and let a timer
        # thread enforce the timeout instead.
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            proc.wait()
        except BaseException:
            try:
                proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, KeyboardInterrupt, Terminated):
                proc.kill()
                proc.wait()
            raise
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - start
        if timed_out.is_set():
            raise BenchError(f"timed out after {timeout:g}s: {' '.join(argv)}")
        out.seek(0)
        err.seek(0)
        return Result(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            seconds,
        )


def check(result: Result, argv: list[str]) -> Result:
    if result.returncode != 0:
        detail = result.stderr.strip() or "(no stderr)"
        raise BenchError(f"`{' '.join(argv)}` exited with status {result.returncode}: {detail}")
    return result


class Bench:
    """Owns every resource the benchmark creates and removes them in cleanup()."""

    def __init__(self, runtimes: list[Runtime], runs: int, warmup: int) -> None:
        self.runtimes = runtimes
        self.runs = runs
        self.warmup = warmup
        self.session = secrets.token_hex(4)
        self.tmp = Path(tempfile.mkdtemp(prefix="ociruntime-bench-"))
        self.rootfs = self.tmp / "rootfs"
        self.bundles = self.tmp / "bundles"
        self.base_config: dict[str, Any] = {}
        self.live: list[tuple[Runtime, str]] = []  # containers not yet deleted
        self.counter = 0

    # -- setup ---------------------------------------------------------------

    def setup(self) -> None:
        if not MAKE_ROOTFS.is_file():
            raise BenchError(f"{MAKE_ROOTFS} is missing")
        self.base_config = self.default_config()
        proc = subprocess.run(
            [str(MAKE_ROOTFS), str(self.rootfs)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if proc.returncode != 0:
            raise BenchError("make-rootfs failed: " + proc.stdout.decode(errors="replace").strip())
        self.bundles.mkdir()
        for rt in self.runtimes:
            rt.root = self.tmp / ("root-" + safe_name(rt.name))
            rt.root.mkdir(mode=0o700)

    def default_config(self) -> dict[str, Any]:
        """The config `ociruntime spec` writes (issue #10 measures that one), the same for every runtime."""
        ours = next((rt for rt in self.runtimes if rt.name != REFERENCE), self.runtimes[0])
        where = self.tmp / "spec"
        where.mkdir()
        check(execute([ours.path, "spec"], cwd=where), [ours.path, "spec"])
        config: dict[str, Any] = json.loads((where / "config.json").read_text())
        return config

    def new_bundle(self, rt: Runtime, op: str, args: list[str]) -> tuple[str, Path]:
        """Write a bundle for a new container; return (container id, bundle)."""
        self.counter += 1
        cid = f"bench-{self.session}-{safe_name(rt.name)}-{op}-{self.counter}"
        cfg = copy.deepcopy(self.base_config)
        cfg["process"]["args"] = args
        cfg["process"]["terminal"] = False
        cfg["root"] = {"path": str(self.rootfs), "readonly": True}
        cfg.setdefault("linux", {})["cgroupsPath"] = f"/{CGROUP_PARENT}/{self.session}/{cid}"
        bundle = self.bundles / cid
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
        return cid, bundle

    # -- runtime calls -------------------------------------------------------

    def call(self, rt: Runtime, *args: str, capture_stdout: bool = False) -> Result:
        assert rt.root is not None
        argv = [rt.path, "--root", str(rt.root), *args]
        return check(execute(argv, capture_stdout=capture_stdout), argv)

    def status(self, rt: Runtime, cid: str, result: Result | None = None) -> str:
        if result is None:
            result = self.call(rt, "state", cid, capture_stdout=True)
        try:
            state = json.loads(result.stdout)
            return str(state["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{rt.name} state {cid}: unexpected output {result.stdout!r}") from exc

    def wait_stopped(self, rt: Runtime, cid: str) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while (status := self.status(rt, cid)) != "stopped":
            if time.monotonic() > deadline:
                raise BenchError(f"{rt.name}: {cid} still {status!r} after {STOP_TIMEOUT:.0f}s")
            time.sleep(0.005)

    def delete(self, rt: Runtime, cid: str) -> Result:
        result = self.call(rt, "delete", "--force", cid)
        self.live.remove((rt, cid))
        return result

    # -- the measured operations ---------------------------------------------

    def op_run(self, rt: Runtime, record: bool) -> None:
        cid, bundle = self.new_bundle(rt, "run", ["true"])
        self.live.append((rt, cid))
        result = self.call(rt, "run", "--bundle", str(bundle), cid)
        # `run` deletes the container itself once it exited.
        self.live.remove((rt, cid))
        if record:
            rt.record(OP_RUN, result.seconds)

    def op_cycle(self, rt: Runtime, record: bool) -> None:
        cid, bundle = self.new_bundle(rt, "cycle", ["true"])
        self.live.append((rt, cid))
        created = self.call(rt, "create", "--bundle", str(bundle), cid)
        started = self.call(rt, "start", cid)
        self.wait_stopped(rt, cid)  # `true` exits at once; not timed
        deleted = self.delete(rt, cid)
        if record:
            rt.record(OP_CREATE, created.seconds)
            rt.record(OP_START, started.seconds)
            rt.record(OP_DELETE, deleted.seconds)
            rt.record(OP_CYCLE, created.seconds + started.seconds + deleted.seconds)

    def op_state_kill(self, rt: Runtime, record: bool) -> None:
        cid, bundle = self.new_bundle(rt, "sleep", ["sleep", "1000"])
        self.live.append((rt, cid))
        self.call(rt, "create", "--bundle", str(bundle), cid)
        state_created = self.call(rt, "state", cid, capture_stdout=True)
        if (status := self.status(rt, cid, state_created)) != "created":
            raise BenchError(f"{rt.name}: {cid} is {status!r} after create")
        waiting_init = pss_mb(int(json.loads(state_created.stdout)["pid"]))
        self.call(rt, "start", cid)
        state_running = self.call(rt, "state", cid, capture_stdout=True)
        if (status := self.status(rt, cid, state_running)) != "running":
            raise BenchError(f"{rt.name}: {cid} is {status!r} after start")
        killed = self.call(rt, "kill", cid, "KILL")
        self.wait_stopped(rt, cid)
        self.delete(rt, cid)
        if record:
            rt.record(OP_STATE_CREATED, state_created.seconds)
            rt.record(OP_STATE_RUNNING, state_running.seconds)
            rt.record(OP_KILL, killed.seconds)
            rt.record(MEM_WAITING_INIT, waiting_init)

    def op_kill_created(self, rt: Runtime, record: bool) -> None:
        cid, bundle = self.new_bundle(rt, "kill", ["sleep", "1000"])
        self.live.append((rt, cid))
        self.call(rt, "create", "--bundle", str(bundle), cid)
        killed = self.call(rt, "kill", cid, "KILL")
        self.wait_stopped(rt, cid)
        self.delete(rt, cid)
        if record:
            rt.record(OP_KILL_CREATED, killed.seconds)

    def op_concurrent(self, rt: Runtime, record: bool) -> None:
        """CONCURRENT containers created and started at once, then all deleted at once: the wall time."""
        wall, _ = self.concurrent_round(rt, sample_memory=False)
        if record:
            rt.record(OP_CONCURRENT, wall)

    def op_concurrent_memory(self, rt: Runtime, record: bool) -> None:
        """The same again (not timed), with the memory of every runtime process summed meanwhile: the
        sampler reads /proc, which would slow the timed round down."""
        _, peak = self.concurrent_round(rt, sample_memory=True)
        if record:
            rt.record(MEM_CONCURRENT_PEAK, peak)

    def concurrent_round(self, rt: Runtime, *, sample_memory: bool) -> tuple[float, float]:
        made = [self.new_bundle(rt, "many", ["sleep", "1000"]) for _ in range(CONCURRENT)]
        self.live.extend((rt, cid) for cid, _ in made)
        sampler = PeakMemory(rt.path) if sample_memory else None
        began = time.perf_counter()

        def create_start(cid: str, bundle: Path) -> None:
            self.call(rt, "create", "--bundle", str(bundle), cid)
            self.call(rt, "start", cid)

        try:
            in_parallel([lambda c=cid, b=bundle: create_start(c, b) for cid, bundle in made])
            in_parallel([lambda c=cid: self.delete(rt, c) for cid, _ in made])
        finally:
            peak = sampler.stop() if sampler is not None else 0.0
        return time.perf_counter() - began, peak

    def run(self) -> None:
        steps = [
            self.op_run, self.op_cycle, self.op_state_kill, self.op_kill_created,
            self.op_concurrent, self.op_concurrent_memory,
        ]  # fmt: skip
        total = self.warmup + self.runs
        progress = sys.stderr.isatty()
        for i in range(total):
            record = i >= self.warmup
            label = f"run {i - self.warmup + 1}/{self.runs}" if record else "warm-up"
            if progress:
                print(f"\r{label} ...", end="", file=sys.stderr, flush=True)
            for step in steps:
                for rt in self.runtimes:  # alternate: A B A B ...
                    if rt.failure is not None:
                        continue
                    try:
                        step(rt, record)
                    except BenchError as exc:
                        rt.failure = str(exc)
                        print(f"{rt.name}: FAILED: {exc}\n{rt.name}: no further measurements", file=sys.stderr)
                        for owner, cid in list(self.live):
                            if owner is rt:
                                force_delete(rt, cid)
                                self.live.remove((owner, cid))
            if all(rt.failure is not None for rt in self.runtimes):
                break
        if progress:
            print("\r" + " " * 40 + "\r", end="", file=sys.stderr, flush=True)

    # -- cleanup -------------------------------------------------------------

    def cleanup(self) -> list[str]:
        """Remove everything this run created; return what could not be removed."""
        problems: list[str] = []
        # 1. Containers: the ones we know about, then whatever the state dirs hold.
        for rt, cid in list(self.live):
            force_delete(rt, cid)
        for rt in self.runtimes:
            if rt.root is None or not rt.root.is_dir():
                continue
            leftovers = {entry.name for entry in rt.root.iterdir() if entry.is_dir()}
            try:
                listed = execute([rt.path, "--root", str(rt.root), "list", "--quiet"], capture_stdout=True, timeout=30)
                if listed.returncode == 0:
                    leftovers.update(listed.stdout.split())
            except (BenchError, OSError):
                pass
            for cid in sorted(leftovers):
                force_delete(rt, cid)
        # 2. Cgroups (this also catches orphaned processes of a half-made container).
        problems += remove_cgroups(self.session)
        # 3. Mounts a misbehaving runtime might have left below our temp dir.
        problems += unmount_below(self.tmp)
        # 4. Files.
        if any(is_mounted_below(self.tmp)):
            problems.append(f"{self.tmp}: still has mounts below it, not removed")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.tmp.exists():
                problems.append(f"{self.tmp}: could not be removed")
        return problems


def force_delete(rt: Runtime, cid: str) -> None:
    if rt.root is None:
        return
    try:
        execute([rt.path, "--root", str(rt.root), "delete", "--force", cid], timeout=30)
    except (BenchError, OSError):
        pass


def in_parallel(calls: list[Any]) -> None:
    """Run every call in a thread of its own, all at once; the first failure is raised after all ended."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        for future in futures:
            future.result()


def pss_mb(pid: int) -> float:
    """Proportional set size of one process, in MB (10**6 bytes)."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024 / 1e6
    raise BenchError(f"/proc/{pid}/smaps_rollup has no Pss line")


class PeakMemory:
    """Samples, until stop(), the summed PSS of every process running the runtime's program: the
    commands, and the processes they forked until those exec the container's program. A process is the
    runtime's while `path` is one of the first three words of its command line (argv[0] of runc and
    runc init; the script argument of an interpreter running ociruntime)."""

    def __init__(self, path: str) -> None:
        self.path = path.encode()
        self.peak = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.sample())

    def sample(self) -> float:
        total = 0.0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    words = f.read().split(b"\0", 3)[:3]
                if self.path in words:
                    total += pss_mb(int(name))
            except (OSError, ValueError, BenchError):
                continue  # exited meanwhile
        return total

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return self.peak


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "rt"


# ---------------------------------------------------------------------------
# Host-side cleanup helpers
# ---------------------------------------------------------------------------


def mountinfo() -> Iterator[tuple[str, str]]:
    """Yield (mount point, filesystem type) of the current mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            if len(fields) < 5 or not right:
                continue
            mountpoint = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            yield mountpoint, right.split()[0]


def cgroup_hierarchies() -> list[Path]:
    return [Path(mp) for mp, fstype in mountinfo() if fstype in ("cgroup", "cgroup2")]


def remove_cgroups(session: str) -> list[str]:
    """Remove /<CGROUP_PARENT>/<session> in every hierarchy, then the parent if empty."""
    problems: list[str] = []
    for hierarchy in cgroup_hierarchies():
        parent = hierarchy / CGROUP_PARENT
        ours = parent / session
        if ours.is_dir():
            kill_cgroup_processes(ours)
            dirs = sorted((Path(d) for d, _, _ in os.walk(ours)), key=lambda p: len(p.parts), reverse=True)
            for d in dirs:
                if not rmdir_retry(d):
                    problems.append(f"{d}: cgroup could not be removed")
        try:
            parent.rmdir()  # only succeeds if no other session is using it
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EBUSY, errno.EEXIST):
                problems.append(f"{parent}: {exc.strerror}")
    return problems


def kill_cgroup_processes(top: Path) -> None:
    """SIGKILL whatever still lives in the cgroups this run created."""
    for d, _, files in os.walk(top):
        if "cgroup.procs" not in files:
            continue
        try:
            pids = Path(d, "cgroup.procs").read_text().split()
        except OSError:
            continue
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError, PermissionError):
                pass


def rmdir_retry(path: Path, attempts: int = 40) -> bool:
    for _ in range(attempts):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            time.sleep(0.05)
    return False


def is_mounted_below(top: Path) -> list[str]:
    prefix = str(top).rstrip("/") + "/"
    return [mp for mp, _ in mountinfo() if mp == str(top) or mp.startswith(prefix)]


def unmount_below(top: Path) -> list[str]:
    problems: list[str] = []
    for mp in sorted(is_mounted_below(top), key=len, reverse=True):
        proc = subprocess.run(["umount", "-l", mp], capture_output=True, check=False)
        if proc.returncode != 0:
            problems.append(f"{mp}: could not unmount: {proc.stderr.decode().strip()}")
    return problems


# ---------------------------------------------------------------------------
# Runtimes, report
# ---------------------------------------------------------------------------


def default_runtimes() -> dict[str, str]:
    oci = shutil.which("ociruntime")
    venv = REPO / ".venv" / "bin" / "ociruntime"
    if oci is None and venv.exists():
        oci = str(venv)
    return {"ociruntime": oci or "ociruntime", REFERENCE: "/usr/bin/runc"}


def resolve(path: str) -> str | None:
    if not path:
        return None
    if "/" not in path:
        return shutil.which(path)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def first_lines(argv: list[str], count: int) -> list[str]:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ["n/a"]
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    return lines[:count] if proc.returncode == 0 and lines else ["n/a"]


def interpreter_of(path: str) -> str:
    """", run by <interpreter> <version>" for a script, "" for a binary."""
    with open(path, "rb") as f:
        head = f.readline()
    if not head.startswith(b"#!"):
        return ""
    interpreter = head[2:].split()[0].decode()
    return f", run by {interpreter} {' '.join(first_lines([interpreter, '--version'], 1))}"


def cpu_model() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def mem_total_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as f:
        return int(f.readline().split()[1]) / (1 << 20)


def cgroup_mode() -> str:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "v2 (unified)"
    if Path("/sys/fs/cgroup/unified").is_dir():
        return "v1 (hybrid)"
    return "v1"


def machine_info(runtimes: list[Runtime], runs: int) -> list[tuple[str, str]]:
    info = [
        ("date", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")),
        ("kernel", platform.release()),
        ("cpu", f"{cpu_model()}, {len(os.sched_getaffinity(0))} usable"),
        ("memory", f"{mem_total_gib():.0f} GiB"),
        ("cgroups", cgroup_mode()),
    ]
    for rt in runtimes:
        version = " / ".join(first_lines([rt.path, "--version"], 2))
        info.append((rt.name, f"{rt.path} ({version}{interpreter_of(rt.path)})"))
    info.append(("runs", str(runs)))
    return info


def table_rows(runtimes: list[Runtime], operations: list[str], scale: float) -> list[list[str]]:
    """One row per runtime and operation: n, min, median, max (samples times `scale`) and the ratio of
    the medians to the reference runtime's."""
    reference = next((rt for rt in runtimes if rt.name == REFERENCE), None)
    rows: list[list[str]] = []
    for op in operations:
        ref_samples = reference.samples.get(op) if reference else None
        ref_median = statistics.median(ref_samples) if ref_samples else None
        first = True
        for rt in runtimes:
            samples = rt.samples.get(op)
            if not samples:
                continue
            median = statistics.median(samples)
            ratio = "-"
            if ref_median and rt is not reference:
                ratio = _figure(median / ref_median)
            figures = [_figure(value * scale) for value in (min(samples), median, max(samples))]
            rows.append([op if first else "", rt.name, str(len(samples)), *figures, ratio])
            first = False
    return rows


def _figure(value: float) -> str:
    """Two decimals, or three significant digits below 0.1 (the stub's 8 kB is not "0.01 MB")."""
    return f"{value:.2f}" if value >= 0.1 or value == 0 else f"{value:.3g}"


def header(unit: str) -> list[str]:
    return ["operation", "runtime", "n", f"min {unit}", f"median {unit}", f"max {unit}", f"median / {REFERENCE}"]


def format_text(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = []
    for r in [head, *rows]:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def format_markdown(tables: list[tuple[list[str], list[list[str]]]], info: list[tuple[str, str]],
                    failures: list[str]) -> str:  # fmt: skip
    out = [f"Measured {info[0][1]} by `bench/bench.py`:", ""]
    out += [f"- {key}: `{value}`" for key, value in info[1:]]
    for head, rows in tables:
        out.append("")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|")
        out += ["| " + " | ".join(r) + " |" for r in rows]
    if failures:
        out.append("")
        out += [f"- FAILED: {f}" for f in failures]
    return "\n".join(out) + "\n"


BEGIN_MARK = "<!-- bench.py: begin (generated; rewritten by each run with --markdown) -->"
END_MARK = "<!-- bench.py: end -->"


def write_markdown(path: Path, text: str) -> None:
    """Put the results between the markers in `path` (the text around them is kept); appended with the
    markers when the file has none."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN_MARK}\n{text}{END_MARK}"
    if BEGIN_MARK in old and END_MARK in old:
        before, _, rest = old.partition(BEGIN_MARK)
        _, _, after = rest.partition(END_MARK)
        new = before + block + after
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + block + "\n"
    path.write_text(new, encoding="utf-8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time ociruntime against runc (alternating calls).")
    parser.add_argument(
        "--runs", type=int, default=20, metavar="N", help="measured repetitions of each operation (default 20)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, metavar="N", help="unmeasured repetitions done first (default 1)"
    )
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="runtime to bench (repeatable); overrides the default "
        "for NAME; an empty PATH drops NAME. Defaults: "
        "ociruntime (on PATH, else <repo>/.venv/bin/ociruntime) "
        "and runc=/usr/bin/runc",
    )
    parser.add_argument(
        "--markdown", metavar="FILE", type=Path,
        help="write the results and machine info into FILE (between its bench.py markers, else appended)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    for spec in args.runtime:
        if "=" not in spec or not spec.partition("=")[0]:
            parser.error(f"--runtime expects NAME=PATH, got {spec!r}")
    return args


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench.py: must be run as root (the runtimes need it)", file=sys.stderr)
        return 2

    wanted = default_runtimes()
    for spec in args.runtime:
        name, _, path = spec.partition("=")
        wanted[name] = path
    runtimes: list[Runtime] = []
    for name, path in wanted.items():
        if not path:
            continue
        found = resolve(path)
        if found is None:
            print(f"bench.py: {name}: not found ({path}); benchmarking without it", file=sys.stderr)
            continue
        runtimes.append(Runtime(name, found))
    if not runtimes:
        print("bench.py: no runtime to benchmark", file=sys.stderr)
        return 2
    for rt in runtimes:
        print(f"{rt.name}: {rt.path}", file=sys.stderr)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    bench = Bench(runtimes, args.runs, args.warmup)
    status = 0
    try:
        bench.setup()
        bench.run()
    except BenchError as exc:
        print(f"bench.py: {exc}", file=sys.stderr)
        status = 1
    except (KeyboardInterrupt, Terminated):
        print("\nbench.py: interrupted", file=sys.stderr)
        status = 130
    finally:
        # Cleanup must not be cut short by a second Ctrl-C or a SIGTERM.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        problems = bench.cleanup()
        for problem in problems:
            print(f"bench.py: cleanup: {problem}", file=sys.stderr)
        if problems:
            status = status or 1

    tables = [(header("ms"), table_rows(runtimes, OPERATIONS, 1000)), (header("MB"), table_rows(runtimes, MEMORY, 1))]
    tables = [(head, rows) for head, rows in tables if rows]
    for head, rows in tables:
        print(format_text(head, rows))
    failures = [f"{rt.name}: {rt.failure}" for rt in runtimes if rt.failure]
    if failures:
        status = status or 1
        for failure in failures:
            print(f"FAILED {failure}", file=sys.stderr)
    if args.markdown is not None and tables:
        write_markdown(args.markdown, format_markdown(tables, machine_info(runtimes, args.runs), failures))
    return status


if __name__ == "__main__":
    sys.exit(main())
