"""Crate identity and discovery, end to end on a real registry and the DataCite test server:

capture (no git remote, no url) -> push --to REG/REPO -> publish (no second push
elsewhere) -> every URL in the DOI metadata answers a plain GET -> pull and rerun
by the *image's* reference find the published crate -> the crate the DOI pins
passes the community validator online with no issue -> the crate cache is keyed
by the crate's digest, the rerun crate is based on the DOI -> a mirror that copied
the image without its referrers gets a clear message.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import Registry, run_preserve
from tests.doi.conftest import PASSWORD, PREFIX, REPO
from tests.doi.datacite_server import DataCiteServer
from tests.helpers import EXAMPLE, copy_analysis, git_commit_all, load_graph, validate_crate

pytestmark = [pytest.mark.docker, pytest.mark.registry]


class _Landing(http.server.BaseHTTPRequestHandler):
    """A repository's landing pages: any /doi/... answers an HTML page."""

    def do_GET(self) -> None:
        ok = self.path.startswith("/doi/")
        body = b"<html><body>landing page</body></html>" if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def landing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def urls_in(record: dict[str, Any]) -> list[str]:
    """Every URL of a DOI record built from the crate: landing page and related identifiers."""
    related = [
        r["relatedIdentifier"]
        for r in record["attributes"]["relatedIdentifiers"]
        if r["relatedIdentifierType"] == "URL"
    ]
    return [record["url"], *related]


def test_publish_after_push_discovery_by_image_and_links(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    datacite: DataCiteServer,
    demo_data_server: str,
    isolated_dirs: Path,
) -> None:
    analysis = copy_analysis(EXAMPLE, tmp_path / "azint", commit=False)
    manifest = analysis / "preserve.yaml"
    manifest.write_text(
        "".join(line for line in manifest.read_text().splitlines(True) if "url:" not in line)
    )
    git_commit_all(analysis)  # a git repository without a remote, and no url
    with landing_server() as landing:
        env = {
            "PRESERVE_DOI_PROVIDER": "datacite",
            "PRESERVE_DATACITE_ENDPOINT": datacite.url,
            "PRESERVE_DATACITE_REPOSITORY_ID": REPO,
            "PRESERVE_DATACITE_PASSWORD": PASSWORD,
            "PRESERVE_DATACITE_PREFIX": PREFIX,
            "PRESERVE_LANDING_URL": f"{landing}/doi/{{doi}}",
            "PRESERVE_DOI_RESOLVER": datacite.url,
        }
        crate = tmp_path / "crate"
        assert run_preserve("capture", str(analysis), "-o", str(crate), env=env).returncode == 0
        target = f"{registry.host}/lab/azint"
        proc = run_preserve("push", str(crate), "--to", f"{target}:1.0", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        pushed = json.loads(proc.stdout)

        # publish CRATE_DIR registers what is in REG/REPO: no push to the default store
        proc = run_preserve("publish", str(crate), "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        published = json.loads(proc.stdout)
        doi = published["doi"]
        assert published["crate_ref"].startswith(f"{target}@sha256:")
        assert published["image_ref"] == pushed["image_ref"]
        assert not (isolated_dirs / "data" / "oci-layout").exists()

        # every URL in the DOI metadata answers a plain GET with 200
        stored = datacite.dois[doi.lower()]
        record = {"url": stored.url, "attributes": stored.attributes}
        urls = urls_in(record)
        assert len(urls) == 4  # landing page, crate metadata, image config, the input
        for url in urls:
            resp = requests.get(url, timeout=10)
            assert resp.status_code == 200, url
        assert not any("/manifests/" in url for url in urls)
        alternate = stored.attributes["alternateIdentifiers"][0]
        assert alternate == {
            "alternateIdentifier": published["crate_ref"],
            "alternateIdentifierType": "OCI",
        }

    # pulling by the image's reference finds the published crate, not the one it replaced
    pulled = tmp_path / "pulled"
    proc = run_preserve("pull", f"{target}:1.0", "-o", str(pulled), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["crate_ref"] == published["crate_ref"]
    graph = load_graph(pulled)
    assert graph["./"]["identifier"] == f"https://doi.org/{doi}"
    software = graph[f"https://doi.org/{doi}#analysis-code"]  # an address under the DOI
    assert software["url"] == f"https://doi.org/{doi}"

    # the crate the DOI pins passes the community validator, online, with no issue at all
    code, issues = validate_crate(pulled, tmp_path, online=True)
    assert (code, issues) == (0, [])

    # rerun by the image's reference: the crate cache is keyed by the crate's digest
    rerun = tmp_path / "rerun"
    proc = run_preserve("rerun", f"{target}:1.0", "-o", str(rerun), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["reproduced"] is True
    cached = sorted(p.name for p in (isolated_dirs / "cache" / "crates").iterdir())
    assert cached == [published["crate_ref"].split("@")[1].replace(":", "-")]
    assert load_graph(rerun)["./"]["isBasedOn"] == {"@id": f"https://doi.org/{doi}"}

    # a mirror that copied the image but not its referrers: a clear message
    mirror = f"{registry.host}/mirror/azint:1.0"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--quiet",
            f"docker://{target}:1.0",
            f"docker://{mirror}",
        ],
        check=True,
        capture_output=True,
    )
    proc = run_preserve("pull", mirror, "-o", str(tmp_path / "m"), env=env)
    assert proc.returncode == 1
    assert "no crate refers to it" in proc.stderr and "copy them too" in proc.stderr
    assert "Traceback" not in proc.stderr and "artifactType None" not in proc.stderr
