"""The catalogue service over HTTP, on SQLite and on PostgreSQL (``catalogue_db`` is
parametrised): token-only writes, every negotiated content type and 406, FAIR
Signposting read back by an independent parser, search, facets and pagination,
hostile text escaped, the rerun history."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
import signposting

from tests.serve.conftest import TOKEN, Service, submission

HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(1)>"\'><b>'
TYPES = {
    "text/html": "<!DOCTYPE html>",
    "application/ld+json": '{\n  "@context"',
    "application/vnd.datacite.datacite+json": "{",
    "application/vnd.datacite.datacite+xml": "<?xml",
    "application/x-bibtex": "@misc{10.5072/preserve.cn",
    "application/x-research-info-systems": "TY  - COMP",
    "text/x-bibliography": "Lovelace, A., & Hopper, G. (2026).",
    "application/vnd.citationstyles.csl+json": "[",
}


def test_writing_needs_the_token_reading_does_not(service: Service, tmp_path: Path) -> None:
    body = submission(tmp_path, "auth")
    assert service.submit(body, token=None).status_code == 401
    refused = service.submit(body, token="wrong")
    assert refused.status_code == 401 and TOKEN not in refused.text
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    created = service.submit(body)
    assert created.status_code == 201, created.text
    landing = created.json()["landing_page"]
    assert landing == f"{service.url}/doi/{body['doi']}" and created.json()["created"]
    assert service.submit(body).status_code == 200  # the same DOI again: replaced
    assert requests.get(landing, timeout=10).status_code == 200
    for method in ("PUT", "DELETE", "POST", "PATCH"):
        assert requests.request(method, landing, timeout=10).status_code == 405
    assert requests.delete(f"{service.url}/api/functions", timeout=10).status_code == 405
    rerun = {"doi": body["doi"], "reproduced": True, "verdicts": {"profile.csv": "identical"}}
    assert requests.post(f"{service.url}/api/reruns", json=rerun, timeout=10).status_code == 401


def test_submissions_that_do_not_hold_together_are_refused(
    service: Service, tmp_path: Path
) -> None:
    good = submission(tmp_path, "refused")
    bad_metadata = {**good, "attributes": {**good["attributes"], "titles": []}}
    answer = service.submit(bad_metadata)
    assert answer.status_code == 422 and "DataCite metadata" in answer.json()["error"]
    other_crate = {**good, "crate": good["crate"].replace("Integrates frames", "Something else")}
    answer = service.submit(other_crate)
    assert answer.status_code == 422 and "not the one" in answer.json()["error"]
    not_a_crate = submission(tmp_path, "notcrate")
    not_a_crate["crate"] = "[1, 2]"
    not_a_crate["attributes"]["relatedIdentifiers"] = []
    assert service.submit(not_a_crate).status_code == 422
    raw = requests.post(
        f"{service.url}/api/functions",
        data=b"{not json",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert raw.status_code == 422 and raw.json()["error"] == "the request body is not JSON"
    huge = requests.post(
        f"{service.url}/api/functions",
        data=b"x" * (41 * 2**20),
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert huge.status_code == 422 and "larger than" in huge.json()["error"]
    assert service.store.count() == 0


def test_content_negotiation_on_the_doi_url(service: Service, tmp_path: Path) -> None:
    body = submission(tmp_path, "cn")
    assert service.submit(body).status_code == 201
    url = f"{service.url}/doi/{body['doi']}"
    for media_type, start in TYPES.items():
        resp = requests.get(url, headers={"Accept": media_type}, timeout=10)
        assert resp.status_code == 200, media_type
        assert resp.headers["Content-Type"].split(";")[0] == media_type
        assert resp.text.lstrip().startswith(start), (media_type, resp.text[:80])
        assert resp.headers["Vary"] == "Accept" and 'rel="cite-as"' in resp.headers["Link"]
    crate = requests.get(url, headers={"Accept": "application/ld+json"}, timeout=10).text
    assert crate == body["crate"]  # the crate's JSON-LD as submitted, byte for byte
    xml = requests.get(url, headers={"Accept": TYPES_XML}, timeout=10).content
    assert ElementTree.fromstring(xml).tag == "{http://datacite.org/schema/kernel-4}resource"
    datacite = requests.get(url, headers={"Accept": TYPES_JSON}, timeout=10).json()
    assert datacite["doi"] == body["doi"] and datacite["titles"] == body["attributes"]["titles"]
    ieee = requests.get(url, headers={"Accept": "text/x-bibliography; style=ieee"}, timeout=10)
    assert ieee.text.startswith("[1]A. Lovelace and G. Hopper")

    # Preferences: q-values, wildcards, no Accept at all; refused types are 406.
    def negotiated(accept: str | None) -> requests.Response:
        return requests.get(url, headers={"Accept": accept} if accept else {}, timeout=10)

    assert negotiated(None).headers["Content-Type"].startswith("text/html")
    assert negotiated("*/*").headers["Content-Type"].startswith("text/html")
    picked = negotiated("text/html;q=0.5, application/x-bibtex")
    assert picked.headers["Content-Type"].startswith("application/x-bibtex")
    assert negotiated("application/*").headers["Content-Type"].startswith("application/ld+json")
    for refused in ("image/png", "application/pdf, text/csv", "text/html;q=0", "nonsense"):
        resp = negotiated(refused)
        assert resp.status_code == 406, refused
        assert "application/x-bibtex" in resp.text and 'rel="cite-as"' in resp.headers["Link"]
    bad_style = negotiated("text/x-bibliography; style=no-such-style")
    assert bad_style.status_code == 400 and "no CSL style" in bad_style.text
    # each representation at its own address, as the describedby links name them
    for media_type, start in TYPES.items():
        if media_type != "text/html":
            resp = requests.get(f"{service.url}/meta/{media_type}/{body['doi']}", timeout=10)
            assert resp.status_code == 200 and resp.text.lstrip().startswith(start)
    assert requests.get(f"{service.url}/doi/10.5072/nothing", timeout=10).status_code == 404


TYPES_XML = "application/vnd.datacite.datacite+xml"
TYPES_JSON = "application/vnd.datacite.datacite+json"


def test_signposting_read_back_by_an_independent_parser(service: Service, tmp_path: Path) -> None:
    body = submission(tmp_path, "signs")
    assert service.submit(body).status_code == 201
    url = f"{service.url}/doi/{body['doi']}"
    for found in (signposting.find_signposting_http(url), signposting.find_signposting_html(url)):
        assert str(found.citeAs.target) == f"https://doi.org/{body['doi']}"
        described = {str(s.type): str(s.target) for s in found.describedBy}
        assert set(described) == {TYPES_XML, TYPES_JSON, "application/ld+json"}
        for media_type, target in described.items():
            resp = requests.get(target, timeout=10)  # every describedby link answers
            assert resp.status_code == 200
            assert resp.headers["Content-Type"].split(";")[0] == media_type
        crate_link = next(s for s in found.describedBy if str(s.type) == "application/ld+json")
        assert "https://w3id.org/ro/crate" in {str(p) for p in crate_link.profiles}
        items = {str(s.target) for s in found.items}
        assert (
            "https://registry.example.org/v2/lab/integrate-crate/blobs/sha256:"
            + (body["attributes"]["relatedIdentifiers"][0]["relatedIdentifier"].rsplit(":", 1)[1])
            in items
        )
        assert any("/blobs/sha256:" in i for i in items - {str(found.citeAs.target)})
        assert {str(t.target) for t in found.types} == {
            "https://schema.org/AboutPage",
            "https://schema.org/Dataset",
        }
        assert [str(a.target) for a in found.authors] == ["https://orcid.org/0000-0002-1825-0097"]
        assert str(found.license.target) == "https://spdx.org/licenses/MIT.html"


def test_search_facets_dates_and_pages(service: Service, tmp_path: Path) -> None:
    from tests.doi.samples import Person

    people = [Person("Ada Lovelace", "Ada", "Lovelace"), Person("Grace Hopper", "Grace", "Hopper")]
    for n in range(25):
        changes = {
            "title": f"{'Small-angle scattering' if n % 5 == 0 else 'Azimuthal integration'} {n}",
            "keywords": ["SAXS"] if n % 5 == 0 else ["powder diffraction"],
            "creators": [people[n % 2]],
            "created": f"202{n % 3 + 4}-0{n % 9 + 1}-1{n % 10}",
        }
        assert service.submit(submission(tmp_path, f"s{n:02d}", **changes)).status_code == 201

    def search(**params: str) -> dict:  # type: ignore[type-arg]
        resp = requests.get(f"{service.url}/api/functions", params=params, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    everything = search()
    assert everything["total"] == 25 and len(everything["items"]) == 20
    assert everything["pages"] == 2 and "next" in everything["links"]
    second = requests.get(everything["links"]["next"], timeout=10).json()
    assert len(second["items"]) == 5 and second["page"] == 2 and "prev" in second["links"]
    seen = {i["doi"] for i in everything["items"]} | {i["doi"] for i in second["items"]}
    assert len(seen) == 25
    saxs = search(q="small-angle")
    assert saxs["total"] == 5 and all("Small-angle" in i["title"] for i in saxs["items"])
    assert search(q="scatt")["total"] == 5  # words match as prefixes
    assert search(q="lovelace azimuthal")["total"] == 10
    assert search(keyword="saxs")["total"] == 5  # facet values match case-insensitively
    assert search(creator="Hopper, Grace", keyword="SAXS")["total"] == 2
    facets = search(q="azimuthal")["facets"]
    assert {f["value"]: f["count"] for f in facets["keyword"]} == {"powder diffraction": 20}
    assert {f["value"] for f in facets["creator"]} == {"Lovelace, Ada", "Hopper, Grace"}
    assert search(**{"from": "2025", "to": "2025"})["total"] == 8
    assert search(**{"from": "2026-03"})["total"] == sum(
        1 for n in range(25) if f"202{n % 3 + 4}-0{n % 9 + 1}" >= "2026-03"
    )
    assert search(q="'); DROP TABLE functions; --")["total"] == 0
    assert search(q='"unbalanced * NEAR(')["total"] == 0
    assert search()["total"] == 25
    for bad in ({"per_page": "1000"}, {"page": "0"}, {"from": "last year"}):
        assert (
            requests.get(f"{service.url}/api/functions", params=bad, timeout=10).status_code == 400
        )
    html = requests.get(service.url, params={"q": "small-angle"}, timeout=10).text
    assert html.count('class="function"') == 5 and "preserve rerun 10.5072/preserve.s00" in html


def test_hostile_text_is_escaped_everywhere(service: Service, tmp_path: Path) -> None:
    from tests.doi.samples import Person

    body = submission(
        tmp_path,
        "hostile",
        title=HOSTILE,
        description=HOSTILE,
        keywords=[HOSTILE],
        creators=[Person(HOSTILE)],
    )
    assert service.submit(body).status_code == 201, service.submit(body).text
    pages = [
        requests.get(service.url, timeout=10).text,
        requests.get(service.url, params={"q": "alert"}, timeout=10).text,
        requests.get(f"{service.url}/doi/{body['doi']}", timeout=10).text,
    ]
    for page in pages:
        assert "<script>alert" not in page and "<img src=x" not in page and "<b>" not in page
        assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in page
    facet_link = f"{service.url}/?keyword=" + requests.utils.quote(HOSTILE)
    assert "<script>alert" not in requests.get(facet_link, timeout=10).text
    api = requests.get(f"{service.url}/api/functions", timeout=10).json()
    assert api["items"][0]["title"] == HOSTILE  # JSON carries it as data
    badge = requests.get(f"{service.url}/badge/{body['doi']}", timeout=10)
    assert badge.headers["Content-Type"] == "image/svg+xml" and "<script" not in badge.text
    csp = requests.get(service.url, timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_rerun_history_on_the_landing_page(service: Service, tmp_path: Path) -> None:
    body = submission(tmp_path, "reruns")
    assert service.submit(body).status_code == 201
    headers = {"Authorization": f"Bearer {TOKEN}"}
    reports = [
        {
            "doi": body["doi"],
            "reproduced": True,
            "verdicts": {"profile.csv": "identical"},
            "when": "2026-04-01T10:00:00Z",
            "reporter": "ada",
        },
        {
            "doi": body["doi"],
            "reproduced": False,
            "verdicts": {"profile.csv": "different"},
            "when": "2026-04-02T10:00:00Z",
            "reporter": "grace",
        },
    ]
    for report in reports:
        resp = requests.post(f"{service.url}/api/reruns", json=report, headers=headers, timeout=10)
        assert resp.status_code == 201
    unknown = {**reports[0], "doi": "10.5072/unknown"}
    resp = requests.post(f"{service.url}/api/reruns", json=unknown, headers=headers, timeout=10)
    assert resp.status_code == 404
    page = requests.get(f"{service.url}/doi/{body['doi']}", timeout=10).text
    assert page.index("not reproduced") < page.index(">reproduced<")  # newest first
    assert "profile.csv: different" in page and "profile.csv: identical" in page


@pytest.mark.parametrize("path", ["/static/style.css", "/static/catalogue.js", "/favicon.ico"])
def test_static_files(service: Service, path: str) -> None:
    resp = requests.get(f"{service.url}{path}", timeout=10)
    assert resp.status_code == 200 and resp.content


def test_no_token_configured_means_no_submissions(tmp_path: Path) -> None:
    from preserve.catalogue.stores import open_catalogue
    from tests.serve.conftest import run_service

    store = open_catalogue(f"sqlite:///{tmp_path / 'c.sqlite'}")
    with run_service(store) as url:
        resp = requests.post(
            f"{url}/api/functions",
            data=json.dumps({}),
            headers={"Authorization": "Bearer anything"},
            timeout=10,
        )
        assert resp.status_code == 403 and "no token" in resp.json()["error"]
    store.close()
