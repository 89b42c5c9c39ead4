"""The source interface (entry-point group ``preserve.sources``): where events come from.

A rule's ``on.source`` names its source as ``NAME+ADDRESS`` (``dcache+https://HOST:3880/api/v1``,
``cloudevents+http://127.0.0.1:PORT``) or as ``NAME:...`` (``file:///data/incoming``);
the plug-in ``NAME`` is built from its ``[sources.NAME]`` table with that address.

A source turns what its storage says into :class:`~preserve.events.model.Event`
and offers them to a :class:`Sink` (the journal's front door), which matches
rules and commits before it returns: only then may a source acknowledge
(dCache: store ``Last-Event-ID``; CloudEvents: answer 2xx). When the sink says
it is full, the source holds back (CloudEvents: 429 with ``Retry-After``).
After a gap (a restart, a lost event) a source closes it by listing what it
watches (:meth:`Source.reconcile`); duplicates collapse in the journal. It also
describes the files it named (:meth:`Source.describe`): size and checksum, what
the idempotency key is made of.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from pydantic import BaseModel

from preserve import plugins
from preserve.errors import ConfigError
from preserve.events.model import Described, Event
from preserve.events.rules import Rule, source_kind

if TYPE_CHECKING:
    from preserve.settings import Settings


class Sink(Protocol):
    """Where sources hand events (the watcher's pipeline)."""

    def offer(
        self,
        events: Sequence[Event],
        cursor: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> bool:
        """Match and journal ``events`` (and the source's ``cursor``) in one commit.
        False, with nothing journalled, when that would make more than ``limit``
        deliveries and invocations wait to be taken up (a receiver's queue is full)."""

    def cursor(self, name: str) -> str | None:
        """A value the source stored with :meth:`offer` or :meth:`remember`."""

    def remember(self, name: str, value: str) -> None:
        """Store a value of the source's (its channel) durably."""


class Source(Protocol):
    """One kind of event source; one instance per ``on.source`` address."""

    name: ClassVar[str]
    options: ClassVar[type[BaseModel]]
    address: str  # the rules' on.source, as written

    def uri(self, path: str) -> str:
        """The URI a function is given for the file ``path``."""

    def watched(self, glob: str) -> str:
        """The URI glob of a rule's path glob (what the loop check compares)."""

    def run(self, rules: Sequence[Rule], sink: Sink, stop: threading.Event) -> None:
        """Watch what ``rules`` look at, offering events to ``sink``, until ``stop`` is set;
        begins by closing any gap since the last run (a listing)."""

    def reconcile(self, rules: Sequence[Rule], sink: Sink) -> int:
        """List what ``rules`` watch once, offering every file found; how many."""

    def describe(self, uri: str) -> Described | None:
        """Size and checksum of the file ``uri`` (None: it is gone); SourceError if the
        storage cannot say."""


class SourceOptions(plugins.PluginOptions):
    """Base of a source's ``[sources.NAME]`` table (unknown keys are errors)."""


def open_source(address: str, settings: Settings) -> Source:
    """The source plug-in for a rule's ``on.source``."""
    kind = source_kind(address)
    if not kind:
        raise ConfigError(f"{address!r} names no event source", hint="see the README's sources")
    rest = address.split("+", 1)[1] if address.startswith(kind + "+") else address
    source: Source = plugins.create(plugins.SOURCES, kind, settings, address=rest)
    source.address = address  # events name their source as the rules do
    return source
