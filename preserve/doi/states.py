"""DataCite's DOI state machine, shared by the providers that keep state themselves.

From https://support.datacite.org/docs/doi-states and the REST API guide: a
DOI starts as a ``draft``; ``publish`` moves a draft or registered DOI to
``findable``, ``register`` moves a draft to ``registered``, ``hide`` moves a
findable DOI back to ``registered``. Nothing returns to ``draft``, and only
drafts can be deleted.
"""

from __future__ import annotations

from preserve.doi.providers import Event, State
from preserve.errors import DoiError

TRANSITIONS: dict[Event, dict[State, State]] = {
    "publish": {"draft": "findable", "registered": "findable", "findable": "findable"},
    "register": {"draft": "registered", "registered": "registered"},
    "hide": {"findable": "registered", "registered": "registered"},
}
TARGET: dict[Event, State] = {"publish": "findable", "register": "registered", "hide": "registered"}

_WHY: dict[Event, str] = {
    "register": "registered or findable DOIs never return to draft, and a findable DOI is "
    "made registered with 'hide'",
    "hide": "only findable DOIs can be hidden; a draft must first be published or registered",
    "publish": "",
}


def next_state(doi: str, state: State, event: Event) -> State:
    """The state after ``event``; repeating an event already applied changes nothing."""
    moves = TRANSITIONS.get(event)
    if moves is None:
        raise DoiError(f"unknown DOI event {event!r}", hint="use publish, register or hide")
    if state not in moves:
        raise DoiError(f"cannot {event} DOI {doi}: it is {state}", hint=_WHY[event] or None)
    return moves[state]
