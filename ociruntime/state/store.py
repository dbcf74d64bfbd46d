"""The state store: one directory per container under --root.

    <root>/<id>/state.json   the Record below, replaced atomically (write to a temp file, rename)
    <root>/<id>/exec.fifo    exists from create until start; init blocks reading it
    <root>/<id>/exec.result  init's answer to start: a failure report, or end-of-file once it exec'd
    <root>/<id>/cleanup.json the container's cgroups, kept apart from state.json so that even a
                             damaged state file leaves `delete --force` what it needs to clean up

Readers never lock: a rename is atomic, so they see the old or the new file, never half of one.
Commands that change a container (start, delete, pause, ...) hold an exclusive flock on the container
directory so that two of them never interleave. Directories are 0700/0711 and files 0600: other users
can neither read a container's config nor drive it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator

from ociruntime import SPEC_VERSION, errors
from ociruntime.linux import procfs
from ociruntime.state.status import Phase, Status, derive_status

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
CLEANUP_FILE = "cleanup.json"
FIFO_NAME = "exec.fifo"
RESULT_NAME = "exec.result"
RECORD_VERSION = 1

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
    """What state.json holds: the OCI state plus what later commands need to act on the container.

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
        phase: Phase,
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
        self.phase = phase
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
        return f"Record(id={self.id!r}, phase={self.phase.value!r}, pid={self.pid})"

    def to_json(self) -> str:
        doc = {name: getattr(self, name) for name in self.FIELDS}
        doc["phase"] = self.phase.value
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Record:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        known = {k: v for k, v in doc.items() if k in cls.FIELDS}
        for name, kind in _FIELD_TYPES.items():
            if name in known and not isinstance(known[name], kind):
                raise TypeError(f"field {name!r} has the wrong type")
        known["phase"] = Phase(known["phase"])
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
    """A record together with the status derived for it right now."""

    __slots__ = ("record", "status")

    def __init__(self, record: Record, status: Status) -> None:
        self.record = record
        self.status = status

    def oci_state(self) -> dict[str, Any]:
        """The state document `state` prints: the spec's fields plus runc's rootfs, created, owner."""
        rec = self.record
        doc: dict[str, Any] = {
            "ociVersion": SPEC_VERSION,
            "id": rec.id,
            "pid": rec.pid if self.status is not Status.STOPPED else 0,
            "status": self.status.value,
            "bundle": rec.bundle,
            "rootfs": rec.rootfs,
            "created": rec.created,
            "owner": rec.owner,
        }
        if rec.annotations:
            doc["annotations"] = rec.annotations
        return doc


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
        import shutil  # only delete and a failed create need it

        shutil.rmtree(self.path(container_id), ignore_errors=True)

    # --- reading and writing ---------------------------------------------------------------------

    def save(self, record: Record) -> None:
        self._write_atomically(self.path(record.id), STATE_FILE, record.to_json())

    def _write_atomically(self, directory: str, name: str, text: str) -> None:
        tmp = os.path.join(directory, f".{name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.rename(tmp, os.path.join(directory, name))
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise errors.StateError(directory, f"cannot write {name}: {e.strerror}") from None

    def save_cleanup(self, container_id: str, cgroup_paths: dict[str, str], cgroup_created: list[str]) -> None:
        doc = {"cgroup_paths": cgroup_paths, "cgroup_created": cgroup_created}
        self._write_atomically(self.path(container_id), CLEANUP_FILE, json.dumps(doc))

    def load_cleanup(self, container_id: str) -> tuple[dict[str, str], list[str]]:
        """The cgroups to clear for a container whose state.json cannot be read ({}, [] if unknown)."""
        try:
            with open(self.path(container_id, CLEANUP_FILE)) as f:
                doc = json.load(f)
            paths, created = doc["cgroup_paths"], doc["cgroup_created"]
            if isinstance(paths, dict) and isinstance(created, list):
                return paths, created
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {}, []

    def load(self, container_id: str) -> Record:
        path = self.path(container_id, STATE_FILE)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            raise errors.ContainerNotFound(container_id) from None
        except NotADirectoryError:
            raise errors.ContainerNotFound(container_id) from None
        try:
            return Record.from_json(text)
        except (ValueError, KeyError, TypeError) as e:
            raise errors.StateError(path, f"corrupt state file: {e}") from None

    def observe(self, container_id: str) -> Observed:
        record = self.load(container_id)
        return Observed(record, self.status_of(record))

    def status_of(self, record: Record) -> Status:
        from ociruntime.cgroups import freezer

        return derive_status(
            record.phase,
            procfs.read_stat(record.pid),
            record.init_start_time,
            procfs.read_stat(record.creator_pid) if record.phase is Phase.CREATING else None,
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

    @contextlib.contextmanager
    def locked(self, container_id: str) -> Iterator[None]:
        """Hold the container's exclusive lock; fails with not-found if it vanished while we waited."""
        path = self.path(container_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise errors.ContainerNotFound(container_id) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:  # deleted by whoever held the lock before us
                raise errors.ContainerNotFound(container_id)
            yield
        finally:
            os.close(fd)
