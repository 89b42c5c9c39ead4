"""The sandbox provider: DataCite's state machine in local SQLite, with landing pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree, html

from preserve.doi.metadata import build_attributes
from preserve.doi.mint import mint
from preserve.doi.providers import open_provider
from preserve.doi.sandbox import SandboxProvider
from preserve.errors import DoiError, MetadataError
from preserve.plugins import NoOptions
from preserve.settings import Settings
from tests.doi.samples import local_info, sample_info

XSD = Path(__file__).parent / "fixtures" / "datacite-xsd" / "kernel-4.5" / "metadata.xsd"


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


@pytest.fixture
def sandbox(settings: Settings) -> SandboxProvider:
    provider = open_provider(settings)  # the default, through its entry point
    assert isinstance(provider, SandboxProvider)
    return provider


def test_describe_says_not_resolvable(sandbox: SandboxProvider, settings: Settings) -> None:
    assert "not globally resolvable" in sandbox.describe()
    assert str(settings.data_dir / "sandbox-dois.sqlite") in sandbox.describe()


def test_draft_to_findable_with_landing_page(sandbox: SandboxProvider, settings: Settings) -> None:
    info = local_info(settings.store_dir)
    attrs = build_attributes(info)
    draft = sandbox.create_draft(info.doi, attrs)
    assert (draft.state, draft.url, draft.provider) == ("draft", None, "sandbox")
    assert sandbox.get(info.doi.upper()) == draft  # DOIs are case-insensitive

    record = sandbox.transition(info.doi, "publish")
    assert record.state == "findable"
    page = settings.data_dir / "landing" / "10.5072" / f"{info.doi.split('/')[1]}.html"
    assert record.url == page.as_uri()
    doc = html.fromstring(page.read_text())
    assert "not globally resolvable" in doc.text_content()
    assert info.title in doc.findtext(".//h1")
    assert f"preserve rerun {info.doi}" in doc.text_content()
    assert str(info.crate_ref) in doc.text_content() and str(info.image_ref) in doc.text_content()
    links = {link.get("rel"): link.get("href") for link in doc.iter("link")}
    assert links["cite-as"] == f"https://doi.org/{info.doi}"
    xml = page.with_name(links["describedby"])
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(xml))), schema.error_log
    assert links["item"].startswith("file://")


def test_state_machine(sandbox: SandboxProvider) -> None:
    info = sample_info()
    sandbox.create_draft(info.doi, build_attributes(info))
    with pytest.raises(DoiError, match=r"cannot hide DOI .* it is draft"):
        sandbox.transition(info.doi, "hide")
    assert sandbox.transition(info.doi, "register").state == "registered"
    with pytest.raises(DoiError, match="only drafts can be deleted"):
        sandbox.delete_draft(info.doi)
    assert sandbox.transition(info.doi, "publish").state == "findable"
    assert sandbox.transition(info.doi, "publish").state == "findable"  # repeat: no change
    with pytest.raises(DoiError, match="cannot register") as exc:
        sandbox.transition(info.doi, "register")
    assert exc.value.hint and "never return to draft" in exc.value.hint
    assert sandbox.transition(info.doi, "hide").state == "registered"
    with pytest.raises(DoiError, match="already exists"):
        sandbox.create_draft(info.doi, build_attributes(info))


def test_delete_only_drafts(sandbox: SandboxProvider) -> None:
    info = sample_info()
    sandbox.create_draft(info.doi, build_attributes(info))
    sandbox.delete_draft(info.doi)
    assert sandbox.get(info.doi) is None
    with pytest.raises(DoiError, match="not in the sandbox store"):
        sandbox.delete_draft(info.doi)
    with pytest.raises(DoiError, match="not in the sandbox store"):
        sandbox.update(info.doi, build_attributes(info))


def test_persists_across_instances(sandbox: SandboxProvider, settings: Settings) -> None:
    info = sample_info()
    sandbox.create_draft(info.doi, build_attributes(info))
    sandbox.transition(info.doi, "publish", url="https://data.example.org/x")
    again = SandboxProvider.from_settings(NoOptions(), settings).get(info.doi)
    assert again is not None
    assert (again.state, again.url) == ("findable", "https://data.example.org/x")
    assert again.attributes == build_attributes(info)
    assert (settings.data_dir / "sandbox-dois.sqlite").is_file()


def test_invalid_metadata_is_refused_and_nothing_stored(sandbox: SandboxProvider) -> None:
    info = sample_info(title="")
    with pytest.raises(MetadataError, match=r"titles\[0\]\.title"):
        sandbox.create_draft(info.doi, build_attributes(info))
    assert sandbox.get(info.doi) is None


def test_only_test_prefix(sandbox: SandboxProvider) -> None:
    info = sample_info(prefix="10.82247")
    with pytest.raises(DoiError, match=r"only test DOIs under 10\.5072"):
        sandbox.create_draft(info.doi, build_attributes(info))


def test_landing_url_template_is_used(tmp_path: Path) -> None:
    settings = Settings.load(overrides={"landing_url": "https://lab.example.org/doi/{doi}"})
    sandbox = SandboxProvider.from_settings(NoOptions(), settings)
    info = sample_info()
    record = mint(sandbox, info.doi, build_attributes(info))
    assert record.url == f"https://lab.example.org/doi/{info.doi}"
    assert not (settings.data_dir / "landing").exists()  # not the sandbox's page to write


def test_mint_is_idempotent(sandbox: SandboxProvider, settings: Settings) -> None:
    info = sample_info()
    first = mint(sandbox, info.doi, build_attributes(info))
    assert first.state == "findable"
    changed = build_attributes(sample_info(version="1.2.1"))
    again = mint(sandbox, info.doi, changed)
    assert (again.state, again.url, again.attributes["version"]) == ("findable", first.url, "1.2.1")
    page = Path(first.url.removeprefix("file://"))  # type: ignore[union-attr]
    assert "1.2.1" in page.read_text()  # the sandbox's own page follows the metadata


def test_read_never_creates_the_store(sandbox: SandboxProvider, settings: Settings) -> None:
    assert sandbox.get("10.5072/preserve.0000000000") is None
    assert not (settings.data_dir / "sandbox-dois.sqlite").exists()
