"""HTTP to the OCI distribution API: one ``requests.Session`` per store, auth, retries.

Why not the installed ``oras`` package for this: it sets no ``artifactType``,
knows no referrers (neither the API nor the tag fallback), cannot push an image
index, reads a whole blob into memory for a monolithic upload, and retries only
on HTTP 500. So the distribution API is spoken here with plain ``requests``;
only oras's ``WWW-Authenticate`` parser is reused (see :mod:`preserve.oci.auth`).

Auth: anonymous first; on 401 the challenge decides between HTTP Basic and the
Bearer token flow (realm/service/scope, tokens cached per scope and reused for
the repository). Sessions, timeouts, TLS, proxies and the retry policy are
:mod:`preserve.net`'s; what the retries leave over ends in :class:`TransientError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urljoin

import requests

from preserve import net
from preserve.errors import AuthError, PreserveError, RegistryError
from preserve.oci.auth import Challenge, Credentials, find_credentials, searched_places
from preserve.settings import Settings

RETRY_STATUS = net.RETRY_STATUS
TRANSIENT = net.TRANSIENT


class Stream(Protocol):
    """A streaming request body of known length (see ``registry_blobs.FileSlice``)."""

    def read(self, size: int = -1) -> bytes: ...
    def rewind(self) -> None: ...
    def __len__(self) -> int: ...


Body = bytes | Stream | Callable[[], Any] | None


class TransientError(RegistryError):
    """The registry kept failing in ways that usually pass (after all retries)."""


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
        self.http = net.Http(
            settings.network,
            error=TransientError,  # what the retries could not overcome
            body_error=RegistryError,  # an oversized answer: not worth trying again
            attempts=attempts,
            backoff=backoff,
        )
        self.session = self.http.session
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._basic: str | None = None
        self._tokens: dict[str, str] = {}  # scope -> "Bearer ..."
        self._repo_auth: dict[str, str] = {}  # repository -> header last used

    @property
    def attempts(self) -> int:
        return self.http.attempts

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
        resp = self.http.retrying(
            lambda: self._authed(method, url, repo, dict(headers or {}), body, stream),
            label=f"{method} {url}",
            attempts=tries,
        )
        return self._check(resp, method, url, repo, ok, allow, tries)

    def location(self, resp: requests.Response) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(f"{self.host} answered {resp.request.method} without a Location")
        return urljoin(resp.url, loc)

    def pause(self, attempt: int, delay: float | None) -> None:
        """Back off before attempt ``attempt + 1`` (or as the server asked)."""
        self.http.pause(attempt, delay)

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Body, stream: bool
    ) -> requests.Response:
        if callable(body):
            data = body()
        else:
            data = body
            if body is not None and not isinstance(body, bytes):
                body.rewind()  # a second send (after a 401) starts from the beginning
        return self.session.request(method, url, headers=headers, data=data, stream=stream)

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
        who = f"the token service {challenge.realm} of {self.host}"
        resp = self.http.request("GET", challenge.realm, params=params, auth=auth, label=who)
        if resp.status_code in (401, 403):
            raise self._auth_error(f"the token service {challenge.realm}", resp.status_code)
        if resp.status_code != 200:
            raise RegistryError(f"{who} answered HTTP {resp.status_code}")
        data = net.json_object(resp.content, f"the answer of {who}", RegistryError)
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{who} sent no token")
        return token

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


def _error_detail(resp: requests.Response) -> str:
    """``: CODE message`` from a distribution error body, if any (read within a small bound)."""
    try:
        body = net.read_body(resp, net.ERROR_BODY_MAX, "an error answer", RegistryError)
        first = net.parse_json(body, "an error answer", RegistryError)["errors"][0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()[:300]
    except (PreserveError, requests.RequestException, LookupError, TypeError, AttributeError):
        return ""
