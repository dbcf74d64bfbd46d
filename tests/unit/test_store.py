"""The state store (ociruntime.state.store) on a tmp_path root: ids, records, atomic saves, locking."""

from __future__ import annotations

import fcntl
import json
import marshal
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
    CLEANUP_FILE,
    FIFO_NAME,
    LEGACY_STATE_FILE,
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
    assert store.path("c1", STATE_FILE) == os.path.join(store.root, "c1", "state.marshal")
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
    store.make_fifos("c1")
    store.save_cleanup("c1", {"": "/sys/fs/cgroup/x"}, ["/sys/fs/cgroup/x"])
    store.remove("c1")
    assert os.listdir(store.root) == []
    store.remove("c1")  # idempotent


def test_remove_takes_unexpected_entries_too(store: Store) -> None:
    """The runtime only writes files there; whatever else appeared must not keep the id taken."""
    directory = store.make_container_dir("c1")
    store.save(record())
    os.makedirs(os.path.join(directory, "stray", "deeper"))
    Path(directory, "stray", "deeper", "file").write_text("x")
    os.symlink("/nonexistent", os.path.join(directory, "dangling"))
    os.symlink(store.root, os.path.join(directory, "to-root"))  # followed by nothing: only unlinked
    store.remove("c1")
    assert os.listdir(store.root) == []


def test_remove_when_id_is_a_file(store: Store) -> None:
    os.makedirs(store.root)
    Path(store.root, "c1").write_text("")
    store.remove("c1")  # not a container directory: left alone, no error
    assert os.listdir(store.root) == ["c1"]


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
    data = rec.to_bytes()
    back = Record.from_bytes(data)
    assert back == rec
    assert back.phase is Phase.RUNNING
    doc = marshal.loads(data)
    assert doc["phase"] == "running"
    assert doc["version"] == 1
    assert list(doc) == list(Record.FIELDS)


def test_record_is_written_in_marshal_version_4(monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 4 (Python 3.4+) is pinned, not the running Python's newest: another Python (an upgrade
    under running containers) must read the files alike."""
    versions: list[int] = []
    real_dumps = marshal.dumps

    def dumps(value: object, version: int) -> bytes:
        versions.append(version)
        return real_dumps(value, version)

    monkeypatch.setattr(store_mod.marshal, "dumps", dumps)
    record().to_bytes()
    assert versions == [4]


def test_record_from_legacy_json() -> None:
    rec = record(pid=42, cgroup_paths={"": "/sys/fs/cgroup/x"}, cgroup_created=["/sys/fs/cgroup/x"])
    doc = marshal.loads(rec.to_bytes())
    assert Record.from_legacy_json(json.dumps(doc, separators=(",", ":")).encode()) == rec


def test_record_defaults() -> None:
    rec = record()
    assert (rec.pid, rec.init_start_time, rec.creator_pid, rec.creator_start_time) == (0, 0, 0, 0)
    assert rec.annotations == {} and rec.cgroup_paths == {} and rec.cgroup_created == [] and rec.config == {}
    assert rec.version == 1


def test_record_ignores_unknown_fields() -> None:
    doc = marshal.loads(record().to_bytes())
    doc["from_a_newer_version"] = True
    assert Record.from_bytes(marshal.dumps(doc)) == record()
    assert Record.from_legacy_json(json.dumps(doc).encode()) == record()


def test_record_phase_is_the_constant() -> None:
    """Status derivation compares phases; a loaded phase is the module's own constant, checked."""
    doc = marshal.loads(record(phase=Phase.CREATING).to_bytes())
    doc["phase"] = "".join(["creat", "ing"])  # a fresh str object, as a file gives
    assert Record.from_bytes(marshal.dumps(doc)).phase is Phase.CREATING


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
    assert str(info.value) == f"{directory}: cannot write state.marshal: No space left on device"
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


GOOD = {"id": "c1", "bundle": "b", "rootfs": "r", "created": "t", "owner": "", "phase": "created"}
CORRUPT_RECORDS: dict[str, bytes] = {
    "empty": b"",
    "truncated": marshal.dumps(GOOD)[:20],
    "not marshal": b"not marshal",
    "a JSON text": json.dumps(GOOD).encode(),
    "fields missing": marshal.dumps({"id": "c1"}),
    "unknown phase": marshal.dumps({**GOOD, "phase": "bogus"}),
    "no id": marshal.dumps({k: v for k, v in GOOD.items() if k != "id"}),
    "pid a str": marshal.dumps({**GOOD, "pid": "1"}),
    "annotations None": marshal.dumps({**GOOD, "annotations": None}),
    "a list": marshal.dumps([GOOD]),
    "None": marshal.dumps(None),
    "an int": marshal.dumps(3),
    "bytes": marshal.dumps(b"x"),
    "a tuple": marshal.dumps(tuple(GOOD.items())),
}


@pytest.mark.parametrize("data", CORRUPT_RECORDS.values(), ids=CORRUPT_RECORDS.keys())
def test_load_corrupt(store: Store, data: bytes) -> None:
    directory = store.make_container_dir("c1")
    Path(directory, STATE_FILE).write_bytes(data)
    with pytest.raises(errors.StateError) as info:
        store.load("c1")
    assert str(info.value).startswith(f"{os.path.join(directory, STATE_FILE)}: corrupt state file: ")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "not json",
        "\xff\xfe{",
        '{"id": "c1"}',
        '{"id": "c1", "bundle": "b", "rootfs": "r", "created": "t", "owner": "", "phase": "bogus"}',
        '{"bundle": "b", "rootfs": "r", "created": "t", "owner": "", "phase": "created"}',
        "[]",
        "null",
        "3",
    ],
)
def test_load_corrupt_legacy_json(store: Store, text: str) -> None:
    directory = store.make_container_dir("c1")
    Path(directory, LEGACY_STATE_FILE).write_bytes(text.encode("latin-1"))
    with pytest.raises(errors.StateError) as info:
        store.load("c1")
    assert str(info.value).startswith(f"{os.path.join(directory, LEGACY_STATE_FILE)}: corrupt state file: ")


# --- state.json of an earlier version --------------------------------------------------------------


def write_legacy(store: Store, rec: Record) -> str:
    """What an earlier version wrote: the same fields, as compact JSON in state.json."""
    path = store.path(rec.id, LEGACY_STATE_FILE)
    Path(path).write_text(json.dumps(marshal.loads(rec.to_bytes()), separators=(",", ":")))
    return path


def test_load_legacy_state_json(store: Store) -> None:
    store.make_container_dir("c1")
    rec = record(pid=5, phase=Phase.RUNNING, annotations={"a": "b"}, config={"process": {"args": ["sh"]}})
    write_legacy(store, rec)
    assert store.load("c1") == rec
    assert store.load("c1").phase is Phase.RUNNING


def test_load_legacy_without_cgroup_created(store: Store) -> None:
    """Older still: no cgroup_created field; the recorded leaves were always the container's own."""
    store.make_container_dir("c1")
    path = write_legacy(store, record(cgroup_paths={"": "/sys/fs/cgroup/x"}))
    doc = json.loads(Path(path).read_text())
    del doc["cgroup_created"]
    Path(path).write_text(json.dumps(doc))
    assert store.load("c1").cgroup_created == ["/sys/fs/cgroup/x"]


def test_save_replaces_legacy_state_json(store: Store) -> None:
    directory = store.make_container_dir("c1")
    write_legacy(store, record(pid=5, phase=Phase.CREATED))
    rec = store.load("c1")
    rec.phase = Phase.RUNNING
    store.save(rec)
    assert os.listdir(directory) == [STATE_FILE]
    assert store.load("c1") == rec


def test_new_state_file_wins_over_legacy(store: Store) -> None:
    store.make_container_dir("c1")
    store.save(record(pid=7))
    write_legacy(store, record(pid=5))  # a stale copy (cannot happen through save, which removes it)
    assert store.load("c1").pid == 7


def test_legacy_replaced_while_loading(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `start` of this version converts state.json between our look for state.marshal and our look
    for state.json: the container still exists, and the new file is read."""
    store.make_container_dir("c1")
    write_legacy(store, record(pid=5))
    real_open = open
    looked: list[str] = []

    def converting_open(path: str, mode: str = "r") -> object:
        looked.append(os.path.basename(path))
        if looked == [STATE_FILE, LEGACY_STATE_FILE]:  # state.marshal was not there; now a save happens
            store.save(record(pid=6))
        return real_open(path, mode)

    monkeypatch.setattr("builtins.open", converting_open)
    assert store.load("c1").pid == 6
    assert looked == [STATE_FILE, LEGACY_STATE_FILE, STATE_FILE]


def test_load_does_not_import_json(store: Store) -> None:
    """The point of the marshal file: reading a record costs no `import json` (checked in a fresh
    interpreter, as `state` runs)."""
    import subprocess
    import sys

    store.make_container_dir("c1")
    store.save(record(config={"process": {"args": ["sh"]}}))
    code = (
        "import sys; from ociruntime.state.store import Store; "
        f"print(Store({store.root!r}).load('c1').id, 'json' in sys.modules, 're' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout) == (0, "c1 False False\n"), result.stderr


# --- cleanup.json --------------------------------------------------------------------------------


def test_cleanup_round_trip(store: Store) -> None:
    directory = store.make_container_dir("c1")
    store.save_cleanup("c1", {"": "/sys/fs/cgroup/x"}, ["/sys/fs/cgroup/x"])
    assert store.load_cleanup("c1") == ({"": "/sys/fs/cgroup/x"}, ["/sys/fs/cgroup/x"])
    assert stat.S_IMODE(os.stat(os.path.join(directory, CLEANUP_FILE)).st_mode) == 0o600


@pytest.mark.parametrize("text", [None, "", "{", "[]", '{"cgroup_paths": [], "cgroup_created": []}'])
def test_cleanup_unusable_is_empty(store: Store, text: str | None) -> None:
    directory = store.make_container_dir("c1")
    if text is not None:
        Path(directory, CLEANUP_FILE).write_text(text)
    assert store.load_cleanup("c1") == ({}, [])


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
    Path(store.root, ".state.marshal.123").write_text("")
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
    assert (doc["pid"], doc["status"]) == (42, status)


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
