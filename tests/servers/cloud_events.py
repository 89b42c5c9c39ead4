"""CloudEvents 1.0 over HTTP for tests: build binary, structured and batch requests, and
parse them back. Written by hand from the spec (cloudevents/spec @c2845a4:
``cloudevents/spec.md`` "Context Attributes", ``cloudevents/bindings/http-protocol-binding.md``
3.1-3.3, ``cloudevents/formats/json-format.md``; ``functions-and-events.md`` §5); the
tests check it against the ``cloudevents`` SDK (1.x) as an independent reader.

* Required: ``id``, ``source`` (URI-reference), ``specversion`` ``"1.0"``, ``type``;
  optional ``datacontenttype``, ``dataschema``, ``subject``, ``time`` (RFC 3339);
  extension names are lowercase ``[a-z0-9]`` (the spec's rule for attribute names).
* Binary mode: every attribute as a ``ce-NAME`` header (values percent-encoded outside
  printable ASCII, and ``%``, ``"`` and space), ``Content-Type`` from
  ``datacontenttype``, the body is the data.
* Structured mode: ``Content-Type: application/cloudevents+json``, the body a JSON
  object with the attributes and ``data`` (JSON data) or ``data_base64`` (bytes).
* Batch mode: ``Content-Type: application/cloudevents-batch+json``, a JSON array of
  structured events.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REQUIRED = ("id", "source", "specversion", "type")
OPTIONAL = ("datacontenttype", "dataschema", "subject", "time")
NAME = re.compile(r"\A[a-z0-9]{1,20}\Z")
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '%"')


@dataclass
class CloudEvent:
    type: str
    source: str
    data: Any = None  # JSON-able value, or bytes
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    specversion: str = "1.0"
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = field(
        default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z")
    )
    extensions: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        out = {name: getattr(self, name) for name in REQUIRED}
        out |= {n: getattr(self, n) for n in OPTIONAL if getattr(self, n) is not None}
        for name, value in self.extensions.items():
            if not NAME.match(name) or name in out or name in ("data", "data_base64"):
                raise ValueError(f"invalid extension attribute name {name!r}")
            out[name] = str(value)
        for name in REQUIRED:
            if not out[name]:
                raise ValueError(f"the required attribute {name!r} is empty")
        return out

    def is_json(self) -> bool:
        ctype = (self.datacontenttype or "application/json").split(";")[0].strip().lower()
        return ctype == "application/json" or ctype.endswith("+json") or ctype == "text/json"

    def data_bytes(self) -> bytes:
        if self.data is None:
            return b""
        if isinstance(self.data, bytes):
            return self.data
        if self.is_json():
            return json.dumps(self.data).encode()
        return str(self.data).encode()


def binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``event`` in binary content mode."""
    headers = {
        f"ce-{name}": quote(value, safe=_SAFE)
        for name, value in event.attributes().items()
        if name != "datacontenttype"
    }
    if event.datacontenttype:
        headers["Content-Type"] = event.datacontenttype
    return headers, event.data_bytes()


def structured_document(event: CloudEvent) -> dict[str, Any]:
    document: dict[str, Any] = dict(event.attributes())
    if isinstance(event.data, bytes):
        document["data_base64"] = base64.b64encode(event.data).decode()
    elif event.data is not None:
        document["data"] = event.data if event.is_json() else str(event.data)
    return document


def structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``event`` in structured content mode (JSON format)."""
    body = json.dumps(structured_document(event)).encode()
    return {"Content-Type": f"{STRUCTURED}; charset=utf-8"}, body


def batch(events: list[CloudEvent]) -> tuple[dict[str, str], bytes]:
    """Headers and body of ``events`` in batched content mode."""
    body = json.dumps([structured_document(e) for e in events]).encode()
    return {"Content-Type": f"{BATCH}; charset=utf-8"}, body


def parse(headers: dict[str, str], body: bytes) -> list[CloudEvent]:
    """The events of an HTTP request in any mode; ``ValueError`` if it carries none."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ctype = lowered.get("content-type", "").split(";")[0].strip().lower()
    if ctype == BATCH:
        documents = json.loads(body)
        if not isinstance(documents, list):
            raise ValueError("a batch must be a JSON array")
        return [_from_document(d) for d in documents]
    if ctype == STRUCTURED:
        return [_from_document(json.loads(body))]
    attributes = {k[3:]: unquote(v) for k, v in lowered.items() if k.startswith("ce-")}
    if not attributes:
        raise ValueError("no CloudEvent in this request (no ce- headers, no cloudevents type)")
    if lowered.get("content-type"):
        attributes["datacontenttype"] = lowered["content-type"]
    event = _event(attributes)
    event.data = json.loads(body) if body and event.is_json() else (body or None)
    return [event]


def _from_document(document: Any) -> CloudEvent:
    if not isinstance(document, dict):
        raise ValueError("a structured event must be a JSON object")
    attributes = {k: v for k, v in document.items() if k not in ("data", "data_base64")}
    event = _event(attributes)
    if "data_base64" in document:
        event.data = base64.b64decode(document["data_base64"])
    else:
        event.data = document.get("data")
    return event


def _event(attributes: dict[str, Any]) -> CloudEvent:
    missing = [name for name in REQUIRED if not attributes.get(name)]
    if missing:
        raise ValueError(f"missing required attributes: {', '.join(missing)}")
    if attributes["specversion"] != "1.0":
        raise ValueError(f"unsupported specversion {attributes['specversion']!r}")
    known = {n: attributes.get(n) for n in (*REQUIRED, *OPTIONAL)}
    extensions = {k: str(v) for k, v in attributes.items() if k not in known}
    return CloudEvent(
        type=str(known["type"]),
        source=str(known["source"]),
        id=str(known["id"]),
        specversion="1.0",
        datacontenttype=known["datacontenttype"],
        dataschema=known["dataschema"],
        subject=known["subject"],
        time=known["time"],
        extensions=extensions,
    )
