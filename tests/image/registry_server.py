"""A real distribution registry (Debian's docker-registry) on 127.0.0.1 for the tests, plus a tiny token server.

Each server gets a free port, its own storage directory and config; the fixture stops it. Images are
pushed with plain HTTP requests: a blob upload per blob (POST, then PUT with the digest) and a manifest PUT.
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.image.imagebuild import Image

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT
    auth_header: str | None = None  # what the test's pusher sends

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(self.host, timeout=30)
        send = dict(headers or {})
        if self.auth_header:
            send["Authorization"] = self.auth_header
        conn.request(method, path, body=body, headers=send)
        return conn.getresponse()

    def push(self, repo: str, tag: str, image: Image) -> str:
        blobs, manifest, manifest_bytes, _ = image.blobs()
        for digest, data in blobs.items():
            if data == manifest_bytes:
                continue
            r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
            r.read()
            assert r.status == 202, r.status
            location = r.getheader("Location") or ""
            parsed = urllib.parse.urlsplit(location)
            sep = "&" if parsed.query else "?"
            path = f"{parsed.path}{'?' + parsed.query if parsed.query else ''}{sep}digest={digest}"
            r = self.request("PUT", path, data, {"Content-Type": "application/octet-stream"})
            r.read()
            assert r.status == 201, (r.status, r.reason)
        r = self.request("PUT", f"/v2/{repo}/manifests/{tag}", manifest_bytes,
                         {"Content-Type": manifest["mediaType"]})
        r.read()
        assert r.status == 201, r.status
        return str(r.getheader("Docker-Content-Digest"))


def write_config(directory: Path, port: int, auth: str) -> Path:
    storage = directory / "storage"
    storage.mkdir()
    lines = ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:",
             f"    rootdirectory: {storage}", "http:", f"  addr: 127.0.0.1:{port}",
             f"  secret: test-{port}"]
    lines += auth.splitlines()
    config = directory / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


@contextmanager
def run_registry(directory: Path, auth: str = "") -> Iterator[Registry]:
    port = free_port()
    config = write_config(directory, port, auth)
    log = open(directory / "registry.log", "wb")
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        registry = Registry(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 20
        while True:
            try:
                registry.request("GET", "/v2/").read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((directory / "registry.log").read_text()) from None
                time.sleep(0.1)
        yield registry
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def htpasswd_auth(directory: Path, user: str, password: str) -> str:
    entry = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True, check=True)
    path = directory / "htpasswd"
    path.write_text(entry.stdout.strip() + "\n")
    return f"auth:\n  htpasswd:\n    realm: test\n    path: {path}"


# -- token auth ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues RS256 JWTs (signed with openssl) to clients presenting the right basic credentials."""

    def __init__(self, directory: Path, user: str, password: str) -> None:
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
                        "-out", str(self.cert), "-days", "2", "-subj", "/CN=ocibundle-test-token"],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                             capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests: list[str] = []
        self.port = free_port()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                if self.headers.get("Authorization") != server.expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = json.dumps({"token": server.sign(query["scope"][0], query["service"][0])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, scope: str, service: str) -> str:
        _kind, name, actions = scope.split(":")
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "x5c": [self.x5c]}
        claims = {"iss": "ocibundle-test", "sub": "tester", "aud": service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": f"j{now}{len(self.requests)}",
                  "access": [{"type": "repository", "name": name, "actions": actions.split(",")}]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        return f"{signing_input}.{_b64(signature)}"

    def registry_auth(self) -> str:
        return ("auth:\n  token:\n"
                f"    realm: http://127.0.0.1:{self.port}/token\n"
                "    service: ocibundle-test-registry\n"
                "    issuer: ocibundle-test\n"
                f"    rootcertbundle: {self.cert}")

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
