"""Recovery: the world changed behind the runtime's back. Init killed from the host, a recorded pid
reused by another process, a state directory written by an older version (its state.json, fields
missing, an unknown "version", a corrupt file, a directory with no state file): `state`, `list` and
`delete` still behave, with a true answer or one clear error line, never a traceback, and never a
signal to a stranger.
"""

from __future__ import annotations

import marshal
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ociruntime.state.store import LEGACY_STATE_FILE, STATE_FILE
from tests.conftest import Bundle, BundleFactory, Runtime, kill_quietly, new_id
from tests.reliability.conftest import (
    assert_clean_exit,
    assert_no_trace,
    encode_legacy,
    process_alive,
    read_state_file,
    wait_status,
    wait_until,
    write_state_file,
)

pytestmark = [pytest.mark.root, pytest.mark.reliability]


@pytest.fixture
def container(runtime: Runtime, make_bundle: BundleFactory, no_trace: None) -> Iterator[tuple[str, Bundle]]:
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    runtime.ok("run", "-d", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    yield cid, bundle
    runtime("delete", "--force", cid)


def test_init_killed_behind_our_back(runtime: Runtime, container: tuple[str, Bundle]) -> None:
    cid, bundle = container
    pid = runtime.state(cid)["pid"]
    kill_quietly(pid)
    wait_until(lambda: runtime.state(cid)["status"] == "stopped", what="stopped")
    assert runtime.state(cid)["pid"] == 0
    result = runtime("kill", cid, "TERM")
    assert result.returncode == 1 and "container not running" in result.stderr
    assert cid in runtime.ok("list", "-q").stdout
    runtime.ok("delete", cid)
    assert_no_trace(runtime, bundle, cid, (pid,))


def test_pid_reused_by_a_stranger(runtime: Runtime, container: tuple[str, Bundle]) -> None:
    """Init died; its pid now belongs to another process (here: the state points at a host `sleep`
    with the old start time). Nothing may signal that process."""
    cid, bundle = container
    init = runtime.state(cid)["pid"]
    kill_quietly(init)
    wait_until(lambda: not process_alive(init), what="init gone")
    stranger = subprocess.Popen(["sleep", "1000"])
    try:
        doc = read_state_file(runtime, cid)
        doc["pid"] = stranger.pid  # init_start_time stays the old init's: it does not match the stranger's
        write_state_file(runtime, cid, doc)
        assert runtime.state(cid)["status"] == "stopped"
        assert runtime("kill", cid, "KILL").returncode == 1
        runtime.ok("delete", cid)
        assert stranger.poll() is None, "the stranger was killed"
        assert_no_trace(runtime, bundle, cid, (init,))
    finally:
        stranger.kill()
        stranger.wait()


def test_start_time_differs(runtime: Runtime, container: tuple[str, Bundle]) -> None:
    """The recorded start time no longer matches (a reused pid, simulated on init itself): the container
    counts as stopped, `kill` refuses to signal that pid, and `delete` still cleans the cgroup."""
    cid, bundle = container
    pid = runtime.state(cid)["pid"]
    doc = read_state_file(runtime, cid)
    doc["init_start_time"] += 1
    write_state_file(runtime, cid, doc)
    assert runtime.state(cid)["status"] == "stopped"
    assert runtime("kill", cid, "KILL").returncode == 1
    assert process_alive(pid), "kill signalled a pid whose start time does not match"
    runtime.ok("delete", cid)
    assert_no_trace(runtime, bundle, cid, (pid,))


Encoder = Callable[[object], bytes]
# Each variant turns the container's record into a file's bytes, with the encoder of the format under
# test: state.marshal (this version) or state.json (what earlier versions wrote).
OLD_FORMATS: dict[str, Callable[[dict[str, Any], Encoder], bytes]] = {
    "version 0": lambda d, enc: enc({**d, "version": 0}),
    "unknown future version": lambda d, enc: enc({**d, "version": 99, "new_field": {"x": 1}}),
    "no cgroup_created": lambda d, enc: enc({k: v for k, v in d.items() if k != "cgroup_created"}),
    "no config": lambda d, enc: enc({k: v for k, v in d.items() if k != "config"}),
    "no creator fields": lambda d, enc: enc({k: v for k, v in d.items() if not k.startswith("creator")}),
    "no phase": lambda d, enc: enc({k: v for k, v in d.items() if k != "phase"}),
    "unknown phase": lambda d, enc: enc({**d, "phase": "checkpointed"}),
    "pid as string": lambda d, enc: enc({**d, "pid": str(d["pid"])}),
    "cgroup_paths a list": lambda d, enc: enc({**d, "cgroup_paths": list(d["cgroup_paths"].values())}),
    "annotations null": lambda d, enc: enc({**d, "annotations": None}),
    "truncated file": lambda d, enc: enc(d)[:40],
    "empty file": lambda d, enc: b"",
    "not an object": lambda d, enc: enc([d]),
}
FORMATS: dict[str, Encoder] = {STATE_FILE: marshal.dumps, LEGACY_STATE_FILE: encode_legacy}
# Formats the runtime cannot make sense of: a clear error is right, and then `delete --force` must still
# get rid of the directory, or the id is stuck for ever.
BUGS: dict[str, str] = {}  # every format recovers now; a new bug goes here with its reason


def _variants() -> list[object]:
    return [
        pytest.param(v, marks=pytest.mark.xfail(reason=BUGS[v], strict=True)) if v in BUGS else v for v in OLD_FORMATS
    ]


@pytest.mark.parametrize("file_name", FORMATS)
@pytest.mark.parametrize("variant", _variants())
def test_state_from_older_version(
    variant: str, file_name: str, runtime: Runtime, container: tuple[str, Bundle], count: Callable[[str, int], None]
) -> None:
    cid, bundle = container
    pid = runtime.state(cid)["pid"]
    original = read_state_file(runtime, cid)
    content = OLD_FORMATS[variant](original, FORMATS[file_name])
    write_state_file(runtime, cid, content, legacy=file_name == LEGACY_STATE_FILE)
    count("old state formats", 1)
    try:
        for args in (("state", cid), ("list",), ("list", "--format", "json"), ("kill", cid, "0")):
            assert_clean_exit(runtime(*args))
        assert runtime("list", "-q").returncode == 0, "one bad state file must not break `list`"
        result = runtime("delete", "--force", cid)
        assert_clean_exit(result)
        # Whatever the runtime could read, `delete --force` must leave no container behind it.
        assert not (runtime.root / cid).exists(), f"{variant}: `delete --force` left the dir: {result.stderr}"
        kill_quietly(pid)  # had the runtime misread the state, stopping the container would be ours to do
        assert_no_trace(runtime, bundle, cid)
    finally:
        if (runtime.root / cid).exists():  # a bug kept the container: give the fixture a state it can delete
            write_state_file(runtime, cid, original)


@pytest.mark.parametrize("status", ["created", "running"])
def test_container_of_an_earlier_version(
    status: str, runtime: Runtime, make_bundle: BundleFactory, no_trace: None, count: Callable[[str, int], None]
) -> None:
    """An engine upgraded the runtime under a container made by an earlier version, which kept its
    record in state.json (JSON): every command still works on it, and the first save moves it to
    state.marshal."""
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id()
    runtime.ok("create", "-b", str(bundle.path), cid, stdin=subprocess.DEVNULL)
    if status == "running":
        runtime.ok("start", cid)
    before = runtime.ok("state", cid).stdout
    pid = runtime.state(cid)["pid"]
    write_state_file(runtime, cid, read_state_file(runtime, cid), legacy=True)
    count("old state formats", 1)
    directory = runtime.root / cid
    assert (directory / LEGACY_STATE_FILE).exists() and not (directory / STATE_FILE).exists()
    assert runtime.ok("state", cid).stdout == before  # the very same document
    assert runtime.ok("list", "-q").stdout == cid + "\n"
    runtime.ok("kill", cid, "0")
    if status == "created":
        runtime.ok("start", cid)  # writes the record again: in the new format, the old file gone
        assert not (directory / LEGACY_STATE_FILE).exists()
        assert read_state_file(runtime, cid)["phase"] == "running"
        assert runtime.state(cid)["status"] == "running"
    runtime.ok("kill", cid, "KILL")
    wait_status(runtime, cid, "stopped")
    runtime.ok("delete", cid)
    assert_no_trace(runtime, bundle, cid, (pid,))


def test_state_dir_without_state_file(runtime: Runtime, make_bundle: BundleFactory) -> None:
    """A directory with no state file (a create killed right after claiming the id): `list` skips it,
    `state` says the container does not exist, and `delete --force` must remove it."""
    (runtime.root / "orphan").mkdir(parents=True)
    assert runtime("state", "orphan").stderr == "ociruntime: container does not exist\n"
    assert runtime.ok("list", "-q").stdout == ""
    runtime.ok("delete", "--force", "orphan")
    assert not (runtime.root / "orphan").exists()


def test_signal_names_do_not_reach_strangers_after_delete(runtime: Runtime, container: tuple[str, Bundle]) -> None:
    """After delete, the old pid is never signalled again through the runtime."""
    cid, bundle = container
    pid = runtime.state(cid)["pid"]
    runtime.ok("kill", cid, "KILL")
    wait_until(lambda: runtime.state(cid)["status"] == "stopped", what="stopped")
    runtime.ok("delete", cid)
    assert runtime("kill", cid, "KILL").stderr == "ociruntime: container does not exist\n"
    assert_no_trace(runtime, bundle, cid, (pid,))
    assert signal.SIGKILL  # imported for readers: the signal the scenario is about
