"""Loopback detection, in one place: the two copies it replaces disagreed on ``::1``."""

from __future__ import annotations

import pytest

from preserve.doi.links import oci_ref_to_url
from preserve.net import is_loopback, server_of, url_is_loopback
from preserve.oci.refs import OciRef


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1:5000", True), ("localhost:5000", True), ("LOCALHOST", True),
     ("[::1]:5000", True), ("[::1]", True), ("::1", True), ("127.3.4.5", True),
     ("::ffff:127.0.0.1", True), ("[::ffff:127.0.0.1]:80", True), ("localhost.", True),
     ("ghcr.io", False), ("10.0.0.1:5000", False), ("[::2]:5000", False), ("::", False),
     ("localhost.example.org", False), ("127.0.0.1.nip.io", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_urls_and_servers() -> None:
    assert url_is_loopback("http://user:pw@[::1]:8080/x")
    assert not url_is_loopback("https://127.0.0.1.example.org/x")
    assert server_of("https://user:secret@data.example.org:8443/p?authz=x") == (
        "data.example.org:8443"
    )


def test_doi_links_and_registries_agree_on_ipv6_loopback() -> None:
    ref = OciRef("[::1]:5000", "lab/crate", digest="sha256:" + "a" * 64)
    assert oci_ref_to_url(ref).startswith("http://[::1]:5000/v2/lab/crate/manifests/")
