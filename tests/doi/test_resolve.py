"""Resolving DOIs: local sandbox store, cache, DataCite REST API, content negotiation."""

from __future__ import annotations

import os

import pytest
import requests

from preserve.doi.datacite import DataCiteProvider
from preserve.doi.metadata import build_attributes
from preserve.doi.mint import mint
from preserve.doi.resolve import resolve
from preserve.doi.sandbox import SandboxProvider
from preserve.errors import DoiError
from preserve.plugins import NoOptions
from preserve.settings import Settings
from tests.conftest import free_port
from tests.doi.conftest import PREFIX, datacite_settings
from tests.doi.datacite_server import DataCiteServer
from tests.doi.samples import local_info, sample_info

CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens: any network use fails


def test_sandbox_doi_resolves_offline() -> None:
    settings = Settings.load(overrides={"doi_resolver": CLOSED})
    info = local_info(settings.store_dir)
    mint(SandboxProvider.from_settings(NoOptions(), settings), info.doi, build_attributes(info))
    found = resolve(f"https://doi.org/{info.doi.upper()}", settings)
    assert (found.doi, found.state, found.source, found.resolvable) == (
        info.doi,
        "findable",
        "sandbox",
        False,
    )
    assert found.crate_ref == info.crate_ref and found.image_ref == info.image_ref
    assert found.url is not None and found.url.startswith("file://")


def test_foreign_sandbox_doi_is_refused_without_network() -> None:
    settings = Settings.load(overrides={"doi_resolver": CLOSED})
    with pytest.raises(DoiError, match="not in the local sandbox store") as exc:
        resolve(sample_info().doi, settings)
    assert exc.value.hint and "only on the machine that minted them" in exc.value.hint


def test_datacite_rest_api_then_cache(datacite: DataCiteServer, provider: DataCiteProvider) -> None:
    info = sample_info(prefix=PREFIX)
    mint(provider, info.doi, build_attributes(info))
    settings = datacite_settings(datacite, doi_resolver=CLOSED)
    datacite.requests.clear()
    found = resolve(f"doi:{info.doi}", settings)
    assert (found.source, found.state, found.resolvable) == ("datacite", "findable", True)
    assert found.crate_ref == info.crate_ref and found.image_ref == info.image_ref
    assert found.attributes == build_attributes(info)
    [get] = datacite.requests
    assert get.user is None  # findable DOIs need no credentials
    cached = settings.cache_dir / "doi" / (info.doi.replace("/", "%2F") + ".json")
    assert cached.is_file()
    datacite.stop()  # from now on only the cache can answer
    again = resolve(info.doi, settings)
    assert (again.source, again.crate_ref, again.image_ref) == (
        "datacite",
        info.crate_ref,
        info.image_ref,
    )


def test_content_negotiation(datacite: DataCiteServer, provider: DataCiteProvider) -> None:
    info = sample_info(prefix=PREFIX)
    mint(provider, info.doi, build_attributes(info))
    # Not a configured prefix: only the resolver is asked, with DataCite JSON accepted.
    settings = Settings.load(overrides={"doi_resolver": datacite.url})
    datacite.requests.clear()
    found = resolve(info.doi, settings)
    assert (found.source, found.state, found.resolvable) == (
        "content-negotiation",
        "findable",
        True,
    )
    assert found.crate_ref == info.crate_ref and found.image_ref == info.image_ref
    assert found.url == f"https://data.example.org/doi/{info.doi}"
    assert [r.path for r in datacite.requests] == [
        f"/{info.doi}",
        f"/application/vnd.datacite.datacite+json/{info.doi}",
    ]
    # The same resolver sends browsers to the landing page.
    page = requests.get(f"{datacite.url}/{info.doi}", allow_redirects=False, timeout=5)
    assert page.status_code == 302 and page.headers["Location"] == found.url


def test_unknown_and_draft_dois(datacite: DataCiteServer, provider: DataCiteProvider) -> None:
    info = sample_info(prefix=PREFIX)
    provider.create_draft(info.doi, build_attributes(info))  # drafts are not public
    for settings in (
        datacite_settings(datacite),
        Settings.load(overrides={"doi_resolver": datacite.url}),
    ):
        with pytest.raises(DoiError, match=f"DOI {info.doi} was not found") as exc:
            resolve(info.doi, settings)
        assert exc.value.hint
    with pytest.raises(DoiError, match="not a DOI"):
        resolve("https://example.org/x", Settings.load())


def test_resolver_unreachable_is_a_clear_error() -> None:
    settings = Settings.load(overrides={"doi_resolver": CLOSED})
    with pytest.raises(DoiError, match="cannot reach the DOI resolver") as exc:
        resolve("10.82247/preserve.0000000000", settings)
    assert exc.value.hint and "network" in exc.value.hint


def test_resolver_setting_from_environment() -> None:
    assert Settings.load().doi_resolver == "https://doi.org"
    env = {
        "PRESERVE_CONFIG": os.environ["PRESERVE_CONFIG"],  # the test's empty config file
        "PRESERVE_DOI_RESOLVER": "https://resolver.example.org",
    }
    assert Settings.load(env=env).doi_resolver == "https://resolver.example.org"
