"""From a DOI to the metadata, state and pinned crate and image it records.

Looked up in this order, stopping at the first hit:

1. the local stores of the installed providers that keep DOIs on this machine
   (``local_only``: the sandbox; no network);
2. the local cache of findable records (``cache_dir/doi``; no network);
3. the DataCite REST API (``GET /dois/{doi}``, no credentials needed for
   findable DOIs) when the prefix is one of ``doi_prefixes`` or the prefix in
   ``[doi.datacite]``; this is also how DataCite *test* DOIs resolve, which
   doi.org never serves;
4. DOI content negotiation at ``doi_resolver`` (``Accept:
   application/vnd.datacite.datacite+json``) for any other DOI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from preserve.doi.datacite import TEST_API, datacite_options
from preserve.doi.http import ApiClient, json_body
from preserve.doi.links import pinned_refs
from preserve.doi.metadata import bare_doi
from preserve.doi.providers import DoiRecord, State, local_providers
from preserve.doi.records import record_from_datacite_json, record_from_resource
from preserve.doi.validation import is_doi
from preserve.errors import DoiError
from preserve.oci.refs import OciRef
from preserve.settings import Settings

# The name of the local provider that knows the DOI, "datacite" or "content-negotiation".
Source = str
DATACITE_JSON = "application/vnd.datacite.datacite+json"


@dataclass(frozen=True)
class ResolvedDoi:
    doi: str
    state: State
    url: str | None
    attributes: Mapping[str, Any] = field(repr=False)
    crate_ref: OciRef | None
    image_ref: OciRef | None
    source: Source
    resolvable: bool  # globally, through doi.org


def _resolved(record: DoiRecord, source: Source, resolvable: bool) -> ResolvedDoi:
    crate, image = pinned_refs(record.attributes)
    return ResolvedDoi(
        record.doi, record.state, record.url, record.attributes, crate, image, source, resolvable
    )


def _cache_path(settings: Settings, doi: str) -> Path:
    return settings.cache_dir / "doi" / (quote(doi, safe="") + ".json")


def _from_cache(settings: Settings, doi: str) -> ResolvedDoi | None:
    path = _cache_path(settings, doi)
    try:
        data = json.loads(path.read_text())
        record = DoiRecord(data["doi"], data["state"], data["url"], data["attributes"])
        return _resolved(record, data["source"], bool(data["resolvable"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: look it up again


def _to_cache(settings: Settings, resolved: ResolvedDoi) -> None:
    if resolved.state != "findable":
        return
    path = _cache_path(settings, resolved.doi)
    data = {k: v for k, v in asdict(resolved).items() if k not in ("crate_ref", "image_ref")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written only costs a lookup next time


def _datacite_prefixes(settings: Settings) -> set[str]:
    prefixes = {p.strip() for p in settings.doi_prefixes if p.strip()}
    prefix = datacite_options(settings).prefix
    if prefix:
        prefixes.add(prefix)
    return prefixes


def _from_rest_api(
    settings: Settings, doi: str, sleep: Callable[[float], None]
) -> ResolvedDoi | None:
    api_url = datacite_options(settings).api_url()
    api = ApiClient(api_url, service="the DataCite REST API", sleep=sleep, network=settings.network)
    resp = api.request(
        "GET",
        f"dois/{doi}",
        params={"publisher": "true", "affiliation": "true"},
        headers={"Accept": "application/vnd.api+json"},
    )
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise DoiError(
            f"the DataCite REST API at {api_url} answered HTTP {resp.status_code} for {doi}"
        )
    try:
        record = record_from_resource(json_body(resp), "datacite")
    except ValueError as exc:
        raise DoiError(f"the DataCite REST API at {api_url} sent no DOI record for {doi}") from exc
    # Test-system DOIs are never registered with doi.org.
    return _resolved(record, "datacite", record.state == "findable" and api_url != TEST_API)


def _from_resolver(
    settings: Settings, doi: str, sleep: Callable[[float], None]
) -> ResolvedDoi | None:
    resolver = ApiClient(
        settings.doi_resolver, service="the DOI resolver", sleep=sleep, network=settings.network
    )
    resp = resolver.request("GET", quote(doi, safe="/"), headers={"Accept": DATACITE_JSON})
    if resp.status_code in (404, 410):
        return None
    if resp.status_code != 200:
        raise DoiError(
            f"{settings.doi_resolver} answered HTTP {resp.status_code} for {doi} "
            f"(asked for {DATACITE_JSON})",
            hint="the DOI may be registered with an agency other than DataCite",
        )
    try:
        record = record_from_datacite_json(json_body(resp), "content-negotiation")
    except ValueError as exc:
        raise DoiError(
            f"{settings.doi_resolver} has no DataCite metadata for {doi}",
            hint="preserve DOIs are DataCite DOIs; check the DOI",
        ) from exc
    return _resolved(record, "content-negotiation", record.state == "findable")


def resolve(
    doi: str, settings: Settings, *, sleep: Callable[[float], None] = time.sleep
) -> ResolvedDoi:
    """Resolve ``doi`` (``10.x/y``, ``doi:10.x/y`` or ``https://doi.org/10.x/y``)."""
    doi = bare_doi(doi).lower()
    if not is_doi(doi):
        raise DoiError(f"{doi!r} is not a DOI", hint="a DOI looks like 10.1234/abc")
    locals_ = local_providers(settings)
    for provider in locals_:
        local = provider.get(doi)
        if local is not None:
            return _resolved(local, provider.name, False)
    cached = _from_cache(settings, doi)
    if cached is not None:
        return cached
    for provider in locals_:
        if doi.startswith(f"{provider.prefix.lower()}/"):
            raise DoiError(
                f"DOI {doi} is not in the local {provider.name} store of this machine",
                hint=f"{provider.name} DOIs (prefix {provider.prefix}) resolve only on the "
                "machine that minted them; publish with a provider such as datacite for a "
                "DOI others can resolve",
            )
    found = None
    if doi.split("/", 1)[0] in _datacite_prefixes(settings):
        found = _from_rest_api(settings, doi, sleep)
    if found is None:
        found = _from_resolver(settings, doi, sleep)
    if found is None:
        raise DoiError(
            f"DOI {doi} was not found (local sandbox store, DataCite REST API, "
            f"{settings.doi_resolver})",
            hint="check the DOI; for DataCite test DOIs add the prefix to doi_prefixes and set "
            "datacite.endpoint = 'test'",
        )
    _to_cache(settings, found)
    return found
