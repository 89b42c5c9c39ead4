"""DataCite's content negotiation: the citation formats DataCite renders for its own DOIs.

Two documented forms (https://support.datacite.org/docs/datacite-content-resolver):
``GET {resolver}/{doi}`` with an ``Accept`` header (doi.org forwards DataCite
DOIs to DataCite), and the link-based ``GET {api}/dois/{media-type}/{doi}``,
which also serves DataCite *test* DOIs that doi.org never sees. One attempt,
no retries: when DataCite cannot answer, preserve renders the citation itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from preserve.doi.datacite import datacite_options
from preserve.doi.http import ApiClient, Retry
from preserve.doi.resolve import ResolvedDoi
from preserve.errors import DoiError
from preserve.settings import Settings


@dataclass(frozen=True)
class Negotiated:
    text: str
    url: str


def negotiate(
    resolved: ResolvedDoi, media_type: str, settings: Settings, *, style: str | None = None
) -> Negotiated | None:
    """DataCite's rendering of ``resolved`` as ``media_type``; None when it has none."""
    if resolved.source == "sandbox":
        return None  # the sandbox's DOIs exist nowhere else
    params = {"style": style, "locale": "en-US"} if style else None
    if resolved.source == "datacite":
        base, service = datacite_options(settings).api_url(), "the DataCite REST API"
        path, headers = f"dois/{media_type}/{quote(resolved.doi, safe='/')}", {}
    else:
        base, service = settings.doi_resolver, "the DOI resolver"
        accept = media_type + (f"; style={style}; locale=en-US" if style else "")
        path, headers = quote(resolved.doi, safe="/"), {"Accept": accept}
    client = ApiClient(base, service=service, retry=Retry(attempts=1), network=settings.network)
    try:
        resp = client.request("GET", path, params=params, headers=headers)
    except DoiError:
        return None  # unreachable, or 429/5xx (DataCite answers 500 for unknown styles)
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if resp.status_code != 200 or ctype != media_type or not resp.text.strip():
        return None
    return Negotiated(resp.text, resp.url)
