"""A distribution API v2 client: manifests and blobs by digest, bearer-token and basic auth, redirects.

http.client and ssl are imported here only, so local unpacks never pay for them. Blobs go into the
content-addressed cache (blobs.py) and are verified on the way in; a later pull of an image that
shares layers reads them from there instead of the network. Manifests fetched by tag are hashed to
learn their digest; fetched by digest, they must hash to it.
"""

from __future__ import annotations

import http.client
import io
import json
import ssl
import urllib.parse
from pathlib import Path
from typing import BinaryIO

from ociruntime.image import mediatypes as mt
from ociruntime.image import progress as bars
from ociruntime.image.auth import Challenge, Credentials, find_credentials, parse_challenge
from ociruntime.image.blobs import BlobStore
from ociruntime.image.descriptor import Descriptor
from ociruntime.image.digest import check_bytes, sha256_of
from ociruntime.image.errors import LimitExceeded, RegistryError
from ociruntime.image.limits import Limits
from ociruntime.image.reference import Reference, parse_reference

MAX_REDIRECTS = 5
TIMEOUT = 60.0
USER_AGENT = "ocibundle"


class RegistrySource:
    def __init__(self, text: str, limits: Limits, *, plain_http: bool, cache: Path) -> None:
        self.ref: Reference = parse_reference(text)
        self.display = str(self.ref)
        self.tag = self.ref.tag
        self.limits = limits
        self.scheme = "http" if plain_http else "https"
        self.cache = BlobStore(cache)
        self.documents: dict[str, bytes] = {}
        self.credentials: Credentials | None = find_credentials(self.ref.registry, self.ref.repository)
        self.authorization: str | None = None
        self._root: Descriptor | None = None

    # -- ImageSource ------------------------------------------------------------------------------

    def root(self) -> Descriptor:
        if self._root is None:
            data, media_type = self._get_manifest(self.ref.reference)
            digest = sha256_of(data)
            if self.ref.digest is not None:
                check_bytes(data, self.ref.digest, None, self.display)
                digest = self.ref.digest
            self.documents[str(digest)] = data
            self._root = Descriptor(media_type, digest, len(data))
        return self._root

    def read_document(self, desc: Descriptor) -> BinaryIO:
        data = self.documents.get(str(desc.digest))
        if data is None:
            data, _ = self._get_manifest(str(desc.digest))
            self.documents[str(desc.digest)] = data
        return io.BytesIO(data)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        if not self.cache.has(desc.digest, desc.size):
            response = self._request(f"/v2/{self.ref.repository}/blobs/{desc.digest}", {})
            bar = bars.make(f"pull {desc.digest.hex[:12]}", desc.size)
            try:
                self.cache.ingest(response, desc.digest, desc.size, self.limits.max_blob_bytes,
                                  f"blob {desc.digest}", bar)
            finally:
                response.close()
                bar.close()
        return open(self.cache.path(desc.digest), "rb")

    def close(self) -> None:
        pass

    # -- HTTP -------------------------------------------------------------------------------------

    def _get_manifest(self, reference: str) -> tuple[bytes, str]:
        response = self._request(f"/v2/{self.ref.repository}/manifests/{reference}", {"Accept": mt.ACCEPT})
        try:
            data = response.read(self.limits.max_json_bytes + 1)
        finally:
            response.close()
        if len(data) > self.limits.max_json_bytes:
            raise LimitExceeded(f"{self.display} manifest", f"larger than {self.limits.max_json_bytes} bytes")
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip()
        if media_type not in (*mt.INDEX_TYPES, *mt.MANIFEST_TYPES, *mt.DOCKER_SCHEMA1):
            try:
                declared = json.loads(data).get("mediaType")
            except (ValueError, AttributeError):
                declared = None
            media_type = declared if isinstance(declared, str) else media_type
        return data, media_type

    def _request(self, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        url = f"{self.scheme}://{self.ref.api_host}{path}"
        authorized = False
        for _ in range(MAX_REDIRECTS + 2):
            parsed = urllib.parse.urlsplit(url)
            send = {"User-Agent": USER_AGENT, **headers}
            same_host = parsed.netloc == self.ref.api_host
            if self.authorization and same_host:
                send["Authorization"] = self.authorization  # never leaked to a redirect target elsewhere
            response = _open(parsed, send)
            if response.status == 401 and same_host and not authorized:
                header = response.getheader("WWW-Authenticate") or ""
                response.read()
                response.close()
                self._authenticate(parse_challenge(header))
                authorized = True
                continue
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location") or ""
                response.read()
                response.close()
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status != 200:
                raise RegistryError(self.display, f"{path}: {_describe_failure(response)}")
            return response
        raise RegistryError(self.display, f"{path}: too many redirects or authentication failed")

    def _authenticate(self, challenge: Challenge | None) -> None:
        if challenge is None:
            raise RegistryError(self.display, "unauthorized, and the registry sent no usable challenge")
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise RegistryError(self.display, f"registry {self.ref.registry} needs credentials; none found in "
                                                  "REGISTRY_AUTH_FILE, containers auth.json or ~/.docker/config.json")
            self.authorization = self.credentials.basic()
            return
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(self.display, "bearer challenge without a realm")
        query = {"scope": challenge.params.get("scope") or f"repository:{self.ref.repository}:pull"}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        parsed = urllib.parse.urlsplit(f"{realm}{'&' if '?' in realm else '?'}{urllib.parse.urlencode(query)}")
        headers = {"User-Agent": USER_AGENT}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.basic()
        response = _open(parsed, headers)
        body = response.read(1 << 20)
        response.close()
        if response.status != 200:
            raise RegistryError(self.display, f"token request to {parsed.netloc} failed: HTTP {response.status}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(self.display, f"token server {parsed.netloc} sent no token")
        self.authorization = f"Bearer {token}"


def _open(parsed: urllib.parse.SplitResult, headers: dict[str, str]) -> http.client.HTTPResponse:
    target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    conn: http.client.HTTPConnection
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(parsed.netloc, timeout=TIMEOUT, context=ssl.create_default_context())
    elif parsed.scheme == "http":
        conn = http.client.HTTPConnection(parsed.netloc, timeout=TIMEOUT)
    else:
        raise RegistryError(parsed.geturl(), f"unsupported URL scheme {parsed.scheme!r}")
    try:
        conn.request("GET", target, headers=headers)
        return conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        hint = " (is it plain HTTP? use --plain-http)" if isinstance(exc, ssl.SSLError) else ""
        raise RegistryError(parsed.netloc, f"{exc}{hint}") from None


def _describe_failure(response: http.client.HTTPResponse) -> str:
    body = response.read(64 * 1024)
    response.close()
    message = f"HTTP {response.status} {response.reason}"
    try:
        errors = json.loads(body).get("errors") or []
        if errors and isinstance(errors[0], dict):
            message += f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
    except (ValueError, AttributeError):
        pass
    return message
