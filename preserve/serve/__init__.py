"""``preserve serve``: landing pages and the function catalogue (see :mod:`.app`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from preserve.catalogue.stores import database_url, open_catalogue
from preserve.errors import ConfigError
from preserve.settings import Settings

_BIND = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")


@dataclass(frozen=True)
class Bind:
    host: str
    port: int


def parse_bind(text: str) -> Bind:
    m = _BIND.match(text.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ConfigError(f"--bind {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:8470")
    return Bind(m.group(1).strip("[]"), int(m.group(2)))


def serve(settings: Settings, *, bind: str | None = None, database: str | None = None) -> None:
    """Run the service until interrupted (uvicorn; behind a reverse proxy for the public)."""
    import uvicorn

    from preserve.serve.app import create_app

    where = parse_bind(bind or settings.catalogue.bind)
    store = open_catalogue(database or database_url(settings))
    token = settings.catalogue.token.get_secret_value() if settings.catalogue.token else None
    app = create_app(store, token=token, base_url=settings.catalogue.url)
    try:
        uvicorn.run(
            app,
            host=where.host,
            port=where.port,
            log_level="info",
            proxy_headers=True,
            server_header=False,
        )
    finally:
        store.close()
