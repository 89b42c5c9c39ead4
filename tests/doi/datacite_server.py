"""A DataCite-compatible REST API server for the tests, on 127.0.0.1.

DataCite cannot be reached from the test machines, so this server stands in for
it. It follows DataCite's documentation and the behaviour of DataCite's own
server (``datacite/lupo``), and refuses what DataCite refuses:

* Creating and updating DOIs -- https://support.datacite.org/docs/api-create-dois and
  https://support.datacite.org/docs/updating-metadata-with-the-rest-api:
  JSON:API documents ``{"data": {"type": "dois", "attributes": {...}}}``, content
  type ``application/vnd.api+json``; ``POST /dois`` creates (``doi`` or ``prefix``
  for a random suffix) a draft unless an ``event`` is sent; ``PUT /dois/{doi}``
  replaces only the attributes sent, applies an ``event``, and creates the DOI if
  it does not exist; ``GET /dois/{doi}``; ``DELETE /dois/{doi}``.
  Reference: https://support.datacite.org/reference/ (post_dois, put_dois-id,
  get_dois-id, delete_dois-id).
* States -- https://support.datacite.org/docs/doi-states: ``publish`` moves a
  draft or registered DOI to findable, ``register`` a draft to registered,
  ``hide`` a findable DOI to registered; nothing returns to draft; only drafts
  can be deleted (405 ``Method not allowed`` otherwise). As in lupo's state
  machine (AASM, ``whiny_transitions: false``) an event that does not apply is
  ignored, not an error. Drafts need only the DOI; registered and findable DOIs
  need a ``url`` (``Can't be blank``) and valid mandatory metadata.
* Authentication -- HTTP Basic with the repository ID and password; 401
  ``Bad credentials.`` without or with wrong credentials, 403 ``You are not
  authorized to access this resource.`` for a prefix or DOI the repository does
  not own. Drafts and registered DOIs are visible only to their repository;
  anyone may read findable ones.
* Validation -- every payload against the Metadata Schema 4.5 JSON Schema of the
  ``datacite`` package (drafts: the fields sent; registered/findable: the full
  record), then, like lupo, the generated XML against DataCite's kernel-4.5 XSD.
  Refusals are 422 with ``{"errors": [{"source", "uid", "title"}]}``. As DataCite
  does, a string ``publisher`` and an integer ``publicationYear`` are accepted.
* Errors and limits -- https://support.datacite.org/docs/api-error-codes and
  https://support.datacite.org/docs/rate-limit: 429 with ``Retry-After`` and 5xx
  on demand (:meth:`DataCiteServer.rate_limit`, :meth:`DataCiteServer.fail`).
* DOI content negotiation -- https://support.datacite.org/docs/datacite-content-resolver:
  the server also plays doi.org: ``GET /{doi}`` with ``Accept:
  application/vnd.datacite.datacite+json`` redirects to
  ``/application/vnd.datacite.datacite+json/{doi}``, which serves DataCite JSON
  (the camel-cased crosscite form of ``datacite/bolognese``) for findable DOIs;
  ``text/html`` redirects to the landing page; unknown DOIs are 404. Citation
  formats (``text/x-bibliography; style=...``, ``application/x-bibtex``, RIS,
  CSL-JSON) are served, at doi.org's redirect and at the REST API's link form
  ``/dois/{media-type}/{doi}``, as a test records them with
  :meth:`DataCiteServer.negotiates` (DataCite renders them with citeproc-ruby,
  which this server does not imitate); a CSL style it has no rendering for is
  HTTP 500, as DataCite answers an unknown style.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from datacite import schema45
from jsonschema.validators import validator_for
from lxml import etree

XSD = Path(__file__).parent / "fixtures" / "datacite-xsd" / "kernel-4.5" / "metadata.xsd"
JSON_API = "application/vnd.api+json"
DATACITE_JSON = "application/vnd.datacite.datacite+json"
TEXT_CITATION = "text/x-bibliography"
CITATION_TYPES = (
    TEXT_CITATION,
    "application/x-bibtex",
    "application/x-research-info-systems",
    "application/vnd.citationstyles.csl+json",
    "application/vnd.datacite.datacite+xml",
)
SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
# lupo: validates_format_of :doi (on create) and :url.
DOI_FORMAT = re.compile(r"\A10\.\d{4,5}/[-._;()/:a-zA-Z0-9*~$=]+\Z")
URL_FORMAT = re.compile(r"\A(ftp|http|https)://\S+")
# Attributes of a request that are not metadata.
API_ONLY = {"event", "url", "prefix", "suffix", "xml", "contentUrl", "state", "doi"}
# lupo's mapping of XSD element names to the error source.
XSD_SOURCES = {
    "publicationYear": "publication_year",
    "alternateIdentifiers": "identifiers",
    "relatedIdentifiers": "related_identifiers",
    "geoLocations": "geo_locations",
    "rightsList": "rights_list",
    "fundingReferences": "funding_references",
    "version": "version_info",
    "resource": "xml",
}
TRANSITIONS = {
    "publish": {"draft": "findable", "registered": "findable"},
    "register": {"draft": "registered"},
    "hide": {"findable": "registered"},
}
_DRAFT_SCHEMA = {k: v for k, v in schema45.validator.schema.items() if k != "required"}
_DRAFT_VALIDATOR = validator_for(_DRAFT_SCHEMA)(_DRAFT_SCHEMA)
_XSD: etree.XMLSchema | None = None


def _xsd() -> etree.XMLSchema:
    global _XSD
    if _XSD is None:
        _XSD = etree.XMLSchema(etree.parse(str(XSD)))
    return _XSD


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Account:
    password: str
    prefixes: set[str]


@dataclass
class StoredDoi:
    doi: str
    client: str
    state: str = "draft"
    url: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    registered: str | None = None
    version: int = 0


@dataclass
class Logged:
    method: str
    path: str
    user: str | None
    content_type: str | None
    body: Any


class Refused(Exception):
    def __init__(
        self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
    ):
        super().__init__(status)
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def _unauthorized() -> Refused:
    return Refused(
        401,
        [{"status": "401", "title": "Bad credentials."}],
        {"WWW-Authenticate": 'Basic realm="datacite"'},
    )


def _forbidden() -> Refused:
    return Refused(
        403, [{"status": "403", "title": "You are not authorized to access this resource."}]
    )


def _not_found() -> Refused:
    return Refused(
        404, [{"status": "404", "title": "The resource you are looking for doesn't exist."}]
    )


def _as_submitted(attrs: dict[str, Any]) -> dict[str, Any]:
    """Metadata as DataCite reads it: it accepts a publisher string and an integer year."""
    out = {k: copy.deepcopy(v) for k, v in attrs.items() if k not in API_ONLY}
    if isinstance(out.get("publisher"), str):
        out["publisher"] = {"name": out["publisher"]}
    if isinstance(out.get("publicationYear"), int):
        out["publicationYear"] = str(out["publicationYear"])
    return out


def _schema_errors(doi: str, attrs: dict[str, Any], full: bool) -> list[dict[str, Any]]:
    instance = {**attrs, "doi": doi, "schemaVersion": attrs.get("schemaVersion", SCHEMA_VERSION)}
    validator = schema45.validator if full else _DRAFT_VALIDATOR
    out = []
    for err in validator.iter_errors(instance):
        source = str(err.absolute_path[0]) if err.absolute_path else "xml"
        if not err.absolute_path and err.validator == "required":
            source = err.message.split("'")[1]
        title = err.message[:1].upper() + err.message[1:]
        out.append({"source": source, "uid": doi, "title": title})
    return out


def _xsd_errors(doi: str, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    xml = schema45.tostring({**attrs, "doi": doi.upper()})
    schema = _xsd()
    if schema.validate(etree.fromstring(xml.encode())):
        return []
    out = []
    for e in schema.error_log:
        m = re.search(r"Element '\{[^}]*\}(\w+)'", e.message)
        element = m.group(1) if m else "resource"
        out.append(
            {
                "source": XSD_SOURCES.get(element, element),
                "uid": doi,
                "title": f"DOI {doi}: {e.message} at line {e.line}, column {e.column}",
            }
        )
    return out


def _url_errors(doi: str, url: str | None) -> list[dict[str, Any]]:
    if not url:
        return [{"source": "url", "uid": doi, "title": "Can't be blank"}]
    if not URL_FORMAT.match(url):
        return [{"source": "url", "uid": doi, "title": "URL is not valid"}]
    return []


def validate(doi: str, state: str, url: str | None, attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """What DataCite would refuse about a DOI about to be saved in ``state``."""
    full = state != "draft"
    errors = _schema_errors(doi, attrs, full)
    if full:
        errors += _url_errors(doi, url)
        if not errors:
            errors += _xsd_errors(doi, attrs)
    return errors


class DataCiteServer:
    """The server, its accounts and DOIs, a request log, and failure switches."""

    def __init__(self, accounts: dict[str, Account]) -> None:
        self.accounts = accounts
        self.dois: dict[str, StoredDoi] = {}
        self.requests: list[Logged] = []
        self.renderings: dict[tuple[str, str, str | None], str] = {}
        self.lock = threading.Lock()
        self._rate_limited = 0
        self._retry_after = "1"
        self._failures: list[int] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    def start(self) -> DataCiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def negotiates(self, doi: str, media_type: str, body: str, style: str | None = None) -> None:
        """Serve ``body`` for ``doi`` as ``media_type`` (for text/x-bibliography: in ``style``)."""
        style = (style or "apa") if media_type == TEXT_CITATION else None
        self.renderings[(doi.lower(), media_type, style)] = body

    def rate_limit(self, times: int, retry_after: str = "1") -> None:
        """Answer the next ``times`` requests with 429 and this ``Retry-After``."""
        self._rate_limited, self._retry_after = times, retry_after

    def fail(self, times: int, status: int = 503) -> None:
        """Answer the next ``times`` requests with ``status`` (a 5xx)."""
        self._failures = [status] * times

    def api_requests(self, method: str | None = None) -> list[Logged]:
        return [
            r for r in self.requests if r.path.startswith("/dois") and method in (None, r.method)
        ]

    def switches(self) -> None:
        """Refuse the request if a failure switch is on (called under the lock)."""
        if self._rate_limited > 0:
            self._rate_limited -= 1
            title = "Your request has been rate limited. See https://support.datacite.org/docs/rate-limit."
            raise Refused(
                429, [{"status": "429", "title": title}], {"Retry-After": self._retry_after}
            )
        if self._failures:
            status = self._failures.pop(0)
            raise Refused(status, [{"status": str(status), "title": "Service Unavailable"}])

    # -- the API --------------------------------------------------------------------

    def user(self, header: str | None) -> str | None:
        """The authenticated repository, None without credentials; 401 for wrong ones."""
        if not header:
            return None
        kind, _, token = header.partition(" ")
        try:
            user, _, password = base64.b64decode(token).decode().partition(":")
        except ValueError as exc:
            raise _unauthorized() from exc
        account = self.accounts.get(user)
        if kind.lower() != "basic" or account is None or account.password != password:
            raise _unauthorized()
        return user

    def _owned(self, user: str | None, doi: str) -> None:
        if user is None:
            raise _unauthorized()
        if doi.split("/", 1)[0] not in self.accounts[user].prefixes:
            raise _forbidden()
        stored = self.dois.get(doi)
        if stored is not None and stored.client != user:
            raise _forbidden()

    def create(self, user: str | None, attrs: dict[str, Any]) -> tuple[int, StoredDoi]:
        if user is None:
            raise _unauthorized()
        doi = str(attrs.get("doi") or "")
        if not doi and attrs.get("prefix"):
            doi = f"{attrs['prefix']}/{secrets.token_hex(2)}-{secrets.token_hex(2)}"
        doi = doi.lower()
        if not DOI_FORMAT.match(doi):
            raise Refused(422, [{"source": "doi", "uid": doi, "title": "Is invalid"}])
        self._owned(user, doi)
        if doi in self.dois:
            raise Refused(
                422, [{"source": "doi", "uid": doi, "title": "This DOI has already been taken"}]
            )
        stored = StoredDoi(doi=doi, client=user)
        self._apply(stored, attrs)
        self.dois[doi] = stored
        return 201, stored

    def update(self, user: str | None, doi: str, attrs: dict[str, Any]) -> tuple[int, StoredDoi]:
        if doi not in self.dois:  # PUT creates a DOI that does not exist yet
            return self.create(user, {**attrs, "doi": doi})
        self._owned(user, doi)
        stored = self.dois[doi]
        self._apply(stored, attrs)
        return 200, stored

    def _apply(self, stored: StoredDoi, attrs: dict[str, Any]) -> None:
        event = attrs.get("event")
        if event is not None and event not in TRANSITIONS:
            raise Refused(422, [{"source": "event", "uid": stored.doi, "title": "Is invalid"}])
        metadata = {**stored.attributes, **_as_submitted(attrs)}
        url = attrs.get("url", stored.url)
        state = TRANSITIONS.get(event or "", {}).get(stored.state, stored.state)
        errors = validate(stored.doi, state, url, metadata)
        if errors:
            raise Refused(422, errors)
        if state != "draft" and stored.registered is None:
            stored.registered = _now()
        stored.attributes, stored.url, stored.state = metadata, url, state
        stored.updated, stored.version = _now(), stored.version + 1

    def read(self, user: str | None, doi: str) -> StoredDoi:
        stored = self.dois.get(doi)
        if stored is None:
            raise _not_found()
        if stored.state != "findable" and stored.client != user:
            raise _not_found()  # drafts and registered DOIs are not public
        return stored

    def delete(self, user: str | None, doi: str) -> None:
        self._owned(user, doi)
        stored = self.read(user, doi)
        if stored.state != "draft":
            raise Refused(
                405,
                [{"status": "405", "title": "Method not allowed"}],
                {"Allow": "HEAD, GET, POST, PATCH, PUT, OPTIONS"},
            )
        del self.dois[doi]


def resource(stored: StoredDoi, query: dict[str, list[str]]) -> dict[str, Any]:
    """The JSON:API document for a DOI, shaped as in DataCite's documentation."""
    xml = None
    if stored.attributes.get("titles"):
        xml = base64.b64encode(
            schema45.tostring({**stored.attributes, "doi": stored.doi.upper()}).encode()
        ).decode()
    a = copy.deepcopy(stored.attributes)
    publisher = a.get("publisher")
    if query.get("publisher") != ["true"] and isinstance(publisher, dict):
        publisher = publisher.get("name")  # object form only with ?publisher=true
    people = {}
    for key in ("creators", "contributors"):
        people[key] = a.get(key, [])
        if query.get("affiliation") != ["true"]:
            for p in people[key]:
                p["affiliation"] = [x.get("name") for x in p.get("affiliation", [])]
    year = a.get("publicationYear")
    prefix, _, suffix = stored.doi.partition("/")
    attributes = {
        "doi": stored.doi,
        "prefix": prefix,
        "suffix": suffix,
        "identifiers": [],
        "alternateIdentifiers": a.get("alternateIdentifiers", []),
        "creators": people["creators"],
        "titles": a.get("titles", []),
        "publisher": publisher,
        "container": {},
        "publicationYear": int(year) if year else None,
        "subjects": a.get("subjects", []),
        "contributors": people["contributors"],
        "dates": a.get("dates", []),
        "language": a.get("language"),
        "types": a.get("types", {}),
        "relatedIdentifiers": a.get("relatedIdentifiers", []),
        "relatedItems": a.get("relatedItems", []),
        "sizes": a.get("sizes", []),
        "formats": a.get("formats", []),
        "version": a.get("version"),
        "rightsList": a.get("rightsList", []),
        "descriptions": a.get("descriptions", []),
        "geoLocations": a.get("geoLocations", []),
        "fundingReferences": a.get("fundingReferences", []),
        "xml": xml,
        "url": stored.url,
        "contentUrl": None,
        "metadataVersion": stored.version,
        "schemaVersion": a.get("schemaVersion", SCHEMA_VERSION),
        "source": "api",
        "isActive": stored.state == "findable",
        "state": stored.state,
        "reason": None,
        "created": stored.created,
        "registered": stored.registered,
        "published": str(year) if year else None,
        "updated": stored.updated,
    }
    return {
        "data": {
            "id": stored.doi,
            "type": "dois",
            "attributes": attributes,
            "relationships": {"client": {"data": {"id": stored.client.lower(), "type": "clients"}}},
        }
    }


def datacite_json(stored: StoredDoi) -> dict[str, Any]:
    """Content negotiation's DataCite JSON: bolognese's crosscite hash, camel-cased."""
    a = stored.attributes
    return {
        "id": f"https://doi.org/{stored.doi}",
        "doi": stored.doi,
        "url": stored.url,
        "types": a.get("types"),
        "creators": a.get("creators"),
        "titles": a.get("titles"),
        "publisher": a.get("publisher"),
        "container": {},
        "subjects": a.get("subjects", []),
        "contributors": a.get("contributors", []),
        "dates": a.get("dates", []),
        "publicationYear": int(a["publicationYear"]),
        "language": a.get("language"),
        "identifiers": [
            {"identifier": i["alternateIdentifier"], "identifierType": i["alternateIdentifierType"]}
            for i in a.get("alternateIdentifiers", [])
        ],
        "sizes": a.get("sizes", []),
        "formats": a.get("formats", []),
        "version": a.get("version"),
        "rightsList": a.get("rightsList", []),
        "descriptions": a.get("descriptions", []),
        "geoLocations": a.get("geoLocations", []),
        "fundingReferences": a.get("fundingReferences", []),
        "relatedIdentifiers": a.get("relatedIdentifiers", []),
        "relatedItems": [],
        "schemaVersion": SCHEMA_VERSION,
        "providerId": "datacite",
        "clientId": stored.client.lower(),
        "agency": "datacite",
        "state": stored.state,
    }


def _handler(server: DataCiteServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(
            self,
            status: int,
            body: Any,
            ctype: str = JSON_API,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = (
                b""
                if body is None
                else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            )
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if data:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise Refused(
                    400, [{"status": "400", "title": f"JSON::ParserError: {exc}"}]
                ) from exc

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            with server.lock:
                try:
                    body = self._body() if method in ("POST", "PUT") else None
                    server.requests.append(
                        Logged(method, path, None, self.headers.get("Content-Type"), body)
                    )
                    server.switches()
                    user = server.user(self.headers.get("Authorization"))
                    server.requests[-1].user = user
                    self._route(method, path, query, user, body)
                except Refused as r:
                    self._send(r.status, {"errors": r.errors}, headers=r.headers)

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], user: str | None, body: Any
        ) -> None:
            if method in ("POST", "PUT", "DELETE") and user is None:
                raise _unauthorized()  # authentication comes before anything else
            cn_prefix = f"/{DATACITE_JSON}/"
            doi = path[len("/dois/") :].lower()
            media = next((m for m in CITATION_TYPES if doi.startswith(f"{m}/")), None)
            if media and method == "GET":  # the REST API's link-based content negotiation
                self._citation(doi[len(media) + 1 :], media, (query.get("style") or [None])[0])
            elif path == "/dois" and method == "POST":
                self._send(*_created(server.create(user, _attributes(body)), query))
            elif path.startswith("/dois/") and method == "GET":
                self._send(200, resource(server.read(user, doi), query))
            elif path.startswith("/dois/") and method == "PUT":
                self._send(*_created(server.update(user, doi, _attributes(body)), query))
            elif path.startswith("/dois/") and method == "DELETE":
                server.delete(user, doi)
                self._send(204, None)
            elif method == "GET" and (cited := _cn_path(path)) is not None:
                self._citation(cited[1], cited[0], (query.get("style") or [None])[0])
            elif path.startswith(cn_prefix) and method == "GET":
                stored = server.read(None, path[len(cn_prefix) :].lower())
                self._send(200, datacite_json(stored), ctype=DATACITE_JSON)
            elif path.startswith("/10.") and method == "GET":
                self._resolve(path[1:].lower())
            else:
                raise _not_found()

        def _resolve(self, doi: str) -> None:
            stored = server.dois.get(doi)
            if stored is None or stored.state == "draft":  # drafts are not in the Handle System
                self._send(404, "<html><body>DOI Not Found</body></html>", ctype="text/html")
                return
            accept = self.headers.get("Accept") or ""
            wanted = next((m for m in CITATION_TYPES if accept.startswith(m)), None)
            if DATACITE_JSON in accept:
                location = f"/{DATACITE_JSON}/{doi}"
            elif wanted:
                style = re.search(r"style=([\w.-]+)", accept)
                location = f"/{wanted}/{doi}" + (f"?style={style.group(1)}" if style else "")
            else:
                location = stored.url or "/"
            self._send(302, None, headers={"Location": location})

        def _citation(self, doi: str, media: str, style: str | None) -> None:
            stored = server.dois.get(doi.lower())
            if stored is None or stored.state != "findable":
                raise _not_found()
            key = (doi.lower(), media, (style or "apa") if media == TEXT_CITATION else None)
            body = server.renderings.get(key)
            if body is None:
                self._send(500, {"errors": [{"status": "500", "title": "Internal server error"}]})
                return
            self._send(200, body, ctype=f"{media}; charset=utf-8")

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def _cn_path(path: str) -> tuple[str, str] | None:
    """``/{media-type}/{doi}`` (doi.org's redirect target) as (media type, DOI)."""
    media = next((m for m in CITATION_TYPES if path.startswith(f"/{m}/")), None)
    return (media, path[len(media) + 2 :]) if media else None


def _created(result: tuple[int, StoredDoi], query: dict[str, list[str]]) -> tuple[int, Any]:
    return result[0], resource(result[1], query)


def _attributes(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    attrs = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attrs, dict):
        raise Refused(
            422, [{"status": "422", "title": "param is missing or the value is empty: data"}]
        )
    return attrs
