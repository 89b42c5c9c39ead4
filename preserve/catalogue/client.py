"""Sending to a catalogue service: what ``publish`` submits and what ``rerun`` reports.

A configured catalogue (``catalogue.url``, ``catalogue.token``) gets the DOI's
DataCite record and the crate's JSON-LD *before* the DOI is made findable, so a
DOI never resolves to a landing page that does not know it; a refusal stops the
publish with the catalogue's reason and nothing is minted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from preserve.crate.read import MAX_METADATA_BYTES, read_bounded
from preserve.doi.http import ApiClient, Retry, json_body
from preserve.errors import ConfigError, DoiError
from preserve.settings import Settings


def _client(settings: Settings) -> tuple[ApiClient, dict[str, str]]:
    url, token = settings.catalogue.url, settings.catalogue.token
    if not url:
        raise ConfigError("no catalogue is configured", hint="set catalogue.url")
    if token is None:
        raise ConfigError(
            f"the catalogue at {url} needs a token to publish into it",
            hint="set PRESERVE_CATALOGUE_TOKEN (or catalogue.token in the config file)",
        )
    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    client = ApiClient(
        url, service="the catalogue", retry=Retry(attempts=3), network=settings.network
    )
    return client, headers


def submit(
    settings: Settings,
    doi: str,
    attributes: Mapping[str, Any],
    crate_metadata: Path,
    *,
    url: str | None = None,
) -> str:
    """Submit ``doi`` to the configured catalogue; returns its landing page there."""
    client, headers = _client(settings)
    body = {
        "doi": doi,
        "url": url,
        "state": "findable",
        "attributes": dict(attributes),
        "crate": read_bounded(crate_metadata, MAX_METADATA_BYTES).decode("utf-8"),
    }
    resp = client.request("POST", "api/functions", json=body, headers=headers)
    answer = json_body(resp)
    if resp.status_code not in (200, 201):
        raise DoiError(
            f"the catalogue at {settings.catalogue.url} refused {doi} "
            f"(HTTP {resp.status_code}): {answer.get('error') or resp.reason}",
            hint="nothing was published; fix what it names and publish again"
            if resp.status_code == 422
            else "check catalogue.url and catalogue.token (PRESERVE_CATALOGUE_TOKEN)",
        )
    return str(answer.get("landing_page") or "")


def report_rerun(settings: Settings, report: Mapping[str, Any]) -> None:
    """Tell the catalogue how a rerun of a DOI went (``rerun --json``'s report)."""
    client, headers = _client(settings)
    outputs = report.get("outputs") or []
    body = {
        "doi": report["doi"],
        "reproduced": report.get("reproduced"),
        "verdicts": {str(o.get("path")): str(o.get("verdict")) for o in outputs},
        "when": (report.get("run") or {}).get("end"),
        "reporter": report.get("reporter") or "",
    }
    resp = client.request("POST", "api/reruns", json=body, headers=headers)
    if resp.status_code != 201:
        raise DoiError(
            f"the catalogue at {settings.catalogue.url} did not record the rerun "
            f"(HTTP {resp.status_code}): {json_body(resp).get('error') or resp.reason}"
        )
