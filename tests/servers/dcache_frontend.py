"""The dCache frontend REST API (``/api/v1``) of the test dCache: storage events and namespace.

Follows dCache @77340d6: User Guide ``frontend.md`` ("Namespace", "Storage Events"),
``EventResources.java``, ``Channel.java``, ``Inotify.java``, ``FileResources.java``,
``NamespaceUtils.java``; summarised in ``functions-and-events.md`` §1. The event model
itself is :mod:`tests.servers.dcache_events`.

Events (every endpoint but ``GET /events`` refuses anonymous users with ``401``; a
channel of another user is ``403``; an unknown or expired channel ``404``):

* ``GET /events``, ``GET /events/eventTypes``, ``.../eventTypes/inotify[/selector|/event]``.
* ``POST /events/channels`` (optional ``{"client-id"}``) -> ``201`` + ``Location``;
  more than ``maximumPerUser`` channels -> ``429``. ``GET /events/channels[?client-id=]``
  lists channel URLs (``client-id=`` empty: channels without one).
* ``GET /events/channels/ID`` with ``Accept: text/event-stream`` is the SSE stream
  (chunked; ``Last-Event-ID`` honoured); otherwise ``{"timeout": S}``. ``PATCH
  {"timeout"}`` (1..86400 else ``400``) -> ``204``; ``DELETE`` -> ``204``.
* ``POST /events/channels/ID/subscriptions/inotify`` with a selector ``{"path",
  "flags"}``: ``201`` + ``Location``; the same path again on the channel merges flags
  and answers ``303`` to the existing one. Refused with ``400``: a missing or
  non-existent path ("Not found: ..."), ``flags`` not a JSON array of known names,
  unknown properties, ``IN_DONT_FOLLOW``/``IN_EXCL_UNLINK``, ``IN_ONLYDIR`` on a file.
  ``GET`` on a subscription returns its selector, ``DELETE`` ends it (``204``).
* Not modelled: ``metronome`` subscriptions (listed, but refused with ``400``).

Namespace (``GET /namespace/PATH?children=&checksum=&locality=&qos=&xattr=&limit=&offset=``):
``fileType`` (``DIR``/``REGULAR``), ``pnfsId``, ``size``, ``mtime``/``creationTime`` (ms),
``nlink``, ``mode``, ``fileMimeType``; with ``checksum=true`` ``checksums:
[{"type":"ADLER32","value":HEX}]`` (Jackson writes ``ChecksumType`` enum names:
``MD5_TYPE``, ``SHA1``, ``SHA256``...; inferred from code); ``locality`` ->
``fileLocality: ONLINE`` (files); ``qos`` -> ``currentQoS: disk``; ``xattr`` ->
``extendedAttributes``; ``children=true`` lists a directory (``fileName`` per child),
``limit``/``offset`` paginate (negative or non-integer -> ``400``). ``POST``
``{"action":"mkdir","name"}`` / ``{"action":"mv","destination"}`` (relative to the
parent) -> ``201 {"status":"success"}``; an existing name or unknown action ``400``;
``DELETE`` -> ``200`` (a non-empty directory ``400``). Anonymous users may read when the
server has no credentials configured but never write (``frontend.authz.anonymous-operations
= READONLY``) -> ``401``. Errors are ``{"errors":[{"message","status"}]}``.
"""

from __future__ import annotations

import json
import mimetypes
import queue
from typing import TYPE_CHECKING, Any

from tests.servers.base import Handler
from tests.servers.dcache_events import (
    EVENT_TYPES,
    UNSUPPORTED,
    WATCH_FLAGS,
    Channel,
    Subscription,
    expand_flags,
)

if TYPE_CHECKING:
    from tests.servers.dcache import DcacheServer, Entry, Identity

SELECTOR_SCHEMA = {
    "$id": "http://dcache.org/frontend/events/namespaceSelectors#",
    "$schema": "http://json-schema.org/draft-06/schema#",
    "description": "path of a directory to watch",
    "type": "object",
    "required": ["path"],
    "properties": {
        "path": {"type": "string", "pattern": "^/(.*[^/])?$"},
        "flags": {"type": "array", "items": {"type": "string", "enum": WATCH_FLAGS}},
    },
    "additionalProperties": False,
}
INOTIFY_DESCRIPTION = "notification of namespace activity, modelled after inotify(7)"
_MASK_ITEMS = {"type": "array", "items": {"type": "string"}}
EVENT_SCHEMA = {
    "$id": "http://dcache.org/frontend/events/namespaceEvents#",
    "$schema": "http://json-schema.org/draft-06/schema#",
    "description": "the description of a change in the namespace",
    "type": "object",
    "properties": {"name": {"type": "string"}, "cookie": {"type": "string"}, "mask": _MASK_ITEMS},
    "required": ["mask"],
}


class Frontend(Handler):
    server_version = "dCache/9.2.0-test"
    owner: DcacheServer

    def errors(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.reply_json(status, {"errors": [{"message": message, "status": str(status)}]}, headers)

    def _start(self) -> tuple[str, Identity] | None:
        self.record(self.owner.frontend_log, self.owner._lock, with_body=True)
        path = self.url_path
        if not path.startswith("/api/v1/"):
            self.errors(404, "Not Found")
            return None
        return path[len("/api/v1") :], self.owner.authenticate(self, frontend=True)

    def _unauthorised(self) -> None:
        challenge = {"WWW-Authenticate": 'Basic realm="dCache"'}
        self.errors(401, "anonymous access not allowed", challenge)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        started = self._start()
        if started is None:
            return
        path, identity = started
        if identity.refused is not None:
            return self._unauthorised()
        try:
            if path.startswith("/namespace"):
                return Namespace(self, identity).handle(method, path[len("/namespace") :])
            if path == "/events" and method == "GET":
                return self.reply_json(200, _service_metadata())
            if not path.startswith("/events/"):
                return self.errors(404, "Not Found")
            if identity.user is None:
                return self._unauthorised()
            Events(self, identity.user).handle(method, path.split("/")[2:])
        except ValueError as exc:  # bad JSON entity
            self.errors(400, f"Bad request: {exc}")


def _service_metadata() -> dict[str, Any]:
    lifetime = {"maximum": 86400, "minimum": 1, "default": 300}
    return {"channels": {"lifetimeWhenDisconnected": lifetime, "maximumPerUser": 128}}


class Events:
    """``/events/...`` for an authenticated user."""

    def __init__(self, handler: Frontend, user: str) -> None:
        self.h = handler
        self.user = user
        self.hub = handler.owner.events

    def handle(self, method: str, parts: list[str]) -> None:
        h = self.h
        if parts[0] == "eventTypes" and method == "GET":
            return self._event_types(parts[1:])
        if parts[0] != "channels":
            return h.errors(404, "Not Found")
        if len(parts) == 1:
            return self._channels(method)
        channel = self.hub.channel(parts[1])
        if channel is None:
            return h.errors(404, "No such channel")
        if channel.owner != self.user:
            return h.errors(403, "Access denied")
        if len(parts) == 2:
            return self._channel(method, channel)
        if parts[2] != "subscriptions":
            return h.errors(404, "Not Found")
        if len(parts) == 3 and method == "GET":
            with self.hub.lock:
                urls = [channel.subscription_url(s) for s in channel.subscriptions.values()]
            return h.reply_json(200, urls)
        if len(parts) == 4 and method == "POST":
            return self._subscribe(channel, parts[3])
        if len(parts) == 5 and parts[3] == "inotify":
            return self._subscription(method, channel, parts[4])
        h.errors(405 if len(parts) <= 5 else 404, "Not Found")

    def _event_types(self, rest: list[str]) -> None:
        documents: dict[tuple[str, ...], Any] = {
            (): ["inotify", "metronome"],
            ("inotify",): {"description": INOTIFY_DESCRIPTION},
            ("inotify", "selector"): SELECTOR_SCHEMA,
            ("inotify", "event"): EVENT_SCHEMA,
            ("metronome",): {"description": "a configurable stream of messages"},
        }
        document = documents.get(tuple(rest))
        if document is None:
            return self.h.errors(404, "No such event type")
        self.h.reply_json(200, document)

    def _channels(self, method: str) -> None:
        h = self.h
        if method == "GET":
            wanted = h.param("client-id")
            with self.hub.lock:
                self.hub._expire()
                urls = [
                    c.url
                    for c in self.hub.channels.values()
                    if c.owner == self.user
                    and (wanted is None or (c.client_id or "") == wanted[:256])
                ]
            return h.reply_json(200, urls)
        if method != "POST":
            return h.errors(405, "Method Not Allowed")
        metadata = h.json_body() if h.body().strip() else None
        client_id = (metadata or {}).get("client-id") or None
        channel = self.hub.create(self.user, client_id[:256] if client_id else None)
        if channel is None:
            return h.errors(429, "Too Many Channels")
        h.reply(201, b"", {"Location": channel.url})

    def _channel(self, method: str, channel: Channel) -> None:
        h = self.h
        if method == "DELETE":
            self.hub.delete(channel)
            return h.reply(204)
        if method == "PATCH":
            timeout = (h.json_body() or {}).get("timeout")
            if not isinstance(timeout, int) or timeout < 1:
                return h.errors(400, "Timeout shorter than minimum allowed")
            if timeout > self.hub.MAX_TIMEOUT:
                return h.errors(400, "Timeout longer than maximum allowed")
            with self.hub.lock:
                channel.timeout = timeout
            return h.reply(204)
        if "text/event-stream" in h.headers.get("Accept", ""):
            return self._stream(channel)
        h.reply_json(200, {"timeout": channel.timeout})

    def _stream(self, channel: Channel) -> None:
        h = self.h
        with self.hub.lock:
            stream = channel.connect(h.headers.get("Last-Event-ID"))
        h.start_chunked(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            while True:
                try:
                    frame = stream.queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                if frame is None:
                    h.end_chunked()
                    break
                h.write_chunk(frame)
        except OSError:
            pass  # the client went away
        finally:
            h.close_connection = True
            with self.hub.lock:
                channel.disconnected(stream)

    def _subscribe(self, channel: Channel, event_type: str) -> None:
        h = self.h
        body = h.body()
        if not body.strip():
            return h.errors(400, "Missing JSON entity in POST request")
        if event_type != "inotify":
            return h.errors(400, f"Unknown event type: {event_type}")
        selector = json.loads(body)
        problem = _selector_problem(selector)
        if problem:
            return h.errors(400, f"Bad selector: {problem}")
        server = h.owner
        with server._lock:
            entry = server.entries.get(selector["path"])
            if entry is None:
                return h.errors(400, f"Not found: Problem with path: {selector['path']}")
            supplied = selector.get("flags")
            flags = expand_flags(supplied) if supplied is not None else set(EVENT_TYPES)
            if not entry.is_dir and "IN_ONLYDIR" in flags:
                return h.errors(400, "Failed condition: IN_ONLYDIR with REGULAR target")
            with self.hub.lock:
                existing = next(
                    (s for s in channel.subscriptions.values() if s.pnfsid == entry.pnfsid), None
                )
                if existing is not None:  # MERGED: one watch per channel and target
                    if "IN_MASK_ADD" in flags:
                        flags = (flags | existing.flags) - {"IN_MASK_ADD"}
                    existing.selector, existing.flags = selector, flags
                    return h.reply(303, b"", {"Location": channel.subscription_url(existing)})
                sub = Subscription(_new_id(), entry.pnfsid, selector, flags)
                channel.subscriptions[sub.id] = sub
                url = channel.subscription_url(sub)
                channel.system({"type": "NEW_SUBSCRIPTION", "subscription": url})
        h.reply(201, b"", {"Location": url})

    def _subscription(self, method: str, channel: Channel, sub_id: str) -> None:
        with self.hub.lock:
            sub = channel.subscriptions.get(sub_id)
            if sub is None:
                return self.h.errors(404, "No such subscription")
            if method == "DELETE":
                channel.close_subscription(sub)
                return self.h.reply(204)
        if method != "GET":
            return self.h.errors(405, "Method Not Allowed")
        self.h.reply_json(200, sub.selector)


def _new_id() -> str:
    from tests.servers.dcache_events import _token

    return _token(18)


def _selector_problem(selector: Any) -> str | None:
    """What Jackson and ``InotifySelector.validationError`` would refuse, or None."""
    if not isinstance(selector, dict):
        return "Bad selector value: not a JSON object"
    unknown = set(selector) - {"path", "flags"}
    if unknown:
        return f'Bad selector value: Unrecognized field "{sorted(unknown)[0]}"'
    path = selector.get("path")
    if not isinstance(path, str):
        return "Missing path"
    flags = selector.get("flags", [])
    if not isinstance(flags, list):
        return "Bad selector value: Cannot deserialize value of type EnumSet from String"
    bad = [f for f in flags if f not in WATCH_FLAGS]
    if bad:
        return f"Bad selector value: Cannot deserialize AddWatchFlag from {bad[0]!r}"
    if set(flags) & UNSUPPORTED:
        return f"Unsupported flags: {sorted(set(flags) & UNSUPPORTED)}"
    return None


class Namespace:
    """``/namespace/PATH``: metadata, listings and the mkdir/mv actions."""

    def __init__(self, handler: Frontend, identity: Identity) -> None:
        self.h = handler
        self.identity = identity
        self.server = handler.owner

    def handle(self, method: str, raw: str) -> None:
        from tests.servers.dcache import normalise

        h = self.h
        if self.identity.user is None and (method != "GET" or self.server.requires_auth):
            return h.errors(401, "Unauthorized")
        mac = self.identity.macaroon
        try:
            path = normalise(raw)
        except ValueError:
            return h.errors(400, "Bad request")
        activity = {"GET": "READ_METADATA", "POST": "MANAGE", "DELETE": "DELETE"}.get(method)
        if mac is not None and not mac.allows(path, activity):
            return h.errors(403, "Forbidden")
        if method == "GET":
            return self._get(path)
        if method == "POST":
            return self._post(path)
        if method == "DELETE":
            return self._delete(path)
        h.errors(405, "Method Not Allowed")

    def _get(self, path: str) -> None:
        h = self.h
        flag = {k: (h.param(k) or "").lower() == "true" for k in ("children", "checksum")}
        flag |= {k: (h.param(k) or "").lower() == "true" for k in ("locality", "qos", "xattr")}
        with self.server._lock:
            entry = self.server.entries.get(path)
            if entry is None:
                return h.errors(404, "Not Found")
            document = _attributes(path, entry, flag)
            if entry.is_dir and flag["children"]:
                try:
                    offset, limit = int(h.param("offset") or 0), h.param("limit")
                    count = int(limit) if limit is not None else None
                except ValueError:
                    return h.errors(400, "limit and offset must be an integer value.")
                if offset < 0 or (count is not None and count < 0):
                    return h.errors(400, "limit and offset can not be less than zero.")
                names = sorted(p for p in self.server.entries if p != "/" and _parent(p) == path)
                page = names[offset:] if count is None else names[offset : offset + count]
                entries = self.server.entries
                document["children"] = [
                    {"fileName": p.rsplit("/", 1)[1], **_attributes(p, entries[p], flag)}
                    for p in page
                ]
        h.reply_json(200, document)

    def _post(self, path: str) -> None:
        from tests.servers.dcache import normalise

        h = self.h
        request = h.json_body()
        if not isinstance(request, dict) or "action" not in request:
            return h.errors(400, 'JSONObject["action"] not found.')
        server = self.server
        with server._lock:
            entry = server.entries.get(path)
            if entry is None:
                return h.errors(404, "Not Found")
            action = request["action"]
            if action == "mkdir":
                name = str(request.get("name", ""))
                if not name or "/" in name or name in (".", ".."):
                    return h.errors(400, f"Illegal name: {name!r}")
                target = normalise(f"{path}/{name}")
                if target in server.entries or not entry.is_dir:
                    return h.errors(400, f"File exists: {target}")
                server.makedirs(target)
            elif action == "mv":
                destination = str(request.get("destination", ""))
                relative = not destination.startswith("/")
                base = f"{_parent(path)}/{destination}" if relative else destination
                try:
                    target = normalise(base)
                except ValueError:
                    return h.errors(400, f"Bad destination {destination!r}")
                parent = server.entries.get(_parent(target))
                if parent is None or not parent.is_dir:
                    return h.errors(404, "Not Found")
                if target != path:
                    server.move(path, target)
            else:
                return h.errors(400, f"No such action {action}")
        h.reply_json(201, {"status": "success"})

    def _delete(self, path: str) -> None:
        h = self.h
        with self.server._lock:
            entry = self.server.entries.get(path)
            if entry is None or path == "/":
                return h.errors(404, "Not Found")
            if entry.is_dir and any(_parent(p) == path for p in self.server.entries if p != "/"):
                return h.errors(400, f"Directory is not empty: {path}")
            self.server.remove(path)
        h.reply_json(200, {"status": "success"})


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _attributes(path: str, entry: Entry, flag: dict[str, bool]) -> dict[str, Any]:
    from tests.servers.dcache import CHECKSUM_TYPE

    if entry.is_dir:
        mime, kind, size = "application/vnd.dcache.folder", "DIR", 512
    else:
        guessed = mimetypes.guess_type(path)[0]
        mime, kind, size = guessed or entry.content_type, "REGULAR", len(entry.data)
    out: dict[str, Any] = {
        "fileMimeType": mime,
        "fileType": kind,
        "pnfsId": entry.pnfsid,
        "nlink": 2 if entry.is_dir else 1,
        "mtime": int(entry.mtime * 1000),
        "creationTime": int(entry.ctime * 1000),
        "size": size,
        "mode": 0o755 if entry.is_dir else 0o644,
    }
    if flag["checksum"] and entry.checksums:
        out["checksums"] = [
            {"type": CHECKSUM_TYPE[a][1], "value": raw.hex()} for a, raw in entry.checksums.items()
        ]
    if flag["locality"] and not entry.is_dir:
        out["fileLocality"] = "ONLINE"
    if flag["qos"]:
        out["currentQoS"] = "disk"
    if flag["xattr"]:
        out["extendedAttributes"] = dict(entry.xattrs)
    return out
