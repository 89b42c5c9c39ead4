"""A token server for distribution's token authentication, on loopback.

Follows the distribution "Token Authentication Specification" and "Token
Authentication Implementation": ``GET /token?service=...&scope=...`` with HTTP
Basic credentials answers ``{"token", "access_token", "expires_in", "issued_at"}``;
the token is a JWT (RS256) whose header carries the signing certificate in
``x5c``, which the real registry (Debian's docker-registry 2.8, configured with
``auth.token`` realm/service/issuer/rootcertbundle) verifies against the
self-signed certificate we generate with ``openssl``. Wrong or missing
credentials get 401, as a real token server answers them. Every requested
scope is granted to the one valid user.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

SERVICE = "preserve-test-registry"
ISSUER = "preserve-test-issuer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_certificate(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "token.key", folder / "token.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=preserve-test-token-issuer", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


class TokenServer:
    def __init__(self, folder: Path, username: str, password: str) -> None:
        self.key, self.cert = make_certificate(folder)
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        self.x5c = base64.b64encode(der).decode()
        self.username, self.password = username, password
        self.requests: list[list[str]] = []  # scopes asked for, per token request
        self.lifetime = 300  # seconds; the registry allows 60 s of leeway past "exp"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path != "/token" or query.get("service") != [SERVICE]:
                    return self.reply(400, {"errors": [{"code": "invalid request"}]})
                if not server.authorized(self.headers.get("Authorization", "")):
                    return self.reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                scopes = [s for value in query.get("scope", []) for s in value.split()]
                server.requests.append(scopes)
                token = server.sign(scopes)
                self.reply(200, {"token": token, "access_token": token, "expires_in": 300})

            def reply(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="token"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) == (self.username, self.password)

    def sign(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": self.username, "aud": SERVICE, "exp": now + self.lifetime,
            "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access,
        }  # fmt: skip
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (
            f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout  # fmt: skip
        return f"{signing_input}.{b64url(signature)}"

    def registry_env(self) -> dict[str, str]:
        return {
            "REGISTRY_AUTH": "token",
            "REGISTRY_AUTH_TOKEN_REALM": self.realm,
            "REGISTRY_AUTH_TOKEN_SERVICE": SERVICE,
            "REGISTRY_AUTH_TOKEN_ISSUER": ISSUER,
            "REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE": str(self.cert),
        }

    def __enter__(self) -> TokenServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
