"""The datacite provider against the DataCite-compatible test server (datacite_server.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests

from preserve.doi.datacite import DataCiteProvider
from preserve.doi.http import error_items
from preserve.doi.metadata import build_attributes
from preserve.doi.mint import mint
from preserve.doi.providers import open_provider
from preserve.doi.records import record_from_resource
from preserve.doi.validation import validate_attributes
from preserve.errors import ConfigError, DoiError, MetadataError, MissingSecret, PreserveError
from preserve.settings import Settings
from tests.doi.conftest import (
    LANDING,
    OTHER_PREFIX,
    OTHER_REPO,
    PASSWORD,
    PREFIX,
    REPO,
    datacite_provider,
    datacite_settings,
)
from tests.doi.datacite_server import DataCiteServer
from tests.doi.samples import sample_info

FIXTURES = Path(__file__).parent / "fixtures"
INFO = sample_info(prefix=PREFIX)
DOI = INFO.doi
ATTRS = build_attributes(INFO)


def test_draft_to_findable(datacite: DataCiteServer, provider: DataCiteProvider) -> None:
    draft = provider.create_draft(DOI, ATTRS)
    assert (draft.state, draft.url, draft.provider) == ("draft", None, "datacite")
    assert draft.attributes == ATTRS  # what was sent comes back, publisher and year included
    [post] = datacite.api_requests("POST")
    assert post.content_type == "application/vnd.api+json"
    assert post.user == REPO
    assert post.body["data"]["type"] == "dois" and "event" not in post.body["data"]["attributes"]

    found = provider.get(DOI)
    assert found == draft
    updated = provider.update(DOI, build_attributes(sample_info(prefix=PREFIX, version="2.0")))
    assert updated.attributes["version"] == "2.0"

    record = provider.transition(DOI, "publish")
    assert record.state == "findable"
    assert record.url == LANDING.replace("{doi}", DOI)
    assert datacite.dois[DOI].state == "findable"
    # Findable metadata is public: anyone can read it, without credentials.
    public = requests.get(f"{datacite.url}/dois/{DOI}", timeout=5)
    assert public.status_code == 200
    assert public.json()["data"]["attributes"]["state"] == "findable"


def test_invalid_metadata_refused_before_any_request(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    bad = build_attributes(sample_info(prefix=PREFIX, creators=[], publication_year=26))
    with pytest.raises(MetadataError) as exc:
        provider.create_draft(DOI, bad)
    assert "creators" in exc.value.message and "publicationYear" in exc.value.message
    with pytest.raises(MetadataError):
        mint(provider, DOI, bad)
    with pytest.raises(MetadataError):
        provider.update(DOI, bad)
    assert datacite.requests == []


def test_interrupted_publish_resumes_without_duplicate(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    provider.create_draft(DOI, ATTRS)  # the first run stopped after this
    record = mint(provider, DOI, ATTRS)  # the rerun: GET finds the draft, update, publish
    assert record.state == "findable"
    assert list(datacite.dois) == [DOI]
    assert len(datacite.api_requests("POST")) == 1
    methods = [r.method for r in datacite.api_requests()]
    assert methods[1:] == ["GET", "GET", "PUT", "GET", "PUT"]
    mint(provider, DOI, ATTRS)  # and once more: nothing new is created
    assert list(datacite.dois) == [DOI] and len(datacite.api_requests("POST")) == 1


def test_hide_register_and_ignored_events(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    provider.create_draft(DOI, ATTRS)
    with pytest.raises(DoiError, match=r"left .* draft after 'hide'"):
        provider.transition(DOI, "hide")  # DataCite ignores it; the provider notices
    assert provider.transition(DOI, "register").state == "registered"
    assert requests.get(f"{datacite.url}/dois/{DOI}", timeout=5).status_code == 404  # private
    assert provider.transition(DOI, "publish").state == "findable"
    assert provider.transition(DOI, "hide").state == "registered"
    with pytest.raises(DoiError, match="only drafts can be deleted"):
        provider.delete_draft(DOI)
    assert DOI in datacite.dois


def test_delete_draft(datacite: DataCiteServer, provider: DataCiteProvider) -> None:
    provider.create_draft(DOI, ATTRS)
    provider.delete_draft(DOI)
    assert datacite.dois == {} and provider.get(DOI) is None
    with pytest.raises(DoiError, match="does not know it"):
        provider.update(DOI, ATTRS)  # PUT would create it; update must not
    assert datacite.dois == {}


def test_server_refuses_deleting_findable(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    mint(provider, DOI, ATTRS)
    resp = requests.delete(f"{datacite.url}/dois/{DOI}", auth=(REPO, PASSWORD), timeout=5)
    assert resp.status_code == 405 and "PUT" in resp.headers["Allow"]
    assert resp.json() == json.loads((FIXTURES / "error-405-delete.json").read_text())


def test_publish_needs_a_landing_url(datacite: DataCiteServer, sleeps: list[float]) -> None:
    provider = datacite_provider(datacite_settings(datacite, landing_url=None))
    provider.create_draft(DOI, ATTRS)
    with pytest.raises(ConfigError, match="landing_url is not set") as exc:
        provider.transition(DOI, "publish")
    assert exc.value.hint and "{doi}" in exc.value.hint
    with pytest.raises(DoiError, match="http"):
        provider.transition(DOI, "publish", url="file:///tmp/page.html")
    assert provider.transition(DOI, "publish", url="https://lab.example.org/x").state == "findable"


def test_server_requires_url_and_metadata_to_publish(datacite: DataCiteServer) -> None:
    auth = (REPO, PASSWORD)
    body = {"data": {"type": "dois", "attributes": {"doi": f"{PREFIX}/bare"}}}
    assert requests.post(f"{datacite.url}/dois", json=body, auth=auth, timeout=5).status_code == 201
    publish = {"data": {"type": "dois", "attributes": {"event": "publish"}}}
    resp = requests.put(f"{datacite.url}/dois/{PREFIX}/bare", json=publish, auth=auth, timeout=5)
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    sources = {e["source"] for e in errors}
    assert {"url", "creators", "titles", "publisher", "publicationYear", "types"} <= sources
    assert {"source": "url", "uid": f"{PREFIX}/bare", "title": "Can't be blank"} in errors
    assert datacite.dois[f"{PREFIX}/bare"].state == "draft"  # nothing changed
    assert error_items(resp.json(), 422)[0][0] in sources


def test_401_names_repository_and_source_never_the_password(
    datacite: DataCiteServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PRESERVE_DOI_DATACITE_PASSWORD", "wrong-" + PASSWORD)
    settings = Settings.load(
        overrides={
            "doi": {
                "datacite": {"endpoint": datacite.url, "repository_id": REPO, "prefix": PREFIX}
            },
            "landing_url": LANDING,
        }
    )
    provider = open_provider(settings, "datacite")
    with pytest.raises(DoiError) as exc:
        provider.create_draft(DOI, ATTRS)
    message = exc.value.diagnostics()
    assert REPO in message and "PRESERVE_DOI_DATACITE_PASSWORD" in message
    assert "refused the credentials" in message
    everything = message + repr(provider) + provider.describe() + caplog.text + repr(exc.value)
    assert PASSWORD not in everything and "wrong-" not in everything
    assert datacite.dois == {}
    # The server itself: 401 without credentials, with DataCite's body.
    resp = requests.post(f"{datacite.url}/dois", json={"data": {}}, timeout=5)
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    assert resp.json() == json.loads((FIXTURES / "error-401.json").read_text())


def test_403_for_a_prefix_or_doi_not_owned(datacite: DataCiteServer) -> None:
    mine = datacite_settings(datacite)
    wrong = datacite_settings(datacite, doi={"datacite": {"prefix": OTHER_PREFIX}})
    provider = datacite_provider(wrong)
    other_doi = f"{OTHER_PREFIX}/{DOI.split('/')[1]}"
    with pytest.raises(DoiError) as exc:
        provider.create_draft(other_doi, {**ATTRS, "doi": other_doi})
    assert f"repository {REPO} is not allowed to create draft DOI {other_doi}" in exc.value.message
    assert exc.value.hint and OTHER_PREFIX in exc.value.hint
    # A DOI another repository owns cannot be changed either.
    theirs = f"{OTHER_PREFIX}/theirs"
    body = {"event": "publish", "url": "https://other.example.org/", **ATTRS, "doi": theirs}
    created = requests.post(
        f"{datacite.url}/dois",
        json={"data": {"type": "dois", "attributes": body}},
        auth=(OTHER_REPO, "another-password"),
        timeout=5,
    )
    assert created.status_code == 201, created.text
    with pytest.raises(DoiError, match=f"not allowed to update {theirs}"):
        datacite_provider(mine).update(theirs, {**ATTRS, "doi": theirs})
    resp = requests.delete(f"{datacite.url}/dois/{theirs}", auth=(REPO, PASSWORD), timeout=5)
    assert resp.status_code == 403
    assert datacite.dois[theirs].state == "findable"


def test_422_lists_each_field_datacite_refuses(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    provider.create_draft(DOI, ATTRS)
    with pytest.raises(MetadataError, match="doi: This DOI has already been taken"):
        provider.create_draft(DOI, ATTRS)
    # xml:lang is checked by DataCite's XSD only: local validation lets it through,
    # the server refuses it when the DOI is to be published.
    attrs = {**ATTRS, "titles": [{"title": INFO.title, "lang": "not a language tag"}]}
    validate_attributes(attrs)
    provider.update(DOI, attrs)
    with pytest.raises(MetadataError) as exc:
        provider.transition(DOI, "publish")
    assert "title: DOI" in exc.value.message and "lang" in exc.value.message
    assert datacite.dois[DOI].state == "draft"


def test_429_honours_retry_after(
    datacite: DataCiteServer, provider: DataCiteProvider, sleeps: list[float]
) -> None:
    datacite.rate_limit(2, retry_after="7")
    assert provider.get(DOI) is None
    assert sleeps == [7.0, 7.0]
    sleeps.clear()
    datacite.rate_limit(100, retry_after="600")
    with pytest.raises(DoiError) as exc:
        provider.get(DOI)
    assert "HTTP 429" in exc.value.message and "5 times" in exc.value.message
    assert exc.value.hint and "rate-limit" in exc.value.hint
    assert sleeps == [60.0] * 4  # bounded: 5 attempts, no wait longer than a minute


def test_5xx_retried_with_backoff(
    datacite: DataCiteServer, provider: DataCiteProvider, sleeps: list[float]
) -> None:
    datacite.fail(3, status=503)
    assert provider.create_draft(DOI, ATTRS).state == "draft"
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(datacite.api_requests("POST")) == 4
    sleeps.clear()
    datacite.fail(10, status=500)
    with pytest.raises(DoiError, match="HTTP 500") as exc:
        provider.get(DOI)
    assert exc.value.hint and "try again later" in exc.value.hint
    assert len(sleeps) == 4


def test_missing_credentials_are_a_config_error(datacite: DataCiteServer) -> None:
    settings = Settings.load(overrides={"doi_provider": "datacite"})
    with pytest.raises(ConfigError) as exc:
        open_provider(settings)
    assert "needs repository_id and prefix in [doi.datacite]" in exc.value.message
    assert exc.value.hint and "PRESERVE_DOI_DATACITE_PASSWORD" in exc.value.hint
    # Only the password missing: a MissingSecret a terminal front end may ask for.
    account = {"doi": {"datacite": {"repository_id": REPO, "prefix": PREFIX}}}
    with pytest.raises(MissingSecret) as missing:
        open_provider(Settings.load(overrides={"doi_provider": "datacite", **account}))
    assert (missing.value.section, missing.value.key) == ("doi.datacite", "password")
    assert REPO in missing.value.prompt


def test_describe(provider: DataCiteProvider, datacite: DataCiteServer) -> None:
    text = provider.describe()
    assert datacite.url in text and REPO in text and PREFIX in text and PASSWORD not in text
    test = Settings.load(
        overrides={
            "doi": {"datacite": {"repository_id": REPO, "password": PASSWORD, "prefix": PREFIX}}
        }
    )
    assert "do not resolve at doi.org" in open_provider(test, "datacite").describe()


@pytest.mark.parametrize(
    ("fixture", "state", "url"),
    [
        ("create-findable-201.json", "findable", "https://example.org"),
        ("create-draft-201.json", "draft", None),
    ],
)
def test_parses_datacite_documented_responses(fixture: str, state: str, url: str | None) -> None:
    record = record_from_resource(json.loads((FIXTURES / fixture).read_text()), "datacite")
    assert (record.state, record.url) == (state, url)
    if state == "findable":
        assert record.doi == "10.5438/q5e8-9585"
        assert record.attributes["publisher"] == {"name": "DataCite e.V."}
        assert record.attributes["publicationYear"] == "2016"
        assert record.attributes["types"] == {"resourceTypeGeneral": "Text"}
        validate_attributes(record.attributes)
    else:
        assert record.attributes == {
            "doi": "10.5438/0012",
            "schemaVersion": "http://datacite.org/schema/kernel-4",
        }


def test_parses_documented_errors() -> None:
    body = json.loads((FIXTURES / "error-422-url-blank.json").read_text())
    assert error_items(body, 422) == [("url", "Can't be blank")]
    pointer = {
        "errors": [{"source": {"pointer": "/data/attributes/titles/0"}, "title": "Is invalid"}]
    }
    assert error_items(pointer, 422) == [("titles.0", "Is invalid")]
    assert error_items(json.loads((FIXTURES / "error-401.json").read_text()), 401) == [
        (None, "Bad credentials.")
    ]


def test_errors_are_preserve_errors() -> None:
    assert issubclass(MetadataError, DoiError) and issubclass(DoiError, PreserveError)


def test_server_validates_draft_payloads(datacite: DataCiteServer) -> None:
    """Drafts need only the DOI, but what is sent must still have the schema's shape."""
    auth = (REPO, PASSWORD)
    bad = {"data": {"type": "dois", "attributes": {"doi": f"{PREFIX}/x", "titles": "A title"}}}
    resp = requests.post(f"{datacite.url}/dois", json=bad, auth=auth, timeout=5)
    assert resp.status_code == 422
    assert [e["source"] for e in resp.json()["errors"]] == ["titles"]
    # DataCite's own documented example payload (publisher string, integer year) is accepted.
    documented = {
        "data": {
            "type": "dois",
            "attributes": {
                "event": "publish",
                "prefix": PREFIX,
                "creators": [{"name": "DataCite Metadata Working Group"}],
                "titles": [{"title": "DataCite Metadata Schema Documentation v4.0"}],
                "publisher": "DataCite e.V.",
                "publicationYear": 2016,
                "types": {"resourceTypeGeneral": "Text"},
                "url": "https://example.org",
            },
        }
    }
    resp = requests.post(f"{datacite.url}/dois", json=documented, auth=auth, timeout=5)
    assert resp.status_code == 201, resp.text
    attributes = resp.json()["data"]["attributes"]
    assert attributes["state"] == "findable" and attributes["doi"].startswith(f"{PREFIX}/")
    assert attributes["publicationYear"] == 2016
