"""Concurrency: a storm of mixed commands (state, kill, pause/resume, exec, delete, list) run in parallel
as separate runtime processes, against one container and against many. Meanwhile a reader parses every
state file over and over. No corrupted state file, no lost container, no deadlock (every command has a
timeout), and every command ends with success or one clear error line.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

import pytest

from ociruntime.state.store import STATE_FILE, Record
from tests.conftest import Bundle, BundleFactory, Runtime, new_id
from tests.reliability.conftest import RUNTIME_ERROR, assert_no_trace, env_int, wait_status

pytestmark = [pytest.mark.root, pytest.mark.reliability]

STORM = env_int("OCIRUNTIME_STORM_COMMANDS", 100)
WORKERS = 16
COMMAND_TIMEOUT = 60.0
Command = tuple[str, ...]


def mixed_commands(ids: list[str], n: int, seed: int) -> list[Command]:
    rng = random.Random(seed)
    kinds: list[Callable[[str], Command]] = [
        lambda c: ("state", c),
        lambda c: ("kill", c, "SIGWINCH"),  # ignored by sleep as PID 1: the container keeps running
        lambda c: ("kill", c, "0"),
        lambda c: ("pause", c),
        lambda c: ("resume", c),
        lambda c: ("exec", c, "true"),
        lambda c: ("delete", c),  # refused: the container runs
        lambda c: ("list",),
    ]
    return [rng.choice(kinds)(rng.choice(ids)) for _ in range(n)]


class Storm:
    """Runs commands in parallel; classifies each outcome; a reader thread parses every state file."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.outcomes: Counter[str] = Counter()
        self.problems: list[str] = []
        self.state_reads = 0

    def one(self, cmd: Command) -> None:
        try:
            result = self.runtime(*cmd, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.problems.append(f"{cmd}: no answer within {COMMAND_TIMEOUT}s (deadlock?)")
            return
        if "Traceback" in result.stderr or result.returncode not in (0, 1):
            self.problems.append(f"{cmd}: rc={result.returncode} {result.stderr!r}")
        elif result.returncode == 1 and "invalid choice: 'pause'" in result.stderr:
            self.outcomes["pause: unknown command"] += 1
        elif result.returncode == 1 and not RUNTIME_ERROR.fullmatch(result.stderr):
            self.problems.append(f"{cmd}: not one error line: {result.stderr!r}")
        else:
            self.outcomes[f"{cmd[0]}: {'ok' if result.returncode == 0 else 'error'}"] += 1

    def run(self, commands: list[Command], resume: tuple[str, ...] | list[str] = ()) -> None:
        """`resume`: containers resumed every 2 s once every command has started, as an engine would
        resume a paused container: an exec that checked the status just before a pause froze the
        container waits for that resume (exec takes no lock, see RELIABILITY.md)."""
        with self.reading_states(), ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(self.one, cmd) for cmd in commands]
            deadline = time.monotonic() + 2 * COMMAND_TIMEOUT
            while wait(futures, timeout=2).not_done and time.monotonic() < deadline:
                if all(f.running() or f.done() for f in futures):
                    for cid in resume:
                        self.runtime("resume", cid, timeout=COMMAND_TIMEOUT)
        assert self.problems == [], self.problems
        assert self.state_reads > 0

    @contextmanager
    def reading_states(self) -> Iterator[None]:
        stop = threading.Event()

        def reader() -> None:
            deadline = time.monotonic() + 10 * COMMAND_TIMEOUT
            while not stop.is_set() and time.monotonic() < deadline:
                for path in self.runtime.root.glob(f"*/{STATE_FILE}"):
                    try:
                        data = path.read_bytes()
                    except FileNotFoundError:
                        continue  # deleted meanwhile
                    try:
                        Record.from_bytes(data)
                    except (ValueError, EOFError, KeyError, TypeError) as e:
                        self.problems.append(f"{path}: corrupt state file: {e}")
                    self.state_reads += 1
                time.sleep(0.005)

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)


def start_containers(runtime: Runtime, make_bundle: BundleFactory, n: int) -> dict[str, Bundle]:
    made = {}
    for _ in range(n):
        bundle = make_bundle(["sleep", "1000"])
        cid = new_id()
        runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
        made[cid] = bundle
    return made


def settle_and_check_running(runtime: Runtime, ids: list[str]) -> None:
    """After the storm: each container is still there, resumed it runs, and it still takes an exec."""
    for cid in ids:
        if runtime.state(cid)["status"] == "paused":
            runtime.ok("resume", cid)
        wait_status(runtime, cid, "running")
        runtime.ok("exec", cid, "true", stdin=subprocess.DEVNULL)


def test_storm_against_one_container(
    runtime: Runtime, make_bundle: BundleFactory, count: Callable[[str, int], None], no_trace: None
) -> None:
    containers = start_containers(runtime, make_bundle, 1)
    ids = list(containers)
    storm = Storm(runtime)
    storm.run(mixed_commands(ids, STORM, seed=1), resume=ids)
    count("concurrent commands", STORM)
    settle_and_check_running(runtime, ids)
    print(dict(storm.outcomes), "state file reads:", storm.state_reads)
    for cid, bundle in containers.items():
        runtime.ok("delete", "--force", cid)
        assert_no_trace(runtime, bundle, cid)


def test_storm_against_many_containers(
    runtime: Runtime, make_bundle: BundleFactory, count: Callable[[str, int], None], no_trace: None
) -> None:
    containers = start_containers(runtime, make_bundle, 8)
    ids = list(containers)
    victims, survivors = ids[:3], ids[3:]
    commands = mixed_commands(ids, STORM, seed=2)
    for i, cid in enumerate(victims):  # `delete --force` lands in the middle of the storm
        commands.insert(len(commands) // 2 + i * 7, ("delete", "--force", cid))
    storm = Storm(runtime)
    storm.run(commands, resume=survivors)
    count("concurrent commands", len(commands))
    print(dict(storm.outcomes), "state file reads:", storm.state_reads)
    for cid in victims:
        assert runtime("state", cid).stderr == "ociruntime: container does not exist\n"
        assert_no_trace(runtime, containers[cid], cid)
    listed = {c["id"] for c in json.loads(runtime.ok("list", "--format", "json").stdout) or []}
    assert listed == set(survivors), "a container was lost (or a deleted one came back)"
    settle_and_check_running(runtime, survivors)
    for cid in survivors:
        runtime.ok("delete", "--force", cid)
        assert_no_trace(runtime, containers[cid], cid)


def test_concurrent_creates_of_one_id(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """Ten creates race for one id: exactly one wins, the others say it exists, nothing is half-made."""
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    storm = Storm(runtime)
    storm.run([("create", "-b", str(bundle.path), cid)] * 10)
    assert storm.outcomes["create: ok"] == 1, storm.outcomes
    assert runtime.state(cid)["status"] == "created"
    runtime.ok("delete", cid)
    assert_no_trace(runtime, bundle, cid)


def test_concurrent_deletes_and_starts(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> None:
    """start, delete --force and state race on a created container: it ends deleted, whatever the order."""
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    pid = runtime.state(cid)["pid"]
    commands: list[Command] = [("start", cid), ("state", cid), ("kill", cid, "KILL")] * 5
    commands += [("delete", "--force", cid)] * 5
    random.Random(3).shuffle(commands)
    Storm(runtime).run(commands)
    runtime.ok("delete", "--force", cid)
    assert_no_trace(runtime, bundle, cid, (pid,))
