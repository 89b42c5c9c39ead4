"""A dCache-like storage on 127.0.0.1: WebDAV door + pool, and the frontend REST API.

Three loopback ports, as in a dCache deployment: the WebDAV **door** (``base``), a
**pool** the door redirects downloads to, and the **frontend** (``api``, storage
events and the namespace API; :mod:`tests.servers.dcache_frontend`). They share one
namespace in which every entry has a pnfsId, so watches follow moved entries.

Documented behaviour followed (dCache @77340d6, see ``functions-and-events.md`` §1):

* **Downloads** (User Guide ``webdav.md``, "Redirection on download"): the door answers
  HEAD and PROPFIND itself; GET gets ``307`` to the pool with a one-time
  ``dcache-http-uuid``. The pool has no namespace and no authentication; it serves an
  unused uuid once and honours ``Range`` (``206``) with ``If-Range``.
* **Checksums** (``webdav.md`` "Checksums", ``org.dcache.util.Checksums``):
  ``Want-Digest`` on HEAD, GET and PUT; ``Digest`` lists every wanted (q > 0) *stored*
  algorithm, best q first, ``adler32`` as hex, the others base64; none stored, no header.
  A file stores ADLER32 only, plus what the upload's ``Want-Digest`` asked for and the
  MD5 of a ``Content-MD5`` ("Failing upload if data is corrupt").
* **PROPFIND** (``Depth: 0``) answers ``207`` with the live properties; the
  ``{http://www.dcache.org/2013/webdav}Checksums`` property only when asked for by name.
  Directories carry ``Link: <...?type=metalink>; rel=describedby`` on GET/HEAD.
* **Writes**: ``PUT`` creates missing parent collections (milton ``PutHandler``
  ``findOrCreateFolders``, ``DcacheDirectoryResource.createCollection``) and answers
  ``201`` with ``ETag`` and the ``Digest`` asked for. It refuses: a ``Content-MD5``
  that does not match the data, ``400 Checksum mismatch (expected=[2:...], actual=[...])``
  and the upload removed; a malformed ``Content-MD5``, ``400``; a PUT onto a collection,
  ``405``; an existing file when overwriting is disabled (``overwrite=False``,
  ``webdav.enable.overwrite``; dCache's default is true), ``409``; a parent that is a
  file, ``409``. ``MKCOL``: ``201``; an existing name ``405``; a missing parent ``409``.
  ``DELETE``: ``204``, collections recursively (milton ``DeleteHelperImpl`` walks them).
  ``MOVE`` with ``Destination`` (and ``Overwrite: F`` -> ``412`` if the target exists):
  ``201``, or ``204`` when it replaced an entry; a missing target parent ``409``.
* **Storage events** for WebDAV writes (``frontend.md`` "Receiving events: SSE"): an
  upload emits ``IN_CREATE`` (the file still empty), ``IN_OPEN``, ``IN_MODIFY``, then
  ``IN_CLOSE_WRITE`` and ``IN_ATTRIB`` (order switchable: ``attrib_first``); MKCOL
  ``IN_CREATE``+``IN_ISDIR``; MOVE ``IN_MOVED_FROM``/``IN_MOVED_TO`` sharing a
  ``cookie`` (plus ``IN_MOVE_SELF`` on a watched moved entry); DELETE ``IN_DELETE``
  (plus ``IN_DELETE_SELF``). Inferred, not documented: an overwrite first deletes the
  old file (``IN_DELETE``); a corrupt upload ends with ``IN_DELETE`` instead of
  ``IN_CLOSE_WRITE``.
* **Authorisation**: with ``token`` or ``users`` set the door wants credentials:
  ``Authorization: Bearer`` or ``?authz=`` (a token or a macaroon), or Basic. None:
  ``401`` with ``WWW-Authenticate``; a wrong bearer token ``403``; a wrong password
  ``401``. **Macaroons** (``webdav.md`` "Requesting macaroons"): ``POST`` with
  ``Content-Type: application/macaroon-request`` and
  ``{"caveats":["activity:DOWNLOAD,LIST","path:/data"],"validity":"PT1H"}`` gives
  ``{"macaroon","uri":{...}}``; the macaroon is refused outside its path, activities
  or validity (``403``). Anonymous users get no macaroon (``401``).

Test switches: :meth:`change`, ``corrupt`` (flip a byte of every pool transfer),
``fail``/:meth:`fail_with` (path -> status, optionally N times), ``drop_after`` (the
next pool transfer breaks off after N bytes), ``upload_delay`` (seconds between
``IN_MODIFY`` and ``IN_CLOSE_WRITE``, during which the file is visible and empty),
``overwrite``, and the event faults of :class:`~tests.servers.dcache_events.EventHub`
(``events.drop``, ``events.duplicate``, ``events.attrib_first``, :meth:`restart`...).
``log`` records door and pool requests, ``frontend_log`` the REST ones.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree as ET

from tests.servers.base import Handler, LoopbackServer, Recorded, handler_for
from tests.servers.dcache_events import EventHub, new_cookie

DAV = "DAV:"
DCACHE_NS = "http://www.dcache.org/2013/webdav"
# RFC 3230 names dCache knows (Checksums.CHECKSUMTYPE_TO_RFC3230_NAME).
RFC3230 = {"adler32": "adler32", "md5": "md5", "sha": "sha1", "sha-256": "sha256"}
RFC3230["sha-512"] = "sha512"
# dCache's preference when q-values tie (PREFERRED_CHECKSUM_TYPE_ORDERING).
PREFERENCE = ["sha512", "sha256", "sha1", "md5", "adler32"]
# ChecksumType: the numeric type in "Checksum mismatch" messages, the enum name in JSON.
CHECKSUM_TYPE = {"adler32": (1, "ADLER32"), "md5": (2, "MD5_TYPE"), "sha1": (4, "SHA1")}
CHECKSUM_TYPE |= {"sha256": (5, "SHA256"), "sha512": (6, "SHA512")}
ACTIVITIES = {"DOWNLOAD", "UPLOAD", "DELETE", "MANAGE", "LIST", "READ_METADATA"}
ACTIVITIES |= {"UPDATE_METADATA", "STAGE"}
# The macaroon activity a WebDAV method needs.
METHOD_ACTIVITY = {"GET": "DOWNLOAD", "HEAD": "READ_METADATA", "PROPFIND": "LIST"}
METHOD_ACTIVITY |= {"PUT": "UPLOAD", "MKCOL": "MANAGE", "DELETE": "DELETE", "MOVE": "MANAGE"}


def compute(algorithm: str, data: bytes) -> bytes:
    if algorithm == "adler32":
        return zlib.adler32(data).to_bytes(4, "big")
    return hashlib.new(algorithm, data).digest()


def rfc3230_value(algorithm: str, raw: bytes) -> str:
    name = {v: k for k, v in RFC3230.items()}[algorithm]
    value = raw.hex() if algorithm == "adler32" else base64.b64encode(raw).decode()
    return f"{name}={value}"


def _pnfsid() -> str:
    return "0000" + uuid.uuid4().hex.upper()


def parent_of(path: str) -> tuple[str, str]:
    head, _, name = path.rstrip("/").rpartition("/")
    return head or "/", name


def normalise(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"'..' in {path!r}")
    return "/" + "/".join(parts)


@dataclass
class Entry:
    """A namespace entry (file or directory)."""

    is_dir: bool
    data: bytes = b""
    checksums: dict[str, bytes] = field(default_factory=dict)  # algorithm -> raw digest
    mtime: float = 0.0
    ctime: float = 0.0
    etag: str = ""
    content_type: str = "application/octet-stream"
    pnfsid: str = field(default_factory=_pnfsid)
    xattrs: dict[str, str] = field(default_factory=dict)


StoredFile = Entry  # the name the data tests know


@dataclass
class Macaroon:
    user: str
    path: str
    activities: set[str]
    expires: float

    def allows(self, path: str, activity: str | None) -> bool:
        inside = path == self.path or path.startswith(self.path.rstrip("/") + "/")
        allowed = activity is None or activity in self.activities
        return time.time() < self.expires and inside and allowed


@dataclass
class Identity:
    user: str | None  # None: anonymous
    macaroon: Macaroon | None = None
    refused: int | None = None  # credentials given but wrong: the status to answer


class DcacheServer:
    """Door + pool + frontend on three loopback ports; see the module docstring."""

    def __init__(
        self,
        token: str | None = None,
        users: dict[str, str] | None = None,
        overwrite: bool = True,
    ) -> None:
        from tests.servers.dcache_frontend import Frontend

        self.token = token
        self.users = dict(users or {})
        self.overwrite = overwrite
        self.entries: dict[str, Entry] = {"/": Entry(is_dir=True, pnfsid="0" * 36)}
        self.macaroons: dict[str, Macaroon] = {}
        self.corrupt = False
        self.drop_after: int | None = None
        self.upload_delay = 0.0
        self.fail: dict[str, tuple[int, int | None]] = {}  # path -> (status, times or None)
        self.log: list[Recorded] = []
        self.frontend_log: list[Recorded] = []
        self.errors: list[str] = []  # exceptions in handlers
        self._movers: dict[str, str] = {}  # uuid -> path
        self._lock = threading.RLock()
        self._clock = 1_700_000_000.0
        self.events = EventHub(lambda: self.frontend.url)
        self.door = LoopbackServer(handler_for(_Door, self, "door"), self.errors)
        self.pool = LoopbackServer(handler_for(_Pool, self, "pool"), self.errors)
        self.frontend = LoopbackServer(handler_for(Frontend, self, "frontend"), self.errors)

    # -- test API ---------------------------------------------------------------------

    @property
    def base(self) -> str:
        return self.door.url

    @property
    def api(self) -> str:
        """The frontend REST API base, ``http://127.0.0.1:PORT/api/v1``."""
        return f"{self.frontend.url}/api/v1"

    @property
    def files(self) -> dict[str, Entry]:
        return {p: e for p, e in self.entries.items() if not e.is_dir}

    @property
    def dirs(self) -> set[str]:
        return {p for p, e in self.entries.items() if e.is_dir}

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.door.port}{quote(path)}"

    def put(
        self,
        path: str,
        data: bytes,
        algorithms: tuple[str, ...] = ("adler32",),
        content_type: str = "application/octet-stream",
        events: bool = False,
    ) -> None:
        """Store ``data`` (dCache computes ``algorithms`` on write; ADLER32 by default).

        Silent by default (data that was there before the test); ``events=True`` emits
        the event sequence of a WebDAV upload.
        """
        with self._lock:
            self.makedirs(parent_of(path)[0], events=events)
            if path in self.entries:
                self.remove(path, events=events)
            entry = self._new_file(path, content_type, events)
            self._commit(path, entry, data, tuple(algorithms), events)

    def change(self, path: str, data: bytes) -> None:
        """Replace the content at ``path`` (delete + upload, as dCache requires)."""
        old = self.files[path]
        self.put(path, data, tuple(old.checksums), old.content_type)

    def mkdir(self, path: str, events: bool = True) -> None:
        with self._lock:
            self.makedirs(path, events=events)

    def fail_with(self, path: str, status: int, times: int | None = None) -> None:
        self.fail[path] = (status, times)

    def requests(self, role: str | None = None, method: str | None = None) -> list[Recorded]:
        log = self.frontend_log if role == "frontend" else self.log
        return [
            r
            for r in log
            if (role is None or r.role == role) and (method is None or r.method == method)
        ]

    def restart(self, announce: bool = True) -> None:
        """A dCache restart: ``SHUTDOWN`` to connected clients, every channel gone (404)."""
        self.events.restart(announce)

    def close(self) -> None:
        self.events.disconnect_all()
        for server in (self.door, self.pool, self.frontend):
            server.close()

    # -- namespace operations (with their storage events) ----------------------------

    def _tick(self) -> float:
        self._clock += 60
        return self._clock

    def _emit(self, path: str, mask: list[str], cookie: str | None = None) -> None:
        head, name = parent_of(path)
        self.events.child_event(self.entries[head].pnfsid, name, mask, cookie)

    def makedirs(self, path: str, events: bool = True) -> None:
        """Create ``path`` and missing ancestors; ``NotADirectoryError`` if one is a file."""
        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            entry = self.entries.get(current)
            if entry is None:
                self.entries[current] = Entry(is_dir=True, mtime=self._tick())
                self.entries[current].ctime = self.entries[current].mtime
                if events:
                    self._emit(current, ["IN_CREATE", "IN_ISDIR"])
            elif not entry.is_dir:
                raise NotADirectoryError(current)

    def _new_file(self, path: str, content_type: str, events: bool) -> Entry:
        now = self._tick()
        entry = Entry(is_dir=False, mtime=now, ctime=now, content_type=content_type)
        entry.etag = f'"{entry.pnfsid}_{int(now)}"'
        self.entries[path] = entry
        if events:
            self._emit(path, ["IN_CREATE"])
            self._emit(path, ["IN_OPEN"])
        return entry

    def _commit(
        self, path: str, entry: Entry, data: bytes, algorithms: Iterable[str], events: bool
    ) -> None:
        if events:
            self._emit(path, ["IN_MODIFY"])
        entry.data = data
        entry.checksums = {a: compute(a, data) for a in algorithms}
        entry.mtime = self._tick()
        entry.etag = f'"{entry.pnfsid}_{int(entry.mtime)}"'
        if events:
            order = [["IN_CLOSE_WRITE"], ["IN_ATTRIB"]]
            for mask in reversed(order) if self.events.attrib_first else order:
                self._emit(path, mask)

    def remove(self, path: str, events: bool = True) -> None:
        """Delete ``path`` (collections recursively, children first)."""
        entry = self.entries[path]
        if entry.is_dir:
            for child in [p for p in self.entries if parent_of(p)[0] == path and p != "/"]:
                self.remove(child, events)
        del self.entries[path]
        if events:
            self._emit(path, ["IN_DELETE", "IN_ISDIR"] if entry.is_dir else ["IN_DELETE"])
            self.events.self_event(entry.pnfsid, ["IN_DELETE_SELF"])

    def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (replacing a file there), with the move events."""
        entry = self.entries[src]
        if dst in self.entries:
            self.remove(dst)
        moved = {p: e for p, e in self.entries.items() if p == src or p.startswith(src + "/")}
        for p in moved:
            del self.entries[p]
        for p, e in moved.items():
            self.entries[dst + p[len(src) :]] = e
        cookie = new_cookie()
        isdir = ["IN_ISDIR"] if entry.is_dir else []
        self._emit(src, ["IN_MOVED_FROM", *isdir], cookie)
        self._emit(dst, ["IN_MOVED_TO", *isdir], cookie)
        self.events.self_event(entry.pnfsid, ["IN_MOVE_SELF", *isdir])

    # -- shared by the handlers -------------------------------------------------------

    def authenticate(self, handler: Handler, frontend: bool = False) -> Identity:
        basic = handler.basic()
        if basic is not None:
            user, password = basic
            ok = user in self.users and secrets.compare_digest(self.users[user], password)
            return Identity(user) if ok else Identity(None, refused=401)
        given = handler.bearer() or handler.param("authz")
        if given is None:
            return Identity(None)
        if self.token is not None and secrets.compare_digest(given, self.token):
            return Identity("bearer")
        macaroon = self.macaroons.get(given)
        if macaroon is not None and time.time() < macaroon.expires:
            return Identity(macaroon.user, macaroon)
        return Identity(None, refused=401 if frontend else 403)

    @property
    def requires_auth(self) -> bool:
        return self.token is not None or bool(self.users)

    def injected_failure(self, path: str) -> int | None:
        with self._lock:
            if path not in self.fail:
                return None
            status, times = self.fail[path]
            if times is not None:
                if times <= 0:
                    del self.fail[path]
                    return None
                self.fail[path] = (status, times - 1)
            return status

    def new_mover(self, path: str) -> str:
        with self._lock:
            key = str(uuid.uuid4())
            self._movers[key] = path
            return key

    def take_mover(self, key: str) -> str | None:
        with self._lock:
            return self._movers.pop(key, None)

    def digest_header(self, want: str | None, stored: Entry) -> str | None:
        """``Checksums.digestHeader``: every wanted (q > 0) stored checksum, best q first."""
        have = stored.checksums
        values = [rfc3230_value(a, have[a]) for a in wanted_algorithms(want) if a in have]
        return ",".join(values) or None

    def issue_macaroon(self, user: str, request: dict[str, Any]) -> str:
        caveats = request.get("caveats") or []
        path, activities = "/", set(ACTIVITIES)
        for caveat in caveats:
            key, _, value = str(caveat).partition(":")
            if key == "path":
                path = normalise(value)
            elif key == "activity":
                activities = {a.strip() for a in value.split(",")}
                if not activities <= ACTIVITIES:
                    raise ValueError(f"unknown activity in {caveat!r}")
            else:
                raise ValueError(f"unknown caveat {caveat!r}")
        seconds = iso8601_seconds(str(request.get("validity", "PT1H")))
        token = "MDA" + secrets.token_urlsafe(48)
        self.macaroons[token] = Macaroon(user, path, activities, time.time() + seconds)
        return token


def wanted_algorithms(want: str | None) -> list[str]:
    """Algorithms asked for in a ``Want-Digest`` header (q > 0), best first."""
    wanted: list[tuple[float, int, str]] = []
    for item in (want or "").split(","):
        name, _, params = item.strip().partition(";")
        algorithm = RFC3230.get(name.strip().lower())
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if algorithm and q > 0:
            wanted.append((-q, PREFERENCE.index(algorithm), algorithm))
    return [a for _, _, a in sorted(wanted)]


def iso8601_seconds(duration: str) -> float:
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", duration)
    if not match or duration in ("P", "PT"):
        raise ValueError(f"bad ISO 8601 duration {duration!r}")
    d, h, m, s = (float(g or 0) for g in match.groups())
    return ((d * 24 + h) * 60 + m) * 60 + s


# -- the door ------------------------------------------------------------------------


class _Door(Handler):
    server_version = "dCache/9.2.0-test"
    owner: DcacheServer
    identity: Identity

    @property
    def fs_path(self) -> str:
        return self.url_path

    def _prologue(self) -> bool:
        self.record(self.owner.log, self.owner._lock)
        self.identity = self.owner.authenticate(self)
        if self.identity.refused is not None:
            if self.identity.refused == 401:
                return self._unauthorised()
            self.reply(403, b"Permission denied")
            return False
        if self.owner.requires_auth and self.identity.user is None:
            return self._unauthorised()
        macaroon = self.identity.macaroon
        if macaroon and not macaroon.allows(self.fs_path, METHOD_ACTIVITY.get(self.command)):
            self.reply(403, b"Permission denied")
            return False
        status = self.owner.injected_failure(self.fs_path)
        if status is not None:
            self.reply(status, f"injected {status}".encode())
            return False
        return True

    def _unauthorised(self) -> bool:
        self.reply(401, b"Unauthorized", {"WWW-Authenticate": 'Bearer realm="dCache"'})
        return False

    def _directory(self) -> None:
        link = f"<{self.owner.base}{quote(self.fs_path)}?type=metalink>"
        self.reply(
            200,
            b"<html><body>directory listing</body></html>",
            {
                "Content-Type": "text/html",
                "Link": f'{link}; rel=describedby; type="application/metalink4+xml"',
            },
        )

    def _entry(self) -> Entry | None:
        try:
            return self.owner.entries.get(normalise(self.fs_path))
        except ValueError:
            return None

    def _file(self) -> Entry | None:
        """The file asked for; None after answering (refused, missing, a directory)."""
        if not self._prologue():
            return None
        entry = self._entry()
        if entry is None:
            self.reply(404, b"Not Found")
        elif entry.is_dir:
            self._directory()
        return entry if entry is not None and not entry.is_dir else None

    def do_HEAD(self) -> None:
        entry = self._file()
        if entry is None:
            return
        # HEAD has no body, but Content-Length describes the file (as dCache sends it).
        self.send_response(200)
        for key, value in file_headers(self, entry).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(entry.data)))
        self.end_headers()

    def do_GET(self) -> None:
        if self._file() is None:
            return
        key = self.owner.new_mover(normalise(self.fs_path))
        location = f"{self.owner.pool.url}{quote(self.fs_path)}?dcache-http-uuid={key}"
        self.reply(307, b"", {"Location": location})

    def do_PROPFIND(self) -> None:
        body = self.body()
        if not self._prologue():
            return
        entry = self._entry()
        if entry is None:
            return self.reply(404, b"Not Found")
        wanted = _requested_properties(body)
        stored = None if entry.is_dir else entry
        found, missing = _properties(wanted, stored, entry.is_dir)
        self.reply(
            207,
            _multistatus(self.fs_path, found, missing),
            {"Content-Type": 'application/xml; charset="utf-8"'},
        )

    def do_POST(self) -> None:
        """Macaroon requests (``Content-Type: application/macaroon-request``)."""
        body = self.body()
        if not self._prologue():
            return
        if self.headers.get("Content-Type", "").split(";")[0] != "application/macaroon-request":
            return self.reply(405, b"Method Not Allowed")
        if self.identity.user is None:
            return self._unauthorised()
        try:
            request = json.loads(body or b"{}")
            caveats = [*request.get("caveats", []), f"path:{self.fs_path}"]
            if any(str(c).startswith("path:") for c in request.get("caveats", [])):
                caveats = request.get("caveats", [])
            token = self.owner.issue_macaroon(self.identity.user, {**request, "caveats": caveats})
        except (ValueError, AttributeError) as exc:
            return self.reply(400, str(exc).encode())
        target = self.owner.base + quote(self.fs_path)
        uri = {
            "targetWithMacaroon": f"{target}?authz={token}",
            "baseWithMacaroon": f"{self.owner.base}/?authz={token}",
            "target": target,
            "base": self.owner.base + "/",
        }
        self.reply_json(200, {"macaroon": token, "uri": uri})

    def do_PUT(self) -> None:
        body = self.body()
        if not self._prologue():
            return
        try:
            path = normalise(self.fs_path)
            md5 = _content_md5(self.headers.get("Content-MD5"))
        except ValueError as exc:
            return self.reply(400, b"", reason=f"Bad Content-MD5 header: {exc}")
        server = self.owner
        with server._lock:
            existing = server.entries.get(path)
            if existing is not None and existing.is_dir:
                return self.reply(405, b"Resource exists as collection")
            if existing is not None and not server.overwrite:
                return self.reply(409, b"Conflict")
            try:
                server.makedirs(parent_of(path)[0])
            except NotADirectoryError:
                return self.reply(409, b"Conflict")
            if existing is not None:
                server.remove(path)
            ctype = self.headers.get("Content-Type") or "application/octet-stream"
            entry = server._new_file(path, ctype, events=True)
        if server.upload_delay:
            time.sleep(server.upload_delay)
        algorithms = {"adler32", *wanted_algorithms(self.headers.get("Want-Digest"))}
        with server._lock:
            if md5 is not None and md5 != hashlib.md5(body).digest():
                server._emit(path, ["IN_MODIFY"])
                server.remove(path)
                return self.reply(400, b"", reason=_mismatch(md5, body))
            stored = sorted(algorithms | ({"md5"} if md5 else set()))
            server._commit(path, entry, body, stored, True)
        headers = {"ETag": entry.etag}
        digest = server.digest_header(self.headers.get("Want-Digest"), entry)
        if digest:
            headers["Digest"] = digest
        self.reply(201, b"", headers)

    def do_MKCOL(self) -> None:
        self.body()
        if not self._prologue():
            return
        server = self.owner
        with server._lock:
            path = normalise(self.fs_path)
            head, _ = parent_of(path)
            if path in server.entries:
                return self.reply(405, b"collection already exists")
            parent = server.entries.get(head)
            if parent is None or not parent.is_dir:
                return self.reply(409, b"Conflict")
            server.makedirs(path)
        self.reply(201, b"")

    def do_DELETE(self) -> None:
        if not self._prologue():
            return
        with self.owner._lock:
            path = normalise(self.fs_path)
            if path == "/" or path not in self.owner.entries:
                return self.reply(404 if path != "/" else 403, b"")
            self.owner.remove(path)
        self.reply(204, b"")

    def do_MOVE(self) -> None:
        if not self._prologue():
            return
        destination = self.headers.get("Destination")
        if not destination:
            return self.reply(400, b"Destination header missing")
        server = self.owner
        with server._lock:
            src = normalise(self.fs_path)
            dst = normalise(unquote(urlsplit(destination).path))
            if src not in server.entries:
                return self.reply(404, b"Not Found")
            parent = server.entries.get(parent_of(dst)[0])
            if parent is None or not parent.is_dir or dst.startswith(src + "/"):
                return self.reply(409, b"Conflict")
            existed = dst in server.entries
            if existed and self.headers.get("Overwrite", "T").upper() == "F":
                return self.reply(412, b"Precondition Failed")
            if dst != src:
                server.move(src, dst)
        self.reply(204 if existed else 201, b"")


def file_headers(handler: Handler, stored: Entry) -> dict[str, str]:
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": stored.etag,
        "Last-Modified": formatdate(stored.mtime, usegmt=True),
        "Content-Type": stored.content_type,
    }
    digest = handler.owner.digest_header(handler.headers.get("Want-Digest"), stored)
    if digest:
        headers["Digest"] = digest
    return headers


def _content_md5(value: str | None) -> bytes | None:
    if value is None:
        return None
    raw = base64.b64decode(value.strip(), validate=True)
    if len(raw) != 16:
        raise ValueError(f"{value!r} is not an MD5 checksum")
    return raw


def _mismatch(expected: bytes, data: bytes) -> str:
    actual = ", ".join(
        f"{CHECKSUM_TYPE[a][0]}:{compute(a, data).hex()}" for a in ("adler32", "md5")
    )
    return f"Checksum mismatch (expected=[2:{expected.hex()}], actual=[{actual}])"


# -- the pool ------------------------------------------------------------------------


class _Pool(Handler):
    server_version = "dCache/9.2.0-test"
    owner: DcacheServer

    def do_GET(self) -> None:
        server = self.owner
        self.record(server.log, server._lock)
        key = (self.query.get("dcache-http-uuid") or [""])[0]
        path = server.take_mover(key)
        stored = server.entries.get(path or "")
        if path is None or stored is None or stored.is_dir or path != self.url_path:
            return self.reply(404, b"Request is no longer valid")
        data = stored.data
        start, status = 0, 200
        headers = file_headers(self, stored)
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range in (stored.etag, headers["Last-Modified"]):
                start, status = int(ranged[6:-1]), 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if server.corrupt and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        drop, server.drop_after = server.drop_after, None
        if drop is not None and drop < len(body):
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True  # the mover dies mid-transfer
            return
        self.wfile.write(body)


# -- PROPFIND ------------------------------------------------------------------------

_LIVE = ["resourcetype", "getcontentlength", "getcontenttype", "getlastmodified", "getetag"]


def _requested_properties(body: bytes) -> list[tuple[str, str]]:
    """(namespace, name) pairs asked for; an empty body or allprop means the live ones."""
    if not body.strip():
        return [(DAV, n) for n in _LIVE]
    root = ET.fromstring(body)
    prop = root.find(f"{{{DAV}}}prop")
    if prop is None:  # allprop / propname: dCache does not include Checksums
        return [(DAV, n) for n in _LIVE]
    out = []
    for child in prop:
        ns, _, name = child.tag[1:].partition("}")
        out.append((ns, name))
    return out


def _properties(
    wanted: list[tuple[str, str]], stored: Entry | None, is_dir: bool
) -> tuple[dict[tuple[str, str], str | None], list[tuple[str, str]]]:
    found: dict[tuple[str, str], str | None] = {}
    missing: list[tuple[str, str]] = []
    for ns, name in wanted:
        value: str | None
        if (ns, name) == (DAV, "resourcetype"):
            value = "collection" if is_dir else ""
        elif stored is None:
            missing.append((ns, name))
            continue
        elif (ns, name) == (DAV, "getcontentlength"):
            value = str(len(stored.data))
        elif (ns, name) == (DAV, "getcontenttype"):
            value = stored.content_type
        elif (ns, name) == (DAV, "getlastmodified"):
            value = formatdate(stored.mtime, usegmt=True)
        elif (ns, name) == (DAV, "getetag"):
            value = stored.etag
        elif (ns, name) == (DCACHE_NS, "Checksums") and stored.checksums:
            value = ",".join(rfc3230_value(a, raw) for a, raw in stored.checksums.items())
        else:
            missing.append((ns, name))
            continue
        found[(ns, name)] = value
    return found, missing


def _multistatus(
    path: str, found: dict[tuple[str, str], str | None], missing: list[tuple[str, str]]
) -> bytes:
    ET.register_namespace("d", DAV)
    root = ET.Element(f"{{{DAV}}}multistatus")
    response = ET.SubElement(root, f"{{{DAV}}}response")
    ET.SubElement(response, f"{{{DAV}}}href").text = quote(path)
    for props, status in ((found, "HTTP/1.1 200 OK"), (missing, "HTTP/1.1 404 Not Found")):
        if not props:
            continue
        propstat = ET.SubElement(response, f"{{{DAV}}}propstat")
        prop = ET.SubElement(propstat, f"{{{DAV}}}prop")
        for ns, name in props:
            element = ET.SubElement(prop, f"{{{ns}}}{name}")
            value = props[(ns, name)] if isinstance(props, dict) else None
            if name == "resourcetype":
                if value == "collection":
                    ET.SubElement(element, f"{{{DAV}}}collection")
            elif value is not None:
                element.text = value
        ET.SubElement(propstat, f"{{{DAV}}}status").text = status
    return ET.tostring(root, xml_declaration=True, encoding="utf-8")
