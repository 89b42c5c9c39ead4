"""HTTP content negotiation (RFC 9110 §12.5.1): which of the offered types an Accept wants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MediaRange:
    type: str  # "text/html", "text/*", "*/*"
    q: float
    params: Mapping[str, str] = field(default_factory=dict)
    order: int = 0

    @property
    def specificity(self) -> int:
        main, _, sub = self.type.partition("/")
        return 0 if main == "*" else 1 if sub == "*" else 2

    def matches(self, offered: str) -> bool:
        main, _, sub = self.type.partition("/")
        o_main, _, o_sub = offered.partition("/")
        return main == "*" or (main == o_main and sub in ("*", o_sub))


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header, malformed parts skipped; ``*/*`` when absent."""
    if not header or not header.strip():
        return [MediaRange("*/*", 1.0)]
    ranges = []
    for order, part in enumerate(header.split(",")[:64]):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if media.count("/") != 1 or not all(media.split("/")):
            continue
        params, q = {}, 1.0
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
            elif key:
                params[key] = value
        ranges.append(MediaRange(media, q, params, order))
    return ranges


def choose(header: str | None, offered: Sequence[str]) -> tuple[str, MediaRange] | None:
    """The offered type the client prefers (and the range that chose it), or None (406).

    Highest q first; among equal q the most specific range, then the client's order;
    a range names the first offered type it matches (the server's preference).
    """
    ranges = sorted(
        (r for r in parse_accept(header) if r.q > 0),
        key=lambda r: (-r.q, -r.specificity, r.order),
    )
    refused = {r.type for r in parse_accept(header) if r.q == 0}
    for media_range in ranges:
        for media in offered:
            if media not in refused and media_range.matches(media):
                return media, media_range
    return None
