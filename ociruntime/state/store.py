"""The state store: one directory per container under --root.

    <root>/<id>/state.marshal the Record below, replaced atomically (write to a temp file, rename)
    <root>/<id>/exec.fifo     exists from create until start; init blocks reading it
    <root>/<id>/exec.result   init's answer to start: a failure report, or end-of-file once it exec'd
    <root>/<id>/cleanup.json  the container's cgroups, kept apart from the state file so that even a
                              damaged one leaves `delete --force` what it needs to clean up

Why marshal and not JSON: engines run `state`, `kill`, `start` and `delete` several times per
container, and each is a new interpreter. Parsing JSON costs 5.6 ms per call just to import `json`
(its decoder imports `re`, which imports `enum`), more than the rest of `state`; `marshal` is built
into the interpreter and costs nothing to import. The record is a dict of the plain values JSON has
(str, int, bool, None, lists, dicts), written with marshal format version 4, which every Python since
3.4 reads and writes alike: a Python upgrade under running containers still reads their files. marshal
is not for untrusted input; the file is as private as the runtime's own code (0600, in a 0711
directory under a 0700 root), and what it loads is checked field by field like the JSON was.

Containers made by an earlier version have `state.json` instead (an engine may upgrade the runtime under
running containers): it is read, with a lazy `import json`, when there is no state.marshal, and the
first save replaces it by state.marshal. cleanup.json stays JSON (jsonwriter and jsonreader, which
need no `json` import): only `create` writes it, and only the rare `delete --force` of a damaged
container reads it.

Readers never lock: a rename is atomic, so they see the old or the new file, never half of one.
Commands that change a container (start, delete, pause, ...) hold an exclusive flock on the container
directory so that two of them never interleave. Directories are 0700/0711 and files 0600: other users
can neither read a container's config nor drive it.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import time

from ociruntime import SPEC_VERSION, errors
from ociruntime.linux import procfs
from ociruntime.state.status import Phase, Status, derive_status, parse_phase

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

STATE_FILE = "state.marshal"
LEGACY_STATE_FILE = "state.json"  # written by versions before state.marshal; read, never written
CLEANUP_FILE = "cleanup.json"
FIFO_NAME = "exec.fifo"
RESULT_NAME = "exec.result"
RECORD_VERSION = 1
MARSHAL_VERSION = 4  # pinned: readable by every Python 3.4 and later (3.13's version 5 adds only slices)

_ID_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_ID_REST = _ID_FIRST | frozenset("_.+-")


def _valid_id(text: str) -> bool:
    """[A-Za-z0-9][A-Za-z0-9_.+-]*, checked without importing re (start-up time)."""
    return bool(text) and text[0] in _ID_FIRST and all(c in _ID_REST for c in text)


def check_id(container_id: str) -> None:
    """Reject ids that could escape the root directory or confuse tools (`../x`, `a/b`, `.`)."""
    if len(container_id) > 1024 or not _valid_id(container_id):
        raise errors.InvalidContainerId(container_id)


def rfc3339_now() -> str:
    ns = time.time_ns()
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


class Record:
    """What the state file holds: the OCI state plus what later commands need to act on the container.

    A plain class rather than a dataclass: every `state` and `kill` loads one, and the dataclasses
    module (with inspect) costs more to import than the rest of those commands (-X importtime).
    """

    FIELDS = (
        "id", "bundle", "rootfs", "created", "owner", "phase", "pid", "init_start_time", "creator_pid",
        "creator_start_time", "annotations", "cgroup_paths", "cgroup_created", "config", "version",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        bundle: str,
        rootfs: str,
        created: str,
        owner: str,
        phase: str,
        pid: int = 0,
        init_start_time: int = 0,
        creator_pid: int = 0,
        creator_start_time: int = 0,
        annotations: dict[str, str] | None = None,
        cgroup_paths: dict[str, str] | None = None,
        cgroup_created: list[str] | None = None,
        config: dict[str, Any] | None = None,
        version: int = RECORD_VERSION,
    ) -> None:
        self.id = id
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.owner = owner
        self.phase = phase  # one of Phase's constants
        self.pid = pid
        self.init_start_time = init_start_time
        self.creator_pid = creator_pid
        self.creator_start_time = creator_start_time
        self.annotations: dict[str, str] = annotations if annotations is not None else {}
        self.cgroup_paths: dict[str, str] = cgroup_paths if cgroup_paths is not None else {}
        self.cgroup_created: list[str] = cgroup_created if cgroup_created is not None else []
        self.config: dict[str, Any] = config if config is not None else {}
        self.version = version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __repr__(self) -> str:
        return f"Record(id={self.id!r}, phase={self.phase!r}, pid={self.pid})"

    def to_bytes(self) -> bytes:
        """The state file's content."""
        return marshal.dumps({name: getattr(self, name) for name in self.FIELDS}, MARSHAL_VERSION)

    @classmethod
    def from_bytes(cls, data: bytes) -> Record:
        """A record from the state file; ValueError, EOFError (truncated), KeyError or TypeError if bad."""
        return cls.from_dict(marshal.loads(data))

    @classmethod
    def from_legacy_json(cls, data: bytes) -> Record:
        """A record from the state.json of an earlier version (same fields); the same errors as above."""
        import json  # only for containers made by an earlier version: not worth 5.6 ms on every call

        return cls.from_dict(json.loads(data))

    @classmethod
    def from_dict(cls, doc: object) -> Record:
        if not isinstance(doc, dict):
            raise TypeError("not a record (a mapping of fields)")
        known = {k: v for k, v in doc.items() if k in cls.FIELDS}
        for name, kind in _FIELD_TYPES.items():
            if name in known and not isinstance(known[name], kind):
                raise TypeError(f"field {name!r} has the wrong type")
        known["phase"] = parse_phase(known["phase"])
        if "cgroup_created" not in known:
            # Older state files did not say which cgroup directories the runtime made: the
            # container's own leaves were always its own.
            known["cgroup_created"] = list((known.get("cgroup_paths") or {}).values())
        return cls(**known)


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "bundle": str, "rootfs": str, "created": str, "owner": str, "phase": str, "pid": int,
    "init_start_time": int, "creator_pid": int, "creator_start_time": int, "annotations": dict,
    "cgroup_paths": dict, "cgroup_created": list, "config": dict, "version": int,
}  # fmt: skip


class Observed:
    """A record together with the status derived for it right now (one of Status's constants)."""

    __slots__ = ("record", "status")

    def __init__(self, record: Record, status: str) -> None:
        self.record = record
        self.status = status

    def oci_state(self) -> dict[str, Any]:
        """The state document `state` prints: the spec's fields plus runc's rootfs, created, owner."""
        rec = self.record
        doc: dict[str, Any] = {
            "ociVersion": SPEC_VERSION,
            "id": rec.id,
            "pid": rec.pid if self.status != Status.STOPPED else 0,
            "status": self.status,
            "bundle": rec.bundle,
            "rootfs": rec.rootfs,
            "created": rec.created,
            "owner": rec.owner,
        }
        if rec.annotations:
            doc["annotations"] = rec.annotations
        return doc


class _Lock:
    """The context manager `Store.locked` returns (a class: contextlib costs an import on every call)."""

    def __init__(self, path: str, container_id: str) -> None:
        self._path = path
        self._container_id = container_id
        self._fd = -1

    def __enter__(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.ContainerNotFound(self._container_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:  # deleted by whoever held the lock before us
                raise errors.ContainerNotFound(self._container_id)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        os.close(self._fd)  # closing the directory releases the flock
        self._fd = -1


class Store:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, container_id: str, name: str = "") -> str:
        check_id(container_id)
        return os.path.join(self.root, container_id, name) if name else os.path.join(self.root, container_id)

    def fifo_path(self, container_id: str) -> str:
        return self.path(container_id, FIFO_NAME)

    # --- creating and removing -------------------------------------------------------------------

    def make_container_dir(self, container_id: str) -> str:
        """Claim the id: mkdir is atomic, so of two concurrent creates exactly one wins."""
        path = self.path(container_id)
        try:
            os.makedirs(self.root, mode=0o700, exist_ok=True)
        except OSError as e:
            raise errors.StateError(self.root, f"cannot create the state root: {e.strerror}") from None
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise errors.ContainerExists(container_id) from None
        except OSError as e:
            raise errors.StateError(path, f"cannot create the state directory: {e.strerror}") from None
        return path

    def result_path(self, container_id: str) -> str:
        return self.path(container_id, RESULT_NAME)

    def make_fifos(self, container_id: str) -> tuple[str, str]:
        """exec.fifo and exec.result, both 0600."""
        paths = (self.fifo_path(container_id), self.result_path(container_id))
        old = os.umask(0)
        try:
            for path in paths:
                os.mkfifo(path, 0o600)
        finally:
            os.umask(old)
        return paths

    def remove(self, container_id: str) -> None:
        """Remove the container's directory, whatever is left in it; never fails (delete goes on)."""
        directory = self.path(container_id)
        try:
            names = os.listdir(directory)
        except OSError:
            return  # gone already, or not a directory: nothing of ours
        for name in names:
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
            except IsADirectoryError:
                # The runtime writes only files here; a directory someone else put in must not keep
                # the id taken for ever. shutil (bz2, lzma: 3 ms) only for this rare case.
                import shutil

                shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass
        try:
            os.rmdir(directory)
        except OSError:
            pass

    # --- reading and writing ---------------------------------------------------------------------

    def save(self, record: Record) -> None:
        directory = self.path(record.id)
        self._write_atomically(directory, STATE_FILE, record.to_bytes())
        # One state file per container: an earlier version's state.json goes once ours is in place
        # (load() looks for state.marshal again if state.json vanished while it looked).
        try:
            os.unlink(os.path.join(directory, LEGACY_STATE_FILE))
        except OSError:
            pass

    def _write_atomically(self, directory: str, name: str, data: bytes) -> None:
        tmp = os.path.join(directory, f".{name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(directory, name))
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise errors.StateError(directory, f"cannot write {name}: {e.strerror}") from None

    def save_cleanup(self, container_id: str, cgroup_paths: dict[str, str], cgroup_created: list[str]) -> None:
        from ociruntime import jsonwriter

        doc = {"cgroup_paths": cgroup_paths, "cgroup_created": cgroup_created}
        self._write_atomically(self.path(container_id), CLEANUP_FILE, jsonwriter.dumps(doc).encode())

    def load_cleanup(self, container_id: str) -> tuple[dict[str, str], list[str]]:
        """The cgroups to clear for a container whose state file cannot be read ({}, [] if unknown)."""
        from ociruntime import jsonreader  # only `delete --force` of a damaged container comes here

        try:
            with open(self.path(container_id, CLEANUP_FILE), "rb") as f:
                doc = jsonreader.loads(f.read())
            paths, created = doc["cgroup_paths"], doc["cgroup_created"]
            if isinstance(paths, dict) and isinstance(created, list):
                return paths, created
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {}, []

    def load(self, container_id: str) -> Record:
        record = self._load_file(container_id, STATE_FILE, Record.from_bytes)
        if record is None:
            record = self._load_file(container_id, LEGACY_STATE_FILE, Record.from_legacy_json)
        if record is None:
            # A command of this version may have replaced state.json by state.marshal between our two
            # looks (save writes the new file, then removes the old): look once more before saying so.
            record = self._load_file(container_id, STATE_FILE, Record.from_bytes)
        if record is None:
            raise errors.ContainerNotFound(container_id)
        return record

    def _load_file(self, container_id: str, name: str, parse: Callable[[bytes], Record]) -> Record | None:
        """The record in file `name`, None if there is no such file; StateError if it is unusable."""
        path = self.path(container_id, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return parse(data)
        except (ValueError, EOFError, KeyError, TypeError) as e:
            raise errors.StateError(path, f"corrupt state file: {e}") from None

    def observe(self, container_id: str) -> Observed:
        record = self.load(container_id)
        return Observed(record, self.status_of(record))

    def status_of(self, record: Record) -> str:
        from ociruntime.cgroups import freezer

        return derive_status(
            record.phase,
            procfs.read_stat(record.pid),
            record.init_start_time,
            procfs.read_stat(record.creator_pid) if record.phase == Phase.CREATING else None,
            record.creator_start_time,
            fifo_exists=self._init_waits_on_fifo(record),
            frozen=freezer.is_frozen(record.cgroup_paths),
        )

    def _init_waits_on_fifo(self, record: Record) -> bool:
        """Whether init still holds exec.fifo, i.e. has not been released by `start`.

        The file alone could mislead (a `start` killed after writing its byte leaves it behind while
        the program runs): opening it for writing without blocking succeeds only while init has it open.
        """
        try:
            fd = os.open(self.fifo_path(record.id), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False  # gone (ENOENT) or nobody holds it any more (ENXIO)
        os.close(fd)
        return True

    def list_ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if _valid_id(n) and os.path.isdir(os.path.join(self.root, n)))

    def locked(self, container_id: str) -> _Lock:
        """`with store.locked(id):` holds the container's exclusive lock; entering fails with
        not-found if the container vanished while we waited."""
        return _Lock(self.path(container_id), container_id)
