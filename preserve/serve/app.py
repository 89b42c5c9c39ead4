"""The landing-page and function-catalogue web service (``preserve serve``), on Starlette.

Anonymous clients read: the catalogue (``/``, ``/api/functions``), each DOI's
landing page with FAIR Signposting and content negotiation (``/doi/<DOI>``),
each representation at its own address (``/meta/<media type>/<DOI>``, DataCite's
link form, for the ``describedby`` links) and badges (``/badge/<DOI>``).
Writing needs the bearer token: ``POST /api/functions`` (a DOI's record and its
crate's JSON-LD: what ``preserve publish`` sends) and ``POST /api/reruns``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from preserve.attach.badge import badge_snippets, badge_svg
from preserve.catalogue.entry import Entry, SubmissionError, commands, entry_from_submission
from preserve.catalogue.query import QueryError, Rerun, parse_query
from preserve.catalogue.stores import CatalogueStore
from preserve.doi.sandbox import SANDBOX_PREFIX
from preserve.errors import CitationError
from preserve.serve import pages
from preserve.serve.negotiation import choose
from preserve.serve.representations import HTML, OFFERED, content_type, represent
from preserve.serve.signposting import link_header, links, meta_url

MAX_BODY = 40 * 2**20  # a crate's JSON-LD is at most 32 MiB, plus the record
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class SecurityHeaders:
    """Adds the headers above to every response (a plain ASGI wrapper: no per-request cost)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class Catalogue:
    """The endpoints, over one store."""

    def __init__(
        self, store: CatalogueStore, *, token: str | None, base_url: str | None, site: str
    ) -> None:
        self.store = store
        self._token = hashlib.sha256(token.encode()).digest() if token else None
        self.base_url = base_url.rstrip("/") if base_url else None
        self.site = site

    def base(self, request: Request) -> str:
        return self.base_url or str(request.base_url).rstrip("/")

    # -- reading ---------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except QueryError as exc:
            return PlainTextResponse(f"bad request: {exc.message}\n", 400)
        page = self.store.search(query)

        def link(**changes: Any) -> str:
            return urlencode(query.params(**changes))

        html = pages.render(
            "catalogue.html",
            site=self.site,
            base=self.base(request),
            q=query.q,
            page=page,
            link=link,
        )
        return HTMLResponse(html)

    def api_functions(self, request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except QueryError as exc:
            return JSONResponse({"error": exc.message}, 400)
        page = self.store.search(query)
        return JSONResponse(page.to_json(f"{self.base(request)}/api/functions"))

    def landing(self, request: Request) -> Response:
        doi = request.path_params["doi"].lower()
        entry = self.store.get(doi)
        if entry is None:
            return self._not_found(doi)
        base = self.base(request)
        signposts = links(entry, base)
        headers = {"Link": link_header(signposts), "Vary": "Accept"}
        chosen = choose(request.headers.get("accept"), OFFERED)
        if chosen is None:
            return PlainTextResponse(
                "406 Not Acceptable: this DOI is available as " + ", ".join(OFFERED) + "\n",
                406,
                headers=headers,
            )
        media_type, media_range = chosen
        if media_type != HTML:
            return self._represent(entry, media_type, media_range.params.get("style"), headers)
        return HTMLResponse(self._landing_html(entry, base, signposts), headers=headers)

    def meta(self, request: Request) -> Response:
        media_type = f"{request.path_params['type']}/{request.path_params['subtype']}".lower()
        doi = request.path_params["doi"].lower()
        if media_type not in OFFERED or media_type == HTML:
            return PlainTextResponse(f"no representation {media_type}\n", 404)
        entry = self.store.get(doi)
        if entry is None:
            return self._not_found(doi)
        return self._represent(entry, media_type, request.query_params.get("style"), {})

    def badge(self, request: Request) -> Response:
        doi = request.path_params["doi"].lower()
        if self.store.get(doi) is None:
            return self._not_found(doi)
        return Response(
            badge_svg(doi),
            media_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    def favicon(self, request: Request) -> Response:
        return Response(status_code=301, headers={"Location": "/static/favicon.svg"})

    def _represent(
        self, entry: Entry, media_type: str, style: str | None, headers: dict[str, str]
    ) -> Response:
        try:
            body = represent(entry, media_type, style)
        except CitationError as exc:
            return PlainTextResponse(f"bad request: {exc.message}\n", 400, headers=headers)
        return Response(body, headers={**headers, "Content-Type": content_type(media_type)})

    def _landing_html(self, entry: Entry, base: str, signposts: list[Any]) -> str:
        badge_url = f"{base}/badge/{quote(entry.doi, safe='/')}"
        landing_url = f"{base}/doi/{quote(entry.doi, safe='/')}"
        formats = [
            ("DataCite XML", meta_url(base, "application/vnd.datacite.datacite+xml", entry.doi)),
            ("DataCite JSON", meta_url(base, "application/vnd.datacite.datacite+json", entry.doi)),
            ("RO-Crate JSON-LD", meta_url(base, "application/ld+json", entry.doi)),
            ("BibTeX", meta_url(base, "application/x-bibtex", entry.doi)),
            ("RIS", meta_url(base, "application/x-research-info-systems", entry.doi)),
            ("CSL-JSON", meta_url(base, "application/vnd.citationstyles.csl+json", entry.doi)),
        ]
        return pages.render(
            "landing.html",
            site=self.site,
            base=base,
            q="",
            e=entry,
            d=entry.details,
            links=signposts,
            sandbox=entry.doi.startswith(f"{SANDBOX_PREFIX}/"),
            commands=commands(entry),
            reruns=self.store.reruns(entry.doi),
            citation=entry.details.get("citation") or "",
            formats=formats,
            badge_markdown=badge_snippets(entry.doi, badge_url, landing_url)["markdown"],
        )

    def _not_found(self, doi: str) -> Response:
        return PlainTextResponse(f"{doi} is not in this catalogue\n", 404)

    # -- writing (token) ---------------------------------------------------------------------

    def _authorized(self, request: Request) -> Response | None:
        if self._token is None:
            return JSONResponse(
                {"error": "this catalogue accepts no submissions: it has no token configured"},
                403,
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(given.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(digest, self._token):
            return JSONResponse(
                {"error": "a valid bearer token is needed to publish into this catalogue"},
                401,
                headers={"WWW-Authenticate": 'Bearer realm="preserve catalogue"'},
            )
        return None

    async def _json_body(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
            raise SubmissionError(f"the request body is larger than {MAX_BODY // 2**20} MiB")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise SubmissionError(f"the request body is larger than {MAX_BODY // 2**20} MiB")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, RecursionError) as exc:
            raise SubmissionError("the request body is not JSON") from exc

    async def submit(self, request: Request) -> Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        try:
            body = await self._json_body(request)
            if not isinstance(body, dict):
                raise SubmissionError("the request body must be a JSON object")
            entry = await run_in_threadpool(entry_from_submission, body)
        except SubmissionError as exc:
            return JSONResponse({"error": exc.message}, 422)
        created = await run_in_threadpool(self.store.put, entry)
        landing = f"{self.base(request)}/doi/{quote(entry.doi, safe='/')}"
        return JSONResponse(
            {"doi": entry.doi, "landing_page": landing, "created": created},
            201 if created else 200,
            headers={"Location": landing},
        )

    async def report_rerun(self, request: Request) -> Response:
        refused = self._authorized(request)
        if refused is not None:
            return refused
        try:
            body = await self._json_body(request)
            rerun = _rerun(body)
        except SubmissionError as exc:
            return JSONResponse({"error": exc.message}, 422)
        if await run_in_threadpool(self.store.get, rerun.doi) is None:
            return JSONResponse({"error": f"{rerun.doi} is not in this catalogue"}, 404)
        await run_in_threadpool(self.store.add_rerun, rerun)
        return JSONResponse({"doi": rerun.doi, "recorded": True}, 201)


def _rerun(body: Any) -> Rerun:
    if not isinstance(body, dict) or not isinstance(body.get("doi"), str):
        raise SubmissionError("a rerun report is an object with doi, reproduced, verdicts, when")
    verdicts = body.get("verdicts") or {}
    reproduced = body.get("reproduced")
    if not isinstance(verdicts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in verdicts.items()
    ):
        raise SubmissionError("verdicts must map output paths to verdicts")
    if reproduced is not None and not isinstance(reproduced, bool):
        raise SubmissionError("reproduced must be true, false or null")
    return Rerun(
        doi=body["doi"].lower()[:500],
        reproduced=reproduced,
        verdicts={k[:500]: v[:40] for k, v in list(verdicts.items())[:1000]},
        when=str(body.get("when") or "")[:40],
        reporter=str(body.get("reporter") or "")[:200],
    )


def create_app(
    store: CatalogueStore,
    *,
    token: str | None = None,
    base_url: str | None = None,
    site: str = "preserve catalogue",
) -> Starlette:
    """The web application over ``store``; ``base_url`` is its public address (behind a
    reverse proxy), else each request's own."""
    cat = Catalogue(store, token=token, base_url=base_url, site=site)
    static = StaticFiles(packages=[("preserve.serve", "static")])
    routes = [
        Route("/", cat.home, methods=["GET"]),
        Route("/api/functions", cat.api_functions, methods=["GET"]),
        Route("/api/functions", cat.submit, methods=["POST"]),
        Route("/api/reruns", cat.report_rerun, methods=["POST"]),
        Route("/doi/{doi:path}", cat.landing, methods=["GET"]),
        Route("/meta/{type}/{subtype}/{doi:path}", cat.meta, methods=["GET"]),
        Route("/badge/{doi:path}", cat.badge, methods=["GET"]),
        Route("/favicon.ico", cat.favicon, methods=["GET"]),
        Mount("/static", static, name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(SecurityHeaders)
    return app
