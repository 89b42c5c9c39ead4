"""The session factory: User-Agent, timeouts, TLS trust, proxies, bounded answers."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import requests

from preserve import __version__, net
from preserve.errors import DataError
from preserve.settings import NetworkSettings, Settings
from tests.net.scripted import Scripted


def test_user_agent(server: Scripted) -> None:
    assert net.session().get(server.url()).text == "ok"
    assert server.seen[0][1]["User-Agent"] == f"preserve/{__version__}"


def test_every_request_has_timeouts_even_when_the_caller_sets_none() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog), never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
        with pytest.raises(requests.ReadTimeout):
            net.session(NetworkSettings(read_timeout=0.3)).get(url)


def test_network_settings_come_from_the_config_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[network]\nread_timeout = 7.5\nhttps_proxy = "http://proxy:3128"\n')
    settings = Settings.load(config_file=config, env={"PRESERVE_NETWORK_STAGE_DEADLINE": "99"})
    assert settings.network.read_timeout == 7.5
    assert settings.network.https_proxy == "http://proxy:3128"
    assert settings.network.stage_deadline == 99.0
    assert Settings.load(env={}).network == NetworkSettings()


def test_an_unknown_ca_is_refused_and_the_configured_bundle_trusted(
    tls_server: Scripted, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    cert, _ = self_signed
    http = net.Http(NetworkSettings(), error=DataError, attempts=1)
    with pytest.raises(DataError) as err:
        http.request("GET", tls_server.url())
    assert "SSLError" in err.value.message and tls_server.host in err.value.message
    trusted = net.Http(NetworkSettings(ca_bundle=cert), error=DataError, attempts=1)
    assert trusted.request("GET", tls_server.url()).text == "ok"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the standard variable, too
    assert net.Http(NetworkSettings(), attempts=1).request("GET", tls_server.url()).ok
    # The config file's bundle wins over the environment's.
    other = cert.parent / "other.pem"
    other.write_text(Path("/etc/ssl/certs/ca-certificates.crt").read_text())
    assert net.ca_bundle(NetworkSettings(ca_bundle=other)) == str(other)


def test_proxies_from_settings_then_environment_never_for_loopback(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    proxy = f"http://{server.host}"
    # The loopback "proxy" answers itself: nothing leaves the machine.
    session = net.session(NetworkSettings(http_proxy=proxy))
    assert session.get("http://data.example.org/scan.h5").text == "ok"
    assert server.seen[-1][0] == "GET http://data.example.org/scan.h5 HTTP/1.1"

    own = net.session(NetworkSettings(https_proxy="http://p:1", no_proxy="example.org"))
    assert isinstance(own, net.session().__class__)
    assert own.proxies_for("https://data.example.org/x") == {}  # type: ignore[attr-defined]
    assert own.proxies_for("https://ghcr.io/v2/") == {"https": "http://p:1"}  # type: ignore[attr-defined]

    monkeypatch.setenv("HTTPS_PROXY", "http://envproxy:8080")
    monkeypatch.setenv("NO_PROXY", "internal.lab")
    env = net.session()
    assert env.proxies_for("https://ghcr.io/v2/")["https"] == "http://envproxy:8080"  # type: ignore[attr-defined]
    assert env.proxies_for("https://internal.lab/x") == {}  # type: ignore[attr-defined]
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy that is not there
    assert env.get(server.url()).text == "ok"  # loopback goes direct


def test_answers_are_bounded(server: Scripted) -> None:
    session = net.session(error=DataError, max_body=1000)
    server.script.append((200, {}, b"x" * 1001))
    with pytest.raises(DataError, match="too large: 1001 bytes, the limit is 1000"):
        session.get(server.url())
    server.script.append((200, {}, b"x" * 1000))
    assert len(session.get(server.url()).content) == 1000
    server.script.append((200, {}, b"y" * 10))
    assert session.head(server.url()).content == b""  # a HEAD has no body to read
    assert os.environ.get("PRESERVE_CONFIG")  # the isolated test environment
