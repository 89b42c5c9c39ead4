"""The one ``requests.Session`` factory for every server preserve talks to.

What every session gets, whoever builds it:

* ``User-Agent: preserve/VERSION``;
* connect and read timeouts on every request (``[network]`` settings), shortened
  to what is left of an active :func:`preserve.net.deadline`;
* TLS verified against ``network.ca_bundle``, else ``REQUESTS_CA_BUNDLE`` /
  ``SSL_CERT_FILE``, else the system bundle (requests would use certifi's);
* proxies from ``network.https_proxy`` / ``http_proxy`` / ``no_proxy``, else the
  standard ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``; loopback never goes
  through a proxy; no ``.netrc`` credentials are picked up behind the user's back;
* bounded answers: a body that is not streamed is read up to
  :data:`~preserve.net.limits.BODY_MAX`, and a redirect's body is never read;
* request bodies sent in 1 MiB blocks (urllib3's 16 KiB costs CPU on big blobs).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies, should_bypass_proxies
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from preserve import __version__
from preserve.errors import PreserveError, ServiceUnavailable
from preserve.net.deadline import active
from preserve.net.hosts import server_of, url_is_loopback
from preserve.net.limits import BODY_MAX, read_body
from preserve.settings import NetworkSettings

USER_AGENT = f"preserve/{__version__}"
BLOCK = 1 << 20


def ca_bundle(network: NetworkSettings) -> str | bool:
    """The CA certificates to verify servers with (see the module docstring)."""
    if network.ca_bundle is not None:
        return str(network.ca_bundle)
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        if os.environ.get(var):
            return os.environ[var]
    cafile = ssl.get_default_verify_paths().cafile
    if cafile and Path(cafile).is_file():
        return cafile
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    return str(system) if system.is_file() else True


def session(
    network: NetworkSettings | None = None,
    *,
    error: type[PreserveError] = ServiceUnavailable,
    max_body: int = BODY_MAX,
) -> requests.Session:
    """A configured session; ``error`` is what an oversized answer or a deadline raises."""
    return Session(network or NetworkSettings(), error, max_body)


class Session(requests.Session):
    def __init__(self, network: NetworkSettings, error: type[PreserveError], max_body: int) -> None:
        super().__init__()
        self.network = network
        self.trust_env = False  # proxies and CA bundle are decided below, netrc never read
        self.verify = ca_bundle(network)
        self.headers["User-Agent"] = USER_AGENT
        adapter = _Adapter(network, error, max_body)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def proxies_for(self, url: str) -> dict[str, str]:
        if url_is_loopback(url):
            return {}
        net = self.network
        configured = {k: v for k, v in (("https", net.https_proxy), ("http", net.http_proxy)) if v}
        if not configured:
            return dict(get_environ_proxies(url, no_proxy=net.no_proxy))
        return {} if should_bypass_proxies(url, no_proxy=net.no_proxy) else configured

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        target = url.decode() if isinstance(url, bytes) else str(url or "")
        merged["proxies"] = {**self.proxies_for(target), **(proxies or {})}
        return merged

    def rebuild_proxies(self, prepared_request: Any, proxies: Any) -> Any:
        """After a redirect: the proxies of the new URL (a loopback hop goes direct)."""
        own = self.proxies_for(str(prepared_request.url or ""))
        return super().rebuild_proxies(prepared_request, own)  # type: ignore[no-untyped-call]


class _Adapter(HTTPAdapter):
    def __init__(self, network: NetworkSettings, error: type[PreserveError], max_body: int) -> None:
        self.network = network
        self.error = error
        self.max_body = max_body
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = BLOCK
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager).__name__ != "SOCKSProxyManager":
            manager.pool_classes_by_scheme = _POOLS
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        connect, read = self.network.connect_timeout, self.network.read_timeout
        if isinstance(timeout, int | float):
            connect = read = float(timeout)
        elif isinstance(timeout, tuple):
            connect, read = (
                float(t) if t is not None else d
                for t, d in zip(timeout, (connect, read), strict=True)
            )
        limit = active()
        if limit is not None:
            limit.check()
            connect, read = limit.clamp(connect, read)
        resp = super().send(request, True, (connect, read), verify, cert, proxies)
        if request.method == "HEAD":  # no body, whatever Content-Length says
            resp.raw.read()  # (urllib3 reads nothing) so the connection is kept alive
            resp._content = b""
        elif resp.is_redirect:  # never read: a hostile redirect may carry gigabytes
            resp._content = b""  # what requests reads when it follows the redirect
            resp.close()
        elif not stream:
            label = f"the answer of {server_of(str(request.url))} to {request.method}"
            resp._content = read_body(resp, self.max_body, label, self.error)
        return resp


# Connections register with the active deadline, which shuts them when time runs out.


def _watch(connection: HTTPConnection) -> None:
    limit = active()
    if limit is not None:
        limit.watch(connection)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection, reused
            _watch(self)
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watch(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _watch(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


def abort(resp: requests.Response) -> None:
    """Close ``resp`` now, even while another thread is blocked reading its body.

    Closing a socket does not wake a ``recv`` in another thread; shutting it down does.
    """
    connection = getattr(resp.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    resp.close()
