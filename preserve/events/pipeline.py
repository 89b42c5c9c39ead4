"""From events to invocations: the sink sources offer to, and the resolver.

:meth:`Pipeline.offer` matches events against the rules and journals the
deliveries (with the source's cursor) in one commit; only then does a source
acknowledge. :meth:`Pipeline.resolve` takes deliveries whose ``settle`` time has
passed, has their source describe the file (size, checksum), computes the
idempotency key with ``invoke``'s own function, finds the invocation whose
outputs the file is (a chain: depth and the crate it derives from), renders the
output folder, and creates the invocation, or adds the delivery to the one with
the same key (a duplicate).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preserve.errors import PreserveError
from preserve.events.journal import Journal, NewInvocation, Pending
from preserve.events.match import Matcher
from preserve.events.model import Described, Event
from preserve.events.rules import Rule
from preserve.events.sources.base import Source
from preserve.functions.invoke import host_key
from preserve.secrets import redact_uri
from preserve.settings import Settings
from preserve.shim import storage
from preserve.shim.documents import Parameters
from preserve.targets.base import Deployment

log = logging.getLogger(__name__)
DESCRIBE_TRIES = 8  # then a delivery is refused, saying why (2 s ... 4 min apart)


@dataclass(frozen=True)
class Bound:
    """A rule with what it runs: the deployment, the input the file binds to, its source."""

    rule: Rule
    deployment: Deployment
    input: str
    source: Source

    def default_output(self, key: str) -> str | None:
        """Without ``outputs``: the function's own default folder, one folder per key
        (what the shim would choose, chosen here so that chains can find it)."""
        default = (self.deployment.spec.get("events") or {}).get("output_to")
        return storage.join(default, key[:20]) + "/" if default else None


class Pipeline:
    """The sink every source offers to, and the resolver of settled deliveries."""

    def __init__(
        self,
        journal: Journal,
        bound: Mapping[str, Bound],
        settings: Settings,
        *,
        max_depth: int = 5,
    ) -> None:
        self.journal = journal
        self.bound = dict(bound)
        self.settings = settings
        self.max_depth = max_depth
        self.matcher = Matcher([b.rule for b in self.bound.values()])
        self.settle = {name: b.rule.settle for name, b in self.bound.items()}

    # -- the sink ---------------------------------------------------------------------

    def offer(
        self,
        events: Sequence[Event],
        cursor: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> bool:
        deliveries = self.matcher.match_all(events)
        if deliveries and limit is not None and self.journal.backlog() + len(deliveries) > limit:
            return False
        if deliveries or cursor is not None:
            self.journal.add(deliveries, self.settle, cursor)
        return True

    def cursor(self, name: str) -> str | None:
        return self.journal.cursor(name)

    def remember(self, name: str, value: str) -> None:
        self.journal.set_cursor(name, value)

    # -- the resolver -----------------------------------------------------------------

    def resolve(self, limit: int = 500) -> int:
        """Resolve settled deliveries (one batch); how many groups were handled."""
        groups = self.journal.settled(limit)
        for pending in groups:
            self._resolve(pending)
        return len(groups)

    def _resolve(self, pending: Pending) -> None:
        bound = self.bound.get(pending.rule)
        if bound is None:  # the rules file changed: the rule is no more
            self.journal.drop(pending, "refused", f"no rule {pending.rule} any more")
            return
        try:
            found = bound.source.describe(pending.uri)
        except PreserveError as exc:
            self._postpone(pending, exc.message)
            return
        if found is None:
            self.journal.drop(pending, "gone", "the file is no longer there")
            return
        key = self._key(bound, pending, found)
        if key is None:
            self._postpone(pending, "another input of the function has no checksum at its storage")
            return
        self._create(bound, pending, found, key)

    def _key(self, bound: Bound, pending: Pending, found: Described) -> str | None:
        material = {"uri": redact_uri(found.uri), "size": found.size, "checksum": found.checksum}
        params = Parameters({bound.input: pending.uri}, None, dict(bound.rule.config))
        return host_key(bound.deployment.spec, params, self.settings, {bound.input: material})

    def _create(self, bound: Bound, pending: Pending, found: Described, key: str) -> None:
        rule = bound.rule
        upstream = self.journal.upstream(pending.uri)
        depth = int(upstream["depth"]) + 1 if upstream is not None else 0
        derived = (upstream["crate"] or upstream["output_to"]) if upstream is not None else None
        try:
            output_to = rule.output_folder(pending.path, pending.parts, key)
        except PreserveError as exc:
            self.journal.drop(pending, "refused", exc.message)
            return
        new = NewInvocation(
            key=key,
            rule=rule.name,
            function=bound.deployment.function,
            input=bound.input,
            uri=pending.uri,
            size=found.size,
            checksum=found.checksum,
            config=rule.config,
            output_to=output_to or bound.default_output(key),
            event=_event(pending.event, rule),
            derived_from=redact_uri(derived) if derived else None,
            depth=depth,
        )
        if depth >= self.max_depth:
            why = f"a chain of {depth + 1} functions is longer than max_depth {self.max_depth}"
            log.warning("rule %s: %s (%s)", rule.name, why, redact_uri(pending.uri))
            self.journal.refuse(pending, new, why)
        else:
            self.journal.resolve(pending, new)

    def _postpone(self, pending: Pending, why: str) -> None:
        tries = self.journal.postpone(pending, why, lambda n: 2.0 * 2**n)
        if tries >= DESCRIBE_TRIES:
            self.journal.drop(pending, "refused", f"{why} ({tries} tries)")
            log.warning("gave up on %s: %s", redact_uri(pending.uri), why)


def _event(event: Mapping[str, Any], rule: Rule) -> dict[str, str]:
    """The event as the invocation's crate will record it."""
    kind = "cloudevent" if rule.kind == "cloudevents" else "storage-event"
    out = {k: redact_uri(str(v)) if k == "subject" else str(v) for k, v in event.items() if v}
    return {"kind": kind, **out}
