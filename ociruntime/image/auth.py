"""Registry credentials from the usual auth files, and WWW-Authenticate challenge parsing.

Files, first match wins: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
~/.config/containers/auth.json, ~/.docker/config.json. Entries are `{"auths": {KEY: {"auth":
base64(user:password)}}}`; KEY may be `host`, `host/namespace/...` (most specific wins, as in
containers-auth.json(5)) or a URL (`https://host/v1/`, docker's style). Credential helpers are not run.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ociruntime.image.errors import ImageError

_PARAM = re.compile(r'([A-Za-z_]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: dict[str, str]


def auth_files() -> list[Path]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    home = Path(os.path.expanduser("~"))
    files += [home / ".config" / "containers" / "auth.json", home / ".docker" / "config.json"]
    return files


def _normalize_key(key: str) -> str:
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
    key = key.rstrip("/")
    if key.endswith("/v1") or key.endswith("/v2"):
        key = key[:-3]
    return "docker.io" if key in ("index.docker.io", "registry-1.docker.io") else key


def find_credentials(registry: str, repository: str) -> Credentials | None:
    wanted = [f"{registry}/{'/'.join(repository.split('/')[:n])}" for n in range(repository.count("/") + 1, 0, -1)]
    wanted.append(registry)
    for path in auth_files():
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            raise ImageError(str(path), f"unreadable auth file ({exc})") from None
        auths = doc.get("auths") if isinstance(doc, dict) else None
        if not isinstance(auths, dict):
            continue
        entries = {_normalize_key(k): v for k, v in auths.items() if isinstance(v, dict)}
        for key in wanted:
            entry = entries.get(key)
            if entry and isinstance(entry.get("auth"), str) and entry["auth"]:
                return decode_auth(entry["auth"], path)
    return None


def decode_auth(value: str, path: Path) -> Credentials:
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise ImageError(str(path), "an `auth` entry is not base64 of user:password") from None
    if not sep:
        raise ImageError(str(path), "an `auth` entry is not base64 of user:password")
    return Credentials(user, password)


def parse_challenge(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("bearer", "basic"):
        return None
    params = {}
    for match in _PARAM.finditer(rest):
        value = match[2] if match[2] is not None else match[3] or ""
        params[match[1].lower()] = value.replace('\\"', '"')
    return Challenge(scheme.lower(), params)
