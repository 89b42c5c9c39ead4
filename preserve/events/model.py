"""What flows through the watcher: events from sources, deliveries matched to rules,
and what a source says about a file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Invocation states, in order; a failed invocation is tried again until dead.
RECEIVED, RUNNING, SUCCEEDED, FAILED, DEAD = "received", "running", "succeeded", "failed", "dead"
STATES = (RECEIVED, RUNNING, SUCCEEDED, FAILED, DEAD)
LISTING = "listing"  # the type of an event a listing found (a gap closed, a restart)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One storage event as a source saw it, before any rule looked at it."""

    source: str  # the rule's source URI (dcache+https://..., file:///..., cloudevents+http://...)
    path: str  # what rules' globs match: a namespace path, a file path, or a URI
    uri: str  # the input URI a function is given
    type: str  # IN_CLOSE_WRITE, IN_MOVED_TO, a CloudEvent type, or "listing"
    id: str | None = None  # the event's id where it has one (never a key: it repeats)
    time: str = field(default_factory=now_iso)
    origin: str | None = None  # the event's own source attribute (CloudEvents), else None

    def describe(self) -> dict[str, Any]:
        """The event as an invocation crate records it (CloudEvents attribute names)."""
        out: dict[str, Any] = {
            "source": self.origin or self.source,
            "subject": self.path,
            "type": self.type,
            "time": self.time,
        }
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass(frozen=True)
class Delivery:
    """An event one rule matched: journalled before anything else happens to it."""

    rule: str
    event: Event
    parts: dict[str, str]  # the glob's named parts, for the output template


@dataclass(frozen=True)
class Described:
    """What the storage says about an input: what the idempotency key is made of."""

    uri: str
    size: int | None
    checksum: str  # ALGORITHM:HEX, the strongest the storage keeps (as the shim picks it)


@dataclass
class WatchResult:
    rules: list[str]
    invocations: dict[str, int]  # by state, the whole journal
    recovered: int = 0  # left running by a watcher that was killed
    handed_back: int = 0  # running when this one stopped, back in the journal
    ran: dict[str, int] = field(default_factory=dict)  # what this run ended, by state

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": self.rules,
            "invocations": self.invocations,
            "ran": self.ran,
            "recovered": self.recovered,
            "handed_back": self.handed_back,
        }
