"""The runtime's exception tree.

Every error the runtime reports is one of these. Each carries the data it is about and renders as one
sentence, because engines show that sentence to their users (containerd matches "container does not
exist" and "container not running" literally, so those wordings are part of the contract).
Only `ociruntime.cli` turns an exception into an exit code.
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    """Base of every error the runtime reports on purpose."""

    exit_code = 1


class UsageError(RuntimeFailure):
    """The command line itself is wrong (unknown flag, missing argument, bad value)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ConfigInvalid(RuntimeFailure):
    """config.json (or a --process file) breaks the schema or a semantic rule.

    `path` is the JSON path of the offending field in dotted form, e.g. `linux.namespaces[2].type`;
    empty when the document as a whole is wrong (unreadable, not JSON, not an object).
    """

    def __init__(self, path: str, reason: str, *, source: str = "config.json") -> None:
        self.path = path
        self.reason = reason
        self.source = source
        super().__init__(f"{path}: {reason}" if path else reason)


class BundleError(RuntimeFailure):
    """The bundle directory or its config.json cannot be used."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class InvalidContainerId(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(
            f"invalid container id {container_id!r}: it must match [A-Za-z0-9][A-Za-z0-9_.+-]* "
            "and be at most 1024 characters"
        )


class ContainerNotFound(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__("container does not exist")


class ContainerExists(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__(f"container with id exists: {container_id}")


class ContainerNotRunning(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        super().__init__("container not running")


class WrongStatus(RuntimeFailure):
    """The command is not allowed in the container's current status."""

    def __init__(self, container_id: str, action: str, status: str) -> None:
        self.container_id = container_id
        self.action = action
        self.status = status
        super().__init__(f"cannot {action} container {container_id} in status {status}")


class NotSupported(RuntimeFailure):
    """A valid request this runtime (or this host) cannot carry out."""

    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"{what}: {reason}")


class InitFailed(RuntimeFailure):
    """A step inside the container's setup failed; rebuilt in the parent from the child's report."""

    def __init__(self, step: str, message: str, errno: int = 0) -> None:
        self.step = step
        self.message = message
        self.errno = errno
        super().__init__(f"{step}: {message}")


class CgroupError(RuntimeFailure):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cgroup {path}: {reason}")


class HookFailed(RuntimeFailure):
    def __init__(self, phase: str, path: str, reason: str) -> None:
        self.phase = phase
        self.path = path
        self.reason = reason
        super().__init__(f"{phase} hook {path}: {reason}")


class StateError(RuntimeFailure):
    """The state directory or a state file is unusable."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class RollbackFailed(RuntimeFailure):
    """A failed create could not be undone completely; both errors are kept."""

    def __init__(self, original: BaseException, rollback: BaseException) -> None:
        self.original = original
        self.rollback = rollback
        super().__init__(f"{original} (and cleaning up failed too: {rollback})")
