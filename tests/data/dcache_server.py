"""A dCache-like WebDAV/HTTP server on 127.0.0.1 for the data tests.

It follows dCache's User Guide, chapter "WebDAV" (dCache/dcache,
``docs/UserGuide/src/main/markdown/webdav.md``) and dCache's
``org.dcache.util.Checksums``:

* **Door and pool.** The door (one port) answers HEAD and PROPFIND itself. A GET
  for a file is answered with ``307`` and a ``Location`` on the pool (another
  port) carrying a one-time ``dcache-http-uuid``: "Redirection on download".
  The pool has no namespace and no authentication; it serves only a valid,
  unused uuid, honours ``Range`` (``206``), and ``Accept-Ranges: bytes``.
* **Checksums (RFC 3230).** ``Want-Digest`` is honoured on HEAD and GET. The
  ``Digest`` header lists every requested algorithm with q > 0 that is
  *stored* for the file, best q first (``Checksums.digestHeader``): ``adler32``
  as 8 hex digits, ``md5``/``sha``/``sha-256``/``sha-512`` in base64. An
  algorithm not stored gives no header at all. A file stores ADLER32 only,
  "by default", unless other algorithms were asked for at upload
  (:meth:`DcacheServer.put` ``algorithms=``).
* **WebDAV properties.** ``PROPFIND`` (``Depth: 0``) answers ``207`` with the
  live properties and, only when asked for by name, the
  ``{http://www.dcache.org/2013/webdav}Checksums`` property: comma-separated
  RFC 3230 values. Properties it does not have come back in a 404 propstat.
* **Directories.** GET/HEAD on a directory carries ``Link: <...?type=metalink>;
  rel=describedby; type="application/metalink4+xml"`` (RFC 6249, "Metalink");
  PROPFIND reports ``<d:collection/>``.
* **Authorization.** With ``token`` set, the door wants ``Authorization:
  Bearer <token>`` or ``?authz=<token>`` (macaroons, "URL query part"): none
  gives 401 with ``WWW-Authenticate``, a wrong one 403 ("Permission denied").

Switches for tests: :meth:`change` (the input changed at its URI),
``corrupt`` (flip a byte of every pool transfer, keeping Content-Length and
the Digest of the stored content), ``fail`` (path -> status, e.g. 404/403/503,
optionally for the next N requests only), ``drop_after`` (the next pool
transfer breaks off after N bytes). ``log`` records every request.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import threading
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.etree import ElementTree as ET

DAV = "DAV:"
DCACHE_NS = "http://www.dcache.org/2013/webdav"
# RFC 3230 names dCache knows (Checksums.CHECKSUMTYPE_TO_RFC3230_NAME).
RFC3230 = {"adler32": "adler32", "md5": "md5", "sha": "sha1", "sha-256": "sha256"}
RFC3230["sha-512"] = "sha512"
# dCache's preference when q-values tie (PREFERRED_CHECKSUM_TYPE_ORDERING).
PREFERENCE = ["sha512", "sha256", "sha1", "md5", "adler32"]


def compute(algorithm: str, data: bytes) -> bytes:
    if algorithm == "adler32":
        return zlib.adler32(data).to_bytes(4, "big")
    return hashlib.new(algorithm, data).digest()


def rfc3230_value(algorithm: str, raw: bytes) -> str:
    name = {v: k for k, v in RFC3230.items()}[algorithm]
    value = raw.hex() if algorithm == "adler32" else base64.b64encode(raw).decode()
    return f"{name}={value}"


@dataclass
class StoredFile:
    data: bytes
    checksums: dict[str, bytes]  # algorithm -> raw digest, as dCache stored them
    mtime: float
    etag: str
    content_type: str = "application/octet-stream"


@dataclass
class Request:
    role: str  # "door" or "pool"
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class DcacheServer:
    """Door + pool on two loopback ports; see the module docstring."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.files: dict[str, StoredFile] = {}
        self.dirs: set[str] = {"/"}
        self.corrupt = False
        self.drop_after: int | None = None
        self.fail: dict[str, tuple[int, int | None]] = {}  # path -> (status, times or None)
        self.log: list[Request] = []
        self._movers: dict[str, str] = {}  # uuid -> path
        self._lock = threading.Lock()
        self._clock = 1_700_000_000.0
        self.errors: list[str] = []  # exceptions in handlers (e.g. a client hung up)
        self.door = _Server(("127.0.0.1", 0), _door_handler(self), self.errors)
        self.pool = _Server(("127.0.0.1", 0), _pool_handler(self), self.errors)
        self._threads = [
            threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
            for s in (self.door, self.pool)
        ]
        for t in self._threads:
            t.start()

    # -- test API ----------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.door.server_address[1]}"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.door.server_address[1]}{quote(path)}"

    def put(
        self,
        path: str,
        data: bytes,
        algorithms: tuple[str, ...] = ("adler32",),
        content_type: str = "application/octet-stream",
    ) -> None:
        """Upload ``data``; dCache computes ``algorithms`` on write (ADLER32 by default)."""
        with self._lock:
            self._clock += 60
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                self.dirs.add("/" + "/".join(parts[:i]))
            self.files[path] = StoredFile(
                data=data,
                checksums={a: compute(a, data) for a in algorithms},
                mtime=self._clock,
                etag=f'"{uuid.uuid4().hex.upper()}_{int(self._clock)}"',
                content_type=content_type,
            )

    def change(self, path: str, data: bytes) -> None:
        """Replace the content at ``path`` (delete + upload, as dCache requires)."""
        old = self.files[path]
        self.put(path, data, tuple(old.checksums), old.content_type)

    def fail_with(self, path: str, status: int, times: int | None = None) -> None:
        self.fail[path] = (status, times)

    def requests(self, role: str | None = None, method: str | None = None) -> list[Request]:
        return [
            r
            for r in self.log
            if (role is None or r.role == role) and (method is None or r.method == method)
        ]

    def close(self) -> None:
        for server in (self.door, self.pool):
            server.shutdown()
            server.server_close()

    # -- shared by the handlers --------------------------------------------------

    def record(self, role: str, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.log.append(Request(role, handler.command, handler.path, dict(handler.headers)))

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

    def digest_header(self, want: str | None, stored: StoredFile) -> str | None:
        """``Checksums.digestHeader``: every wanted (q > 0) stored checksum, best q first."""
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
        have = stored.checksums
        values = [rfc3230_value(a, have[a]) for _, _, a in sorted(wanted) if a in have]
        return ",".join(values) or None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, errors: list[str]) -> None:
        super().__init__(address, handler)
        self.errors = errors

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is fine
            self.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "dCache/9.2.0-test"
    dcache: DcacheServer
    role = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    @property
    def fs_path(self) -> str:
        return unquote(urlsplit(self.path).path)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def file_headers(self, stored: StoredFile) -> dict[str, str]:
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": stored.etag,
            "Last-Modified": formatdate(stored.mtime, usegmt=True),
            "Content-Type": stored.content_type,
        }
        digest = self.dcache.digest_header(self.headers.get("Want-Digest"), stored)
        if digest:
            headers["Digest"] = digest
        return headers


class _Door(_Handler):
    role = "door"

    def _authorised(self) -> bool:
        token = self.dcache.token
        if token is None:
            return True
        auth = self.headers.get("Authorization", "")
        given = auth[7:] if auth.lower().startswith("bearer ") else None
        given = given or (self.query.get("authz") or [None])[0]
        if given is None:
            self.reply(401, b"Unauthorized", {"WWW-Authenticate": 'Bearer realm="dCache"'})
            return False
        if given != token:
            self.reply(403, b"Permission denied")
            return False
        return True

    def _prologue(self) -> bool:
        self.dcache.record(self.role, self)
        if not self._authorised():
            return False
        status = self.dcache.injected_failure(self.fs_path)
        if status is not None:
            self.reply(status, f"injected {status}".encode())
            return False
        return True

    def _directory(self) -> None:
        link = f"<{self.dcache.base}{quote(self.fs_path)}?type=metalink>"
        self.reply(
            200,
            b"<html><body>directory listing</body></html>",
            {
                "Content-Type": "text/html",
                "Link": f'{link}; rel=describedby; type="application/metalink4+xml"',
            },
        )

    def do_HEAD(self) -> None:
        if not self._prologue():
            return
        path = self.fs_path
        if path.rstrip("/") in self.dcache.dirs or path == "/":
            return self._directory()
        stored = self.dcache.files.get(path)
        if stored is None:
            return self.reply(404, b"Not Found")
        # HEAD has no body, but Content-Length describes the file (as dCache sends it).
        self.send_response(200)
        for key, value in self.file_headers(stored).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(stored.data)))
        self.end_headers()

    def do_GET(self) -> None:
        if not self._prologue():
            return
        path = self.fs_path
        if path.rstrip("/") in self.dcache.dirs or path == "/":
            return self._directory()
        if path not in self.dcache.files:
            return self.reply(404, b"Not Found")
        key = self.dcache.new_mover(path)
        pool_port = self.dcache.pool.server_address[1]
        location = f"http://127.0.0.1:{pool_port}{quote(path)}?dcache-http-uuid={key}"
        self.reply(307, b"", {"Location": location})

    def do_PROPFIND(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self._prologue():
            return
        path = self.fs_path
        is_dir = path.rstrip("/") in self.dcache.dirs or path == "/"
        stored = self.dcache.files.get(path)
        if stored is None and not is_dir:
            return self.reply(404, b"Not Found")
        wanted = _requested_properties(body)
        found, missing = _properties(wanted, stored, is_dir)
        self.reply(
            207,
            _multistatus(path, found, missing),
            {"Content-Type": 'application/xml; charset="utf-8"'},
        )


class _Pool(_Handler):
    role = "pool"

    def do_GET(self) -> None:
        self.dcache.record(self.role, self)
        key = (self.query.get("dcache-http-uuid") or [""])[0]
        path = self.dcache.take_mover(key)
        stored = self.dcache.files.get(path or "")
        if path is None or stored is None or path != self.fs_path:
            return self.reply(404, b"Request is no longer valid")
        data = stored.data
        start, status, headers = 0, 200, self.file_headers(stored)
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range in (stored.etag, headers["Last-Modified"]):
                start, status = int(ranged[6:-1]), 206
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        if self.dcache.corrupt and body:
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        drop, self.dcache.drop_after = self.dcache.drop_after, None
        if drop is not None and drop < len(body):
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True  # the mover dies mid-transfer
            return
        self.wfile.write(body)


def _door_handler(server: DcacheServer) -> type[_Door]:
    return type("Door", (_Door,), {"dcache": server})


def _pool_handler(server: DcacheServer) -> type[_Pool]:
    return type("Pool", (_Pool,), {"dcache": server})


# -- PROPFIND ---------------------------------------------------------------------

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
    wanted: list[tuple[str, str]], stored: StoredFile | None, is_dir: bool
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
