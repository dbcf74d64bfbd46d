"""The state store (ociruntime.state.store) on a tmp_path root: ids, records, atomic saves, locking."""

from __future__ import annotations

import fcntl
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ociruntime import errors
from ociruntime.state import store as store_mod
from ociruntime.state.status import Phase, Status
from ociruntime.state.store import (
    FIFO_NAME,
    STATE_FILE,
    Observed,
    Record,
    Store,
    check_id,
    rfc3339_now,
)


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "state"))


def record(container_id: str = "c1", **overrides: object) -> Record:
    fields: dict[str, object] = {
        "id": container_id,
        "bundle": "/bundles/b",
        "rootfs": "/bundles/b/rootfs",
        "created": "2024-01-02T03:04:05.000000006Z",
        "owner": "",
        "phase": Phase.CREATED,
    }
    fields.update(overrides)
    return Record(**fields)  # type: ignore[arg-type]


# --- check_id --------------------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["a", "A", "0", "abc", "a.b", "a_b", "a-b", "a+b", "9x-Y_z.1+2", "a" * 1024, "a.."])
def test_check_id_accepts(good: str) -> None:
    check_id(good)


@pytest.mark.parametrize(
    "bad",
    ["../x", "a/b", ".", "..", "", "a" * 1025, "-x", "-", "_x", ".x", "+x", "a b", "a\n", "a\x00", "é", "/abs", "a:b"],
)
def test_check_id_rejects(bad: str) -> None:
    with pytest.raises(errors.InvalidContainerId) as info:
        check_id(bad)
    assert info.value.container_id == bad


def test_invalid_id_message() -> None:
    with pytest.raises(errors.InvalidContainerId) as info:
        check_id("a/b")
    assert str(info.value) == (
        "invalid container id 'a/b': it must match [A-Za-z0-9][A-Za-z0-9_.+-]* and be at most 1024 characters"
    )


def test_path_checks_id(store: Store) -> None:
    with pytest.raises(errors.InvalidContainerId):
        store.path("../escape")
    assert store.path("c1") == os.path.join(store.root, "c1")
    assert store.path("c1", STATE_FILE) == os.path.join(store.root, "c1", "state.json")
    assert store.fifo_path("c1") == os.path.join(store.root, "c1", "exec.fifo")


def test_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Store("rel/root").root == str(tmp_path / "rel" / "root")


# --- container directories -------------------------------------------------------------------------


def test_make_container_dir(store: Store) -> None:
    path = store.make_container_dir("c1")
    assert path == os.path.join(store.root, "c1")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o711
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700


def test_make_container_dir_twice(store: Store) -> None:
    store.make_container_dir("c1")
    with pytest.raises(errors.ContainerExists) as info:
        store.make_container_dir("c1")
    assert str(info.value) == "container with id exists: c1"
    assert info.value.container_id == "c1"


def test_make_container_dir_rejects_bad_id(store: Store) -> None:
    with pytest.raises(errors.InvalidContainerId):
        store.make_container_dir("..")
    assert not os.path.exists(store.root)


def test_make_container_dir_root_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(errors.StateError):
        Store(str(tmp_path / "file")).make_container_dir("c1")


def test_make_fifos(store: Store) -> None:
    store.make_container_dir("c1")
    start, result = store.make_fifos("c1")
    assert start == os.path.join(store.root, "c1", FIFO_NAME)
    assert result == os.path.join(store.root, "c1", "exec.result")
    for path in (start, result):
        st = os.stat(path)
        assert stat.S_ISFIFO(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600


def test_remove(store: Store) -> None:
    store.make_container_dir("c1")
    store.save(record())
    store.remove("c1")
    assert os.listdir(store.root) == []
    store.remove("c1")  # idempotent


# --- Record --------------------------------------------------------------------------------------


def test_record_round_trip() -> None:
    rec = record(
        phase=Phase.RUNNING,
        pid=42,
        init_start_time=123456,
        creator_pid=7,
        creator_start_time=99,
        annotations={"a": "b"},
        cgroup_paths={"": "/sys/fs/cgroup/x", "memory": "/sys/fs/cgroup/memory/x"},
        cgroup_created=["/sys/fs/cgroup/x"],
        config={"ociVersion": "1.3.0", "process": {"args": ["sh"]}},
    )
    text = rec.to_json()
    back = Record.from_json(text)
    assert back == rec
    assert back.phase is Phase.RUNNING
    doc = json.loads(text)
    assert doc["phase"] == "running"
    assert doc["version"] == 1
    assert "\n" not in text


def test_record_defaults() -> None:
    rec = record()
    assert (rec.pid, rec.init_start_time, rec.creator_pid, rec.creator_start_time) == (0, 0, 0, 0)
    assert rec.annotations == {} and rec.cgroup_paths == {} and rec.cgroup_created == [] and rec.config == {}
    assert rec.version == 1


def test_record_ignores_unknown_fields() -> None:
    doc = json.loads(record().to_json())
    doc["from_a_newer_version"] = True
    assert Record.from_json(json.dumps(doc)) == record()


# --- save / load -----------------------------------------------------------------------------------


def test_save_and_load(store: Store) -> None:
    store.make_container_dir("c1")
    rec = record(pid=5)
    store.save(rec)
    assert store.load("c1") == rec


def test_save_is_atomic_and_private(store: Store) -> None:
    directory = store.make_container_dir("c1")
    store.save(record(pid=1))
    store.save(record(pid=2))
    assert os.listdir(directory) == [STATE_FILE]
    path = os.path.join(directory, STATE_FILE)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o711
    assert store.load("c1").pid == 2


def test_save_failure_keeps_old_state_and_no_temp(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = store.make_container_dir("c1")
    store.save(record(pid=1))

    def failing_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device", src)

    monkeypatch.setattr(store_mod.os, "rename", failing_rename)
    with pytest.raises(errors.StateError) as info:
        store.save(record(pid=2))
    monkeypatch.undo()
    assert str(info.value) == f"{directory}: cannot write state.json: No space left on device"
    assert os.listdir(directory) == [STATE_FILE]
    assert store.load("c1").pid == 1


def test_save_into_missing_dir(store: Store) -> None:
    with pytest.raises(errors.StateError):
        store.save(record())


def test_load_missing(store: Store) -> None:
    with pytest.raises(errors.ContainerNotFound) as info:
        store.load("nosuch")
    assert str(info.value) == "container does not exist"
    assert info.value.container_id == "nosuch"


def test_load_dir_without_state(store: Store) -> None:
    store.make_container_dir("c1")
    with pytest.raises(errors.ContainerNotFound):
        store.load("c1")


def test_load_when_id_is_a_file(store: Store) -> None:
    os.makedirs(store.root)
    Path(store.root, "c1").write_text("")
    with pytest.raises(errors.ContainerNotFound):
        store.load("c1")


def test_load_invalid_id(store: Store) -> None:
    with pytest.raises(errors.InvalidContainerId):
        store.load("../etc")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "not json",
        '{"id": "c1"}',
        '{"id": "c1", "bundle": "b", "rootfs": "r", "created": "t", "owner": "", "phase": "bogus"}',
        '{"bundle": "b", "rootfs": "r", "created": "t", "owner": "", "phase": "created"}',
    ],
)
def test_load_corrupt(store: Store, text: str) -> None:
    directory = store.make_container_dir("c1")
    Path(directory, STATE_FILE).write_text(text)
    with pytest.raises(errors.StateError) as info:
        store.load("c1")
    assert str(info.value).startswith(f"{os.path.join(directory, STATE_FILE)}: corrupt state file: ")


@pytest.mark.parametrize("text", ["[]", "null", "3"])
def test_load_corrupt_non_object(store: Store, text: str) -> None:
    directory = store.make_container_dir("c1")
    Path(directory, STATE_FILE).write_text(text)
    with pytest.raises(errors.StateError):
        store.load("c1")


# --- list_ids --------------------------------------------------------------------------------------


def test_list_ids_missing_root(store: Store) -> None:
    assert store.list_ids() == []


def test_list_ids_ignores_strays(store: Store) -> None:
    for cid in ("b", "a", "c-3"):
        store.make_container_dir(cid)
    Path(store.root, "stray-file").write_text("")
    os.mkdir(os.path.join(store.root, ".hidden"))
    os.mkdir(os.path.join(store.root, "-dash"))
    Path(store.root, ".state.json.123").write_text("")
    os.symlink("/nonexistent", os.path.join(store.root, "dangling"))
    assert store.list_ids() == ["a", "b", "c-3"]


# --- locked --------------------------------------------------------------------------------------


def test_locked_missing(store: Store) -> None:
    with pytest.raises(errors.ContainerNotFound), store.locked("nosuch"):
        pytest.fail("entered the lock of a missing container")


def test_locked_removed_dir(store: Store) -> None:
    store.make_container_dir("c1")
    store.remove("c1")
    with pytest.raises(errors.ContainerNotFound) as info, store.locked("c1"):
        pytest.fail("entered the lock of a removed container")
    assert str(info.value) == "container does not exist"


def test_locked_removed_while_waiting(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder before us deleted the container: we must not act on the orphaned directory."""
    store.make_container_dir("c1")
    real_flock = fcntl.flock

    def flock_after_delete(fd: int, op: int) -> None:
        store.remove("c1")
        real_flock(fd, op)

    monkeypatch.setattr(store_mod.fcntl, "flock", flock_after_delete)
    with pytest.raises(errors.ContainerNotFound), store.locked("c1"):
        pytest.fail("entered the lock of a container deleted while waiting")


def test_locked_is_exclusive(store: Store) -> None:
    directory = store.make_container_dir("c1")
    with store.locked("c1"):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on exit
    finally:
        os.close(fd)


def test_locked_invalid_id(store: Store) -> None:
    with pytest.raises(errors.InvalidContainerId), store.locked("a/b"):
        pass


# --- Observed.oci_state ----------------------------------------------------------------------------


def test_oci_state_running() -> None:
    rec = record(pid=42, owner="root")
    assert Observed(rec, Status.RUNNING).oci_state() == {
        "ociVersion": "1.3.0",
        "id": "c1",
        "pid": 42,
        "status": "running",
        "bundle": "/bundles/b",
        "rootfs": "/bundles/b/rootfs",
        "created": "2024-01-02T03:04:05.000000006Z",
        "owner": "root",
    }


def test_oci_state_stopped_has_pid_zero() -> None:
    doc = Observed(record(pid=42), Status.STOPPED).oci_state()
    assert doc["pid"] == 0
    assert doc["status"] == "stopped"


@pytest.mark.parametrize("status", [Status.CREATING, Status.CREATED, Status.PAUSED])
def test_oci_state_other_statuses_keep_pid(status: Status) -> None:
    doc = Observed(record(pid=42), status).oci_state()
    assert (doc["pid"], doc["status"]) == (42, status.value)


def test_oci_state_annotations_only_when_present() -> None:
    assert "annotations" not in Observed(record(), Status.CREATED).oci_state()
    doc = Observed(record(annotations={"k": "v"}), Status.CREATED).oci_state()
    assert doc["annotations"] == {"k": "v"}


def test_oci_state_validates_against_state_schema() -> None:
    from ociruntime.spec.schema import validate_state

    validate_state(Observed(record(pid=42, annotations={"k": "v"}), Status.RUNNING).oci_state())
    validate_state(Observed(record(), Status.STOPPED).oci_state())


# --- observe (status from the record, with no live process) ------------------------------------------


def test_observe_dead_pid_is_stopped(store: Store) -> None:
    store.make_container_dir("c1")
    store.save(record(pid=0, phase=Phase.RUNNING))
    observed = store.observe("c1")
    assert observed.status is Status.STOPPED
    assert observed.oci_state()["pid"] == 0


def test_observe_own_process_created_with_fifo(store: Store) -> None:
    from ociruntime.linux import procfs

    me = os.getpid()
    start = procfs.start_time(me)
    store.make_container_dir("c1")
    store.save(record(pid=me, init_start_time=start, phase=Phase.CREATED))
    store.make_fifos("c1")
    # Created means init still holds exec.fifo (here: this test, standing in for init).
    holder = os.open(store.fifo_path("c1"), os.O_RDWR)
    assert store.observe("c1").status is Status.CREATED
    os.close(holder)
    # The fifo alone is not enough: a `start` killed after its write leaves it while the program runs.
    assert store.observe("c1").status is Status.RUNNING
    os.unlink(store.fifo_path("c1"))
    assert store.observe("c1").status is Status.RUNNING
    store.save(record(pid=me, init_start_time=(start or 0) + 1, phase=Phase.RUNNING))
    assert store.observe("c1").status is Status.STOPPED


# --- rfc3339_now -----------------------------------------------------------------------------------


def test_rfc3339_now_format() -> None:
    value = rfc3339_now()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z", value), value


def test_rfc3339_now_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod.time, "time_ns", lambda: 1_700_000_000_000_000_042)
    assert rfc3339_now() == "2023-11-14T22:13:20.000000042Z"
