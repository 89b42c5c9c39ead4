"""Rule matching: an event against the rules of its source, globs compiled once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from preserve.events.model import LISTING, Delivery, Event
from preserve.events.rules import Rule


class Matcher:
    """The rules, indexed by source: matching one event is a dict lookup, a set test
    and one compiled regular expression per rule of that source."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_source: dict[str, list[Rule]] = {}
        for rule in rules:
            self.by_source.setdefault(rule.source, []).append(rule)

    def match(self, event: Event) -> list[Delivery]:
        out = []
        for rule in self.by_source.get(event.source, ()):
            if event.type == LISTING or rule.wants(event.type):
                parts = rule.glob.match(event.path)
                if parts is not None:
                    out.append(Delivery(rule.name, event, parts))
        return out

    def match_all(self, events: Iterable[Event]) -> list[Delivery]:
        return [d for e in events for d in self.match(e)]
