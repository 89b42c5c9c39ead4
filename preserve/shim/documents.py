"""The documents a function speaks, the same on every platform.

Parameters (the ``value`` of OpenWhisk's ``/run``, the body of an HTTP call or
the data of a CloudEvent, OSCAR's ``$EVENT``)::

    {"inputs": {NAME: URI, ...}, "output_to": URI, "config": {...}, "event": {...}}

``inputs`` names data by URI, never carries it (OpenWhisk limits parameters to
1 MB); an input left out is the one the published run recorded. ``output_to``
is the folder that receives the outputs and the invocation's crate; left out,
the function's default (set at deploy time) plus a folder per invocation.
``config`` overrides keys of the recorded configuration. ``event`` (optional)
is the storage event that started the call, as a watcher saw it (``kind``,
``source``, ``subject``, ``type``, ``time``, ``id``, and in a chain
``derived_from``: the invocation crate the input came from); the crate records
it. It is not part of the invocation key.

A raw storage event (dCache's SSE ``data``, an S3/MinIO notification) is
accepted in place of parameters: it is bound to the function's only input, or
to the input named at deploy time, under the storage base URI given then.

The result (what ``invoke`` prints and every protocol answers)::

    {"status": "completed"|"failed", "key", "function",
     "outputs": {PATH: {"uri", "sha256", "size"}}, "crate", "target",
     "invocation_id", "error", "cached"}
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, unquote, unquote_plus

MAX_PARAMETERS = 1 << 20  # OpenWhisk's limit on parameters and results
PARAMETER_KEYS = frozenset(("inputs", "output_to", "config", "event"))
COMPLETED, FAILED = "completed", "failed"
CLOUDEVENTS_JSON = "application/cloudevents+json"
# CloudEvents 1.0 context attributes a trigger record keeps.
CE_ATTRIBUTES = ("id", "source", "type", "subject", "time", "specversion")
# What a watcher's ``event`` parameter may say (CloudEvents attributes, the kind, the chain).
EVENT_KEYS = frozenset(("kind", "id", "source", "type", "subject", "time", "derived_from"))
TRIGGER_KINDS = frozenset(("storage-event", "cloudevent"))
MAX_EVENT_VALUE = 4096


# A platform's id of a call names the call's work folder: nothing else gets through.
_SAFE_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def invocation_id(*given: object) -> str:
    """The first id a platform gave that can name a folder, else a new UUID."""
    for candidate in given:
        if isinstance(candidate, str) and _SAFE_ID.match(candidate):
            return candidate
    return str(uuid.uuid4())


class ShimError(Exception):
    """An expected failure of one call, with a hint and the HTTP status to answer."""

    def __init__(self, message: str, *, hint: str | None = None, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status


def bad_request(message: str, hint: str | None = None) -> ShimError:
    return ShimError(message, hint=hint, status=400)


@dataclass(frozen=True)
class Parameters:
    inputs: dict[str, str] = field(default_factory=dict)
    output_to: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    event: dict[str, str] = field(default_factory=dict)  # the watcher's event (see above)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"inputs": dict(self.inputs)}
        if self.output_to is not None:
            doc["output_to"] = self.output_to
        if self.config:
            doc["config"] = self.config
        if self.event:
            doc["event"] = dict(self.event)
        return doc

    def trigger(self, default: Trigger | None) -> Trigger | None:
        """The watcher's event when there is one, else what the protocol says."""
        if not self.event:
            return default
        attrs = {k: v for k, v in self.event.items() if k != "kind"}
        return Trigger(self.event.get("kind") or "storage-event", attrs)


@dataclass(frozen=True)
class Trigger:
    """What started a call: a protocol, and the event's identity when there was one."""

    kind: str  # openwhisk, http, cloudevent, storage-event, oscar, command-line
    attributes: dict[str, str] = field(default_factory=dict)  # CloudEvent id, source, type...

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.attributes}


def parse_json(body: bytes, what: str) -> Any:
    if len(body) > MAX_PARAMETERS:
        raise ShimError(f"{what} is larger than 1 MiB", hint="pass data by URI", status=413)
    try:
        return json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad_request(f"{what} is not JSON: {exc}") from exc


def parameters(document: Any, spec: Mapping[str, Any]) -> Parameters:
    """A parameters document or a raw storage event, checked against the function."""
    if not isinstance(document, dict):
        raise bad_request(
            "the parameters are not a JSON object",
            hint='send {"inputs": {NAME: URI}, "output_to": URI, "config": {...}}',
        )
    if is_storage_event(document):
        return storage_event(document, spec)
    unknown = sorted(set(document) - PARAMETER_KEYS)
    if unknown:
        raise bad_request(
            f"unknown parameter(s) {', '.join(unknown)}",
            hint="parameters are inputs, output_to and config",
        )
    inputs = document.get("inputs") or {}
    if not isinstance(inputs, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in inputs.items()
    ):
        raise bad_request("inputs must map input names to URIs (strings)")
    known = set(spec["inputs"])
    strangers = sorted(set(inputs) - known)
    if strangers:
        raise bad_request(
            f"the function has no input named {', '.join(strangers)}",
            hint=f"its inputs are {', '.join(sorted(known)) or 'none'}",
        )
    output_to = document.get("output_to")
    if output_to is not None and (not isinstance(output_to, str) or not output_to):
        raise bad_request("output_to must be a URI (a string)")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise bad_request("config must be a JSON object of overrides")
    return Parameters(dict(inputs), output_to, config, _event(document.get("event")))


def _event(event: Any) -> dict[str, str]:
    """The ``event`` parameter, checked: short strings under known names."""
    if event is None:
        return {}
    if not isinstance(event, dict) or not all(
        k in EVENT_KEYS and isinstance(v, str) and 0 < len(v) <= MAX_EVENT_VALUE
        for k, v in event.items()
    ):
        raise bad_request(
            "event must map " + ", ".join(sorted(EVENT_KEYS)) + " to short strings",
        )
    if event.get("kind", "storage-event") not in TRIGGER_KINDS:
        raise bad_request(f"event kind must be one of {', '.join(sorted(TRIGGER_KINDS))}")
    return dict(event)


# -- raw storage events ----------------------------------------------------------------


def is_storage_event(document: Mapping[str, Any]) -> bool:
    """dCache SSE data (``event`` + ``subscription``, as faas-supervisor tells it) or an
    S3/MinIO notification (``Records`` with ``s3``)."""
    if "event" in document and "subscription" in document:
        return True
    records = document.get("Records")
    return isinstance(records, list) and bool(records) and isinstance(records[0], dict)


def storage_event(document: Mapping[str, Any], spec: Mapping[str, Any]) -> Parameters:
    """Bind the file a storage event names to the function's event input."""
    events = spec.get("events") or {}
    name, base = event_input(spec), events.get("base")
    if not base:
        raise bad_request(
            "a raw storage event arrived, but the function was deployed without the "
            "storage base URI that event names are relative to",
            hint="deploy with --event-base URI (the watched folder, or the S3 endpoint)",
        )
    relative = _event_path(document)
    uri = base.rstrip("/") + "/" + quote(relative.lstrip("/"), safe="/")
    return Parameters({name: uri})


def event_input(spec: Mapping[str, Any]) -> str:
    """The input a storage event is bound to: the one named at deploy time, or the only one."""
    named = (spec.get("events") or {}).get("input")
    if named:
        return str(named)
    remote = [n for n, i in spec["inputs"].items() if i.get("remote")]
    candidates = remote if remote else list(spec["inputs"])
    if len(candidates) != 1:
        raise bad_request(
            "a storage event cannot be bound: the function has "
            f"{len(candidates)} inputs ({', '.join(sorted(candidates)) or 'none'})",
            hint="deploy with --event-input NAME",
        )
    return str(candidates[0])


def _event_path(document: Mapping[str, Any]) -> str:
    if "subscription" in document:
        event = document.get("event")
        name = event.get("name") if isinstance(event, dict) else None
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise bad_request("the dCache event names no file in the watched folder")
        return name
    s3 = document["Records"][0].get("s3")
    try:
        bucket, key = s3["bucket"]["name"], s3["object"]["key"]
    except (KeyError, TypeError) as exc:
        raise bad_request("the S3 notification names no bucket and object key") from exc
    if not (isinstance(bucket, str) and isinstance(key, str) and bucket and key):
        raise bad_request("the S3 notification names no bucket and object key")
    path = f"{bucket}/{unquote_plus(key)}"
    if ".." in path.split("/"):
        raise bad_request("the S3 notification names a key with '..'")
    return path


# -- CloudEvents 1.0 (HTTP binding) ------------------------------------------------------


def cloudevent(headers: Mapping[str, str], body: bytes) -> tuple[Any, Trigger] | None:
    """``(data, Trigger)`` of a CloudEvent in binary or structured mode; None if not one."""
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "").split(";")[0].strip().lower()
    if content_type == CLOUDEVENTS_JSON:
        return structured(parse_json(body, "the structured CloudEvent"))
    if "ce-specversion" in lower:
        # Header values are percent-encoded (HTTP binding 3.1.3.2).
        attrs = {k: unquote(lower[f"ce-{k}"]) for k in CE_ATTRIBUTES if f"ce-{k}" in lower}
        _require_attributes(attrs, "ce-")
        return parse_json(body, "the CloudEvent data"), Trigger("cloudevent", attrs)
    return None


def structured(event: Any) -> tuple[Any, Trigger]:
    """``(data, Trigger)`` of one CloudEvent in the JSON format (structured or batched)."""
    if not isinstance(event, dict):
        raise bad_request("the structured CloudEvent is not a JSON object")
    _require_attributes(event, "")
    data = event.get("data")
    if data is None and "data_base64" in event:
        raise bad_request("CloudEvent data_base64 is not parameters (send JSON data)")
    attrs = {k: str(event[k]) for k in CE_ATTRIBUTES if k in event}
    return data, Trigger("cloudevent", attrs)


def _require_attributes(event: Mapping[str, Any], prefix: str) -> None:
    missing = [a for a in ("id", "source", "specversion", "type") if not event.get(a)]
    if missing:
        raise bad_request(
            "not a CloudEvent: it lacks " + ", ".join(prefix + m for m in missing),
            hint="CloudEvents 1.0 require id, source, specversion and type",
        )
    if str(event.get("specversion")) != "1.0":
        raise bad_request(f"CloudEvents specversion {event.get('specversion')!r} is not 1.0")


# -- the result ----------------------------------------------------------------------------


def result_document(
    *,
    status: str,
    key: str | None,
    function: str,
    outputs: Mapping[str, Mapping[str, Any]],
    crate: str | None,
    target: str | None,
    invocation_id: str,
    error: str | None = None,
    cached: bool = False,
) -> dict[str, Any]:
    return {
        "status": status,
        "key": key,
        "function": function,
        "outputs": {k: dict(v) for k, v in outputs.items()},
        "crate": crate,
        "target": target,
        "invocation_id": invocation_id,
        "error": error,
        "cached": cached,
    }
