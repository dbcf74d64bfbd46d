"""Config.User -> uid, gid, additional gids, from the rootfs's /etc/passwd and /etc/group. PURE.

The file contents are passed in as bytes (read confined to the rootfs by the caller), so this module
only parses. Rules from the image-spec's conversion section: numeric parts are copied verbatim, names
are looked up and must exist; additional gids come from /etc/group only when the user was given by
name and no group was given.
"""

from __future__ import annotations

from dataclasses import dataclass

from ociruntime.image.errors import ImageError


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"  # from /etc/passwd when the user is listed there; becomes HOME unless the image sets it


def _rows(data: bytes | None) -> list[list[str]]:
    if not data:
        return []
    rows = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 11 and int(text) < 2**32 - 1 else None


def resolve_user(spec: str, passwd: bytes | None, group: bytes | None) -> User:
    user_part, _, group_part = (spec or "0").partition(":")
    users = [r for r in _rows(passwd) if len(r) >= 4]
    uid = _number(user_part)
    gid: int | None = None
    name: str | None = None
    home = "/"
    if uid is None:
        row = next((r for r in users if r[0] == user_part), None)
        if row is None or _number(row[2]) is None or _number(row[3]) is None:
            raise ImageError(f"user {user_part!r}", "not found in the image's /etc/passwd")
        name, uid, gid = user_part, _number(row[2]), _number(row[3])
    else:
        row = next((r for r in users if _number(r[2]) == uid), None)
        if row is not None:
            gid = _number(row[3])
    if row is not None and len(row) > 5 and row[5].startswith("/"):
        home = row[5]
    groups = [r for r in _rows(group) if len(r) >= 3]
    if group_part:
        explicit = _number(group_part)
        if explicit is None:
            grow = next((r for r in groups if r[0] == group_part), None)
            if grow is None or _number(grow[2]) is None:
                raise ImageError(f"group {group_part!r}", "not found in the image's /etc/group")
            explicit = _number(grow[2])
        assert uid is not None and explicit is not None
        return User(uid, explicit, (), home)
    assert uid is not None
    primary = gid if gid is not None else 0
    extra: list[int] = []
    if name is not None:
        for grow in groups:
            members = grow[3].split(",") if len(grow) > 3 else []
            number = _number(grow[2])
            if name in members and number is not None and number != primary and number not in extra:
                extra.append(number)
    return User(uid, primary, tuple(extra), home)
