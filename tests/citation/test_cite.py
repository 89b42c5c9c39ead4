"""``preserve cite``: a CSL processor renders the DOI's metadata; DataCite's content
negotiation is preferred for DataCite DOIs when it answers; every format is checked."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from preserve.citation import cite, render
from preserve.citation.cff import validate_cff
from preserve.doi.datacite import DataCiteProvider
from preserve.doi.metadata import Person, build_attributes
from preserve.doi.mint import mint
from preserve.doi.providers import open_provider
from preserve.doi.validation import to_xml
from preserve.errors import CitationError
from preserve.settings import Settings
from tests.conftest import free_port
from tests.doi.conftest import PREFIX, datacite_settings
from tests.doi.datacite_server import DataCiteServer
from tests.doi.samples import sample_info

CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens: any network use fails
HOSTILE = "Evil } @misc{x, title={pwned}} \\input{/etc/passwd} $x$ 100% <script>alert(1)</script>"


@pytest.fixture
def sandbox_doi() -> str:
    settings = Settings.load(overrides={"doi_resolver": CLOSED})
    info = sample_info()
    mint(open_provider(settings, "sandbox"), info.doi, build_attributes(info))
    return info.doi


def test_apa_matches_the_hand_checked_string(sandbox_doi: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    # APA 7, software: Author, A. A., & Author, B. B. (Year). Title (Version x) [Computer
    # software]. Publisher. https://doi.org/...  ("Grace Hopper" has no family/given: split).
    expected = (
        "Lovelace, A., & Hopper, G. (2026). Azimuthal integration of a LaB6 calibration run "
        "(Version 1.2.0) [Computer software]. Deutsches Elektronen-Synchrotron DESY. "
        f"https://doi.org/{sandbox_doi}"
    )
    result = run_cli("cite", sandbox_doi)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected + "\n"
    as_json = json.loads(run_cli("cite", sandbox_doi, "--json").stdout)
    assert as_json["source"] == "preserve"  # a sandbox DOI: rendered here, offline
    assert as_json["media_type"] == "text/x-bibliography" and as_json["style"] == "apa"


def test_other_csl_styles_come_from_the_style_repository(sandbox_doi: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    ieee = run_cli("cite", sandbox_doi, "--style", "ieee").stdout
    assert "A. Lovelace and G. Hopper" in ieee and "doi: 10.5072/" in ieee
    mla = run_cli("cite", sandbox_doi, "--format", "text", "--style", "modern-language-association")
    assert "Azimuthal Integration of a LaB6 Calibration Run. Version 1.2.0," in mla.stdout
    bad = run_cli("cite", sandbox_doi, "--style", "no-such-style")
    assert bad.exit_code == 1 and "no CSL style named 'no-such-style'" in bad.stderr
    assert "Traceback" not in bad.stderr
    wrong = run_cli("cite", sandbox_doi, "--format", "bibtex", "--style", "ieee")
    assert wrong.exit_code == 1 and "--style applies to formatted text" in wrong.stderr


def test_every_format(sandbox_doi: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = {
        fmt: run_cli("cite", sandbox_doi, "--format", fmt).stdout
        for fmt in ("bibtex", "ris", "csl-json", "datacite-xml", "datacite-json", "cff")
    }
    assert out["bibtex"].startswith(f"@misc{{{sandbox_doi},")
    assert "author = {Lovelace, Ada and Hopper, Grace}" in out["bibtex"]
    ris = out["ris"].split("\r\n")
    assert ris[0] == "TY  - COMP" and "AU  - Lovelace, Ada" in ris and ris[-2] == "ER  - "
    [item] = json.loads(out["csl-json"])
    assert item["type"] == "software" and item["DOI"] == sandbox_doi
    assert item["author"][0] == {"family": "Lovelace", "given": "Ada"}
    assert out["datacite-xml"].startswith("<?xml")
    assert f'identifierType="DOI">{sandbox_doi}<' in out["datacite-xml"].replace(
        sandbox_doi.upper(), sandbox_doi
    )
    assert json.loads(out["datacite-json"])["doi"] == sandbox_doi
    cff = validate_cff(out["cff"])
    assert cff["cff-version"] == "1.2.0" and cff["doi"] == sandbox_doi
    assert cff["authors"][0]["orcid"] == "https://orcid.org/0000-0002-1825-0097"
    assert {"type": "doi", "value": "10.1107/S1600576715004306"}.items() <= cff["identifiers"][
        3
    ].items()


def test_hostile_text_cannot_break_out_of_a_format() -> None:
    info = replace(sample_info(), title=HOSTILE, creators=[Person("Mallory }, {Eve")])
    attrs = build_attributes(info)
    bib = render(info.doi, attrs, "bibtex")
    assert bib.count("@misc{") == 1 and "\\input{" not in bib
    assert bib.count("{") - bib.count("\\{") == bib.count("}") - bib.count("\\}")
    ris = render(info.doi, attrs, "ris")
    assert all(line[:2].isupper() and line[2:6] == "  - " for line in ris.split("\r\n")[:-1])
    cff = validate_cff(render(info.doi, attrs, "cff"))
    assert cff["title"] == HOSTILE  # YAML carries it as data
    assert "<script>" in render(info.doi, attrs, "text")  # plain text: the web pages escape it


def test_cff_that_breaks_the_schema_is_refused() -> None:
    text = yaml.safe_dump({"cff-version": "1.2.0", "message": "m", "title": "t", "authors": []})
    with pytest.raises(CitationError, match=r"does not validate against CFF 1\.2\.0: authors"):
        validate_cff(text)
    with pytest.raises(CitationError, match="not YAML"):
        validate_cff("a: [")


def test_datacite_doi_prefers_content_negotiation(
    datacite: DataCiteServer,
    provider: DataCiteProvider,
    run_cli,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    info = sample_info(prefix=PREFIX)
    mint(provider, info.doi, build_attributes(info))
    answer = "Lovelace, A., & Hopper, G. (2026). As DataCite renders it. https://doi.org/x"
    datacite.negotiates(info.doi, "text/x-bibliography", answer, style="apa")
    datacite.negotiates(info.doi, "application/x-bibtex", "@misc{from-datacite}\n")
    for key, value in {
        "PRESERVE_DOI_PROVIDER": "datacite",
        "PRESERVE_DATACITE_ENDPOINT": datacite.url,
        "PRESERVE_DATACITE_PREFIX": PREFIX,
        "PRESERVE_DOI_RESOLVER": datacite.url,
    }.items():
        monkeypatch.setenv(key, value)
    result = json.loads(run_cli("cite", info.doi, "--json").stdout)
    assert (result["citation"], result["source"]) == (answer, "datacite")
    cn = [r for r in datacite.requests if r.path.startswith("/dois/text/x-bibliography/")]
    assert len(cn) == 1  # the REST API's link form: test DOIs never reach doi.org
    assert run_cli("cite", info.doi, "--format", "bibtex").stdout == "@misc{from-datacite}\n"
    # A style DataCite has no rendering for (HTTP 500) and --offline: rendered here.
    ieee = json.loads(run_cli("cite", info.doi, "--style", "ieee", "--json").stdout)
    assert ieee["source"] == "preserve" and "A. Lovelace and G. Hopper" in ieee["citation"]
    offline = json.loads(run_cli("cite", info.doi, "--offline", "--json").stdout)
    assert offline["source"] == "preserve" and offline["citation"].startswith("Lovelace, A., &")


def test_unreachable_datacite_falls_back_to_local_rendering(
    datacite: DataCiteServer, provider: DataCiteProvider
) -> None:
    info = sample_info(prefix=PREFIX)
    mint(provider, info.doi, build_attributes(info))
    settings = datacite_settings(datacite)
    cite(info.doi, settings=settings)  # resolves and caches the findable record
    datacite.stop()  # DataCite is gone: the cached record is rendered locally
    result = cite(info.doi, settings=settings, fmt="ris")
    assert result.source == "preserve" and "TY  - COMP" in result.text


def test_datacite_xml_matches_the_record(sandbox_doi: str) -> None:
    settings = Settings.load(overrides={"doi_resolver": CLOSED})
    info = sample_info()
    result = cite(sandbox_doi, settings=settings, fmt="datacite-xml")
    assert result.text == to_xml({**build_attributes(info), "doi": info.doi})
