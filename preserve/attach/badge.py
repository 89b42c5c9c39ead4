"""A DOI badge (SVG) linking to the landing page, and its Markdown and HTML snippets.

Shields-style: a grey label and a coloured value, widths from a per-character
estimate (no font metrics needed offline). The DOI is the only text in it, escaped.
"""

from __future__ import annotations

from html import escape

LABEL = "preserved"
CHAR_WIDTH = 6.5  # Verdana 11px, on average
PADDING = 10


def _width(text: str) -> int:
    return int(len(text) * CHAR_WIDTH + 2 * PADDING)


def badge_svg(doi: str, label: str = LABEL, color: str = "#2a7ab0") -> str:
    left, right = _width(label), _width(doi)
    total = left + right
    text_doi, text_label = escape(doi), escape(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{text_label}: {text_doi}">'
        f"<title>{text_label}: {text_doi}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{escape(color)}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2:.1f}" y="14">{text_label}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{text_doi}</text>'
        "</g></svg>\n"
    )


def badge_snippets(doi: str, badge_url: str, landing_url: str) -> dict[str, str]:
    """``markdown`` and ``html`` snippets showing the badge, linked to the landing page."""
    alt = f"{LABEL}: DOI {doi}"
    md_alt = alt.replace("[", "(").replace("]", ")")
    return {
        "markdown": f"[![{md_alt}]({_md_url(badge_url)})]({_md_url(landing_url)})",
        "html": f'<a href="{escape(landing_url)}"><img src="{escape(badge_url)}" '
        f'alt="{escape(alt)}"></a>',
    }


def _md_url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
