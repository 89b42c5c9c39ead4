"""HTTP to the OCI distribution API: one ``requests.Session`` per store, auth, retries.

Why not the installed ``oras`` package for this: it sets no ``artifactType``,
knows no referrers (neither the API nor the tag fallback), cannot push an image
index, reads a whole blob into memory for a monolithic upload, and retries only
on HTTP 500. So the distribution API is spoken here with plain ``requests``;
only oras's ``WWW-Authenticate`` parser is reused (see :mod:`preserve.oci.auth`).

Auth: anonymous first; on 401 the challenge decides between HTTP Basic and the
Bearer token flow (realm/service/scope, tokens cached per scope and reused for
the repository). Transient failures (connection errors, 5xx, 429 with
``Retry-After``) are retried with exponential backoff, then end in
:class:`TransientError`.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

from preserve import __version__
from preserve.errors import AuthError, RegistryError
from preserve.oci.auth import Challenge, Credentials, find_credentials, searched_places
from preserve.settings import Settings

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
MAX_DELAY = 30.0


class Stream(Protocol):
    """A streaming request body of known length (see ``registry_blobs.FileSlice``)."""

    def read(self, size: int = -1) -> bytes: ...
    def rewind(self) -> None: ...
    def __len__(self) -> int: ...


Body = bytes | Stream | Callable[[], Any] | None


class TransientError(RegistryError):
    """The registry kept failing in ways that usually pass (after all retries)."""


class _BigBlocks(HTTPAdapter):
    """Send request bodies in 1 MiB blocks (urllib3's 16 KiB costs CPU on big blobs)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = 1 << 20
        super().init_poolmanager(*args, **kwargs)


def ca_bundle() -> str | bool:
    """The system CA bundle (requests would use certifi's otherwise)."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(var):
            return os.environ[var]
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and Path(cafile).is_file():
        return cafile
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    return str(system) if system.is_file() else True


class Transport:
    def __init__(
        self,
        host: str,
        base_url: str,
        settings: Settings,
        *,
        attempts: int = 6,
        backoff: float = 0.5,
    ) -> None:
        self.host = host
        self.base_url = base_url
        self.settings = settings
        self.attempts = attempts
        self.backoff = backoff
        self.session = requests.Session()
        self.session.verify = ca_bundle()
        self.session.headers["User-Agent"] = f"preserve/{__version__}"
        self.session.mount("http://", _BigBlocks())
        self.session.mount("https://", _BigBlocks())
        self.timeout = (15.0, 300.0)
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._basic: str | None = None
        self._tokens: dict[str, str] = {}  # scope -> "Bearer ..."
        self._repo_auth: dict[str, str] = {}  # repository -> header last used

    def url(self, repo: str, tail: str) -> str:
        return f"{self.base_url}/v2/{repo}/{tail}"

    def credentials(self) -> Credentials | None:
        if not self._creds_loaded:
            self._creds = find_credentials(self.settings, self.host)
            self._creds_loaded = True
        return self._creds

    def request(
        self,
        method: str,
        url: str,
        *,
        repo: str,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        ok: tuple[int, ...] = (200,),
        allow: tuple[int, ...] = (),
        stream: bool = False,
        attempts: int | None = None,
    ) -> requests.Response:
        """Send with auth and retries; return a response whose status is in ok or allow."""
        tries = attempts or self.attempts
        for attempt in range(1, tries + 1):
            try:
                resp = self._authed(method, url, repo, dict(headers or {}), body, stream)
            except TRANSIENT as exc:
                if attempt == tries:
                    raise TransientError(
                        f"{method} {url} failed after {tries} attempts: {_reason(exc)}",
                        hint="check that the registry is up and the network is stable",
                    ) from exc
                self.pause(attempt, None)
                continue
            if resp.status_code in RETRY_STATUS and attempt < tries:
                delay = _retry_after(resp)
                resp.close()
                self.pause(attempt, delay)
                continue
            return self._check(resp, method, url, repo, ok, allow, tries)
        raise AssertionError("unreachable")

    def location(self, resp: requests.Response) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(f"{self.host} answered {resp.request.method} without a Location")
        return urljoin(resp.url, loc)

    def pause(self, attempt: int, delay: float | None) -> None:
        """Back off before attempt ``attempt + 1`` (or as the server asked)."""
        wait = delay if delay is not None else self.backoff * 2 ** (attempt - 1)
        time.sleep(min(max(wait, 0.0), MAX_DELAY))

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Body, stream: bool
    ) -> requests.Response:
        if callable(body):
            data = body()
        else:
            data = body
            if body is not None and not isinstance(body, bytes):
                body.rewind()  # a second send (after a 401) starts from the beginning
        return self.session.request(
            method, url, headers=headers, data=data, stream=stream, timeout=self.timeout
        )

    def _authed(
        self, method: str, url: str, repo: str, headers: dict[str, str], body: Body, stream: bool
    ) -> requests.Response:
        used = self._repo_auth.get(repo) or self._basic
        if used:
            headers["Authorization"] = used
        resp = self._send(method, url, headers, body, stream)
        if resp.status_code != 401:
            return resp
        answer = self._answer(resp.headers.get("WWW-Authenticate", ""), repo, used)
        if answer is None or answer == used:
            return resp
        resp.close()
        headers["Authorization"] = answer
        return self._send(method, url, headers, body, stream)

    def _answer(self, header: str, repo: str, used: str | None) -> str | None:
        """The Authorization value answering a 401 challenge, or None."""
        challenge = Challenge.parse(header)
        creds = self.credentials()
        if challenge.scheme == "basic":
            if creds is None:
                return None
            self._basic = creds.basic_header()
            return self._basic
        if challenge.scheme != "bearer" or not challenge.realm:
            return None
        key = challenge.scope or ""
        cached = self._tokens.get(key)
        if cached is None or cached == used:  # none yet, or it expired
            cached = self._tokens[key] = "Bearer " + self._fetch_token(challenge, creds)
        self._repo_auth[repo] = cached
        return cached

    def _fetch_token(self, challenge: Challenge, creds: Credentials | None) -> str:
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params += [("scope", s) for s in (challenge.scope or "").split() if s]
        auth = (creds.username, creds.password) if creds else None
        assert challenge.realm is not None
        try:
            resp = self.session.get(challenge.realm, params=params, auth=auth, timeout=self.timeout)
        except TRANSIENT as exc:
            raise RegistryError(
                f"the token service {challenge.realm} of {self.host} is not reachable: "
                f"{_reason(exc)}"
            ) from exc
        if resp.status_code in (401, 403):
            raise self._auth_error(f"the token service {challenge.realm}", resp.status_code)
        if resp.status_code != 200:
            raise RegistryError(
                f"the token service {challenge.realm} of {self.host} answered "
                f"HTTP {resp.status_code}"
            )
        try:
            data = resp.json()
            return str(data.get("token") or data["access_token"])
        except (ValueError, KeyError, AttributeError) as exc:
            raise RegistryError(f"the token service {challenge.realm} sent no token") from exc

    def _auth_error(self, who: str, status: int) -> AuthError:
        creds = self.credentials()
        if creds is None:
            return AuthError(
                f"{who} of registry {self.host} requires credentials (HTTP {status}) "
                "and none were found",
                hint=f"looked in {searched_places(self.settings, self.host)}; add them there "
                f"or run `docker login {self.host}`",
            )
        verb = "refused" if status == 401 else "denied access with"
        return AuthError(
            f"{who} of registry {self.host} {verb} the credentials of user "
            f"{creds.username!r} from {creds.source} (HTTP {status})",
            hint="check the username, password and permissions there",
        )

    def _check(
        self,
        resp: requests.Response,
        method: str,
        url: str,
        repo: str,
        ok: tuple[int, ...],
        allow: tuple[int, ...],
        tries: int,
    ) -> requests.Response:
        status = resp.status_code
        if status in ok or status in allow:
            return resp
        detail = _error_detail(resp)
        resp.close()
        if status in (401, 403):
            raise self._auth_error("the registry API", status)
        if status in RETRY_STATUS:
            raise TransientError(
                f"{method} {url} answered HTTP {status} after {tries} attempts{detail}",
                hint="the registry is overloaded or failing; try again later",
            )
        raise RegistryError(f"{method} {url} answered HTTP {status}{detail}")


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


def _error_detail(resp: requests.Response) -> str:
    """``: CODE message`` from a distribution error body, if any."""
    try:
        errors = resp.json().get("errors") or []
        first = errors[0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
