"""The `process` document of an `exec`: a --process file as it is, or the container's own process with
runc's command-line overrides applied. PURE."""

from __future__ import annotations

from ociruntime import errors

TYPE_CHECKING = False  # typing costs an import on every call; mypy reads this as True
if TYPE_CHECKING:
    from typing import Any


class ExecOverrides:
    """runc's `exec` flags that change the container's process."""

    __slots__ = (
        "args", "tty", "cwd", "env", "user", "additional_gids", "caps", "no_new_privs", "apparmor", "process_label",
    )  # fmt: skip

    def __init__(
        self,
        args: tuple[str, ...] = (),
        tty: bool = False,
        cwd: str | None = None,
        env: tuple[str, ...] = (),
        user: str | None = None,
        additional_gids: tuple[int, ...] = (),
        caps: tuple[str, ...] = (),
        no_new_privs: bool = False,
        apparmor: str | None = None,
        process_label: str | None = None,
    ) -> None:
        self.args = args
        self.tty = tty
        self.cwd = cwd
        self.env = env
        self.user = user  # "UID" or "UID:GID"
        self.additional_gids = additional_gids
        self.caps = caps
        self.no_new_privs = no_new_privs
        self.apparmor = apparmor
        self.process_label = process_label


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, immutable scalars): copy.deepcopy's result without
    importing copy and weakref on every `exec`."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def parse_user(text: str) -> tuple[int, int | None]:
    uid_text, _, gid_text = text.partition(":")
    try:
        return int(uid_text), int(gid_text) if gid_text else None
    except ValueError:
        raise errors.UsageError(f"--user {text!r}: expected UID or UID:GID (numbers)") from None


def merge_env(base: list[str], extra: tuple[str, ...]) -> list[str]:
    """--env entries replace a variable of the same name rather than adding a second one."""
    names = {entry.partition("=")[0] for entry in extra}
    return [entry for entry in base if entry.partition("=")[0] not in names] + list(extra)


def exec_process(config: dict[str, Any], overrides: ExecOverrides) -> dict[str, Any]:
    """runc's `exec ARGS...`: start from the container's process, change what the flags say."""
    if not overrides.args:
        raise errors.UsageError("exec needs --process FILE or the command to run")
    doc: dict[str, Any] = copy_json(config.get("process") or {})
    doc["args"] = list(overrides.args)
    doc["terminal"] = overrides.tty
    doc.pop("consoleSize", None)
    if overrides.cwd is not None:
        doc["cwd"] = overrides.cwd
    if overrides.env:
        doc["env"] = merge_env(list(doc.get("env") or []), overrides.env)
    user = doc.setdefault("user", {"uid": 0, "gid": 0})
    if overrides.user is not None:
        uid, gid = parse_user(overrides.user)
        user["uid"] = uid
        if gid is not None:
            user["gid"] = gid
    if overrides.additional_gids:
        user["additionalGids"] = list(overrides.additional_gids)
    if overrides.caps:
        caps = doc.setdefault("capabilities", {})
        for set_name in ("bounding", "effective", "permitted"):
            current = caps.setdefault(set_name, [])
            current.extend(c for c in overrides.caps if c not in current)
    if overrides.no_new_privs:
        doc["noNewPrivileges"] = True
    if overrides.apparmor is not None:
        doc["apparmorProfile"] = overrides.apparmor
    if overrides.process_label is not None:
        doc["selinuxLabel"] = overrides.process_label
    return doc
