"""A hostile OCI registry on 127.0.0.1: a real registry behind a proxy that lies on cue.

What it imitates: a registry the reader does not run (a lab's, a mirror, one
that was compromised) serving a crate someone else published. Honest, it
forwards every request unchanged to a real registry (Debian's
``docker-registry``; ``Host`` kept, so ``Location`` headers point back here),
so pushes and pulls through it behave as against that registry. With
``attack`` set, it answers what a hostile or broken registry can send instead:

* ``"huge-manifest"``: any manifest ``GET`` answers 400 MiB (``Content-Length``
  says so); ``"huge-manifest-chunked"``: the same with no length, chunked;
  ``"gzip-bomb"``: about 1 MiB of gzip that inflates to 256 MiB;
  ``"huge-head"``: a manifest ``HEAD`` claims 400 MiB;
* ``"deep-json"``: a manifest of 100,000 nested arrays (a recursion bomb);
* ``"referrers-loop"``: the referrers API answers a page whose
  ``Link: <...>; rel="next"`` is the same page; ``"referrers-endless"``: each
  page links to a new one, forever; ``"referrers-malformed"``: it lists a
  descriptor without digest or size;
* ``"endless-blob"``: a blob ``GET`` streams zeros forever, with no length;
* ``"silent"``: accepts the connection, reads the request, never answers.

``log`` records ``(method, path)`` of every request, ``sent`` the bytes of
attack bodies written (to show how little of them a client read).
"""

from __future__ import annotations

import gzip
import re
import threading

from tests.oci.flaky_proxy import forward
from tests.servers.base import Handler, LoopbackServer

HUGE = 400 << 20
HOSTILE_SENT_LIMIT = 64 << 20  # what socket buffers may take of an attack before a hang-up
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
_BOMB: list[bytes] = []


def gzip_bomb() -> bytes:
    """256 MiB of spaces, gzipped (about 1 MiB); made once per test session."""
    if not _BOMB:
        _BOMB.append(gzip.compress(b" " * (256 << 20), compresslevel=1))
    return _BOMB[0]


class HostileRegistry:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # host:port of the real registry
        self.attack: str | None = None
        self.log: list[tuple[str, str]] = []
        self.sent = 0
        self._stop = threading.Event()
        self.errors: list[str] = []  # the server's own failures (a client hanging up is none)
        self._handler = _handler(self)
        self.server: LoopbackServer | None = None

    @property
    def host(self) -> str:
        assert self.server is not None, "use HostileRegistry as a context manager"
        return f"127.0.0.1:{self.server.port}"

    def requests(self, method: str, pattern: str) -> list[str]:
        return [p for m, p in self.log if m == method and re.search(pattern, p)]

    def __enter__(self) -> HostileRegistry:
        gzip_bomb()  # made before any request waits for it
        self.server = LoopbackServer(self._handler, self.errors)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.close()


def _handler(reg: HostileRegistry) -> type[Handler]:
    class Hostile(Handler):
        def do_any(self) -> None:
            body = self.read_body()
            reg.log.append((self.command, self.path))
            attack = reg.attack
            is_manifest = "/manifests/" in self.path
            if attack == "silent":
                while not reg._stop.wait(0.5):
                    pass
                self.close_connection = True
            elif attack and attack.startswith("huge-manifest") and is_manifest:
                self.huge(chunked=attack.endswith("chunked"))
            elif attack == "huge-head" and is_manifest and self.command == "HEAD":
                self.headers_only(200, {"Content-Type": MANIFEST_TYPE, "Content-Length": str(HUGE)})
            elif attack == "gzip-bomb" and is_manifest and self.command == "GET":
                bomb = gzip_bomb()
                extra = {"Content-Encoding": "gzip", "Content-Type": MANIFEST_TYPE}
                self.headers_only(200, {**extra, "Content-Length": str(len(bomb))})
                self.write(bomb)
            elif attack == "deep-json" and is_manifest and self.command == "GET":
                data = b"[" * 100_000 + b"]" * 100_000
                self.headers_only(
                    200, {"Content-Type": MANIFEST_TYPE, "Content-Length": str(len(data))}
                )
                self.write(data)
            elif attack and attack.startswith("referrers") and "/referrers/" in self.path:
                self.referrers(attack)
            elif attack == "endless-blob" and "/blobs/sha256:" in self.path:
                self.headers_only(
                    200,
                    {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"},
                )
                self.chunks(1 << 40)
            else:
                forward(self, reg.upstream, body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

        def read_body(self) -> bytes:
            """The request body, also when chunked (the Docker Engine pushes layers so),
            of any size: a proxy forwards what it gets (``Handler.body`` caps at 64 MiB)."""
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)

        def huge(self, chunked: bool) -> None:
            head = {"Content-Type": MANIFEST_TYPE}
            if chunked:
                self.headers_only(200, {**head, "Transfer-Encoding": "chunked"})
                self.chunks(HUGE, b'{"schemaVersion": 2, "layers": [')
            else:
                self.headers_only(200, {**head, "Content-Length": str(HUGE)})
                if self.command == "GET":
                    left = HUGE
                    while left > 0 and self.write(b" " * min(left, 1 << 20)):
                        left -= 1 << 20

        def referrers(self, attack: str) -> None:
            page = int(self.path.rsplit("page=", 1)[1]) if "page=" in self.path else 0
            here = self.path.split("?", 1)[0]
            nxt = self.path if attack == "referrers-loop" else f"{here}?page={page + 1}"
            listed = b'[{"mediaType": "x"}]' if attack == "referrers-malformed" else b"[]"
            data = b'{"schemaVersion": 2, "mediaType": "%s", "manifests": %s}' % (
                INDEX_TYPE.encode(),
                listed,
            )
            extra = {"Link": f'<{nxt}>; rel="next"', "Content-Type": INDEX_TYPE}
            self.headers_only(200, {**extra, "Content-Length": str(len(data))})
            self.write(data)

        def headers_only(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def write(self, data: bytes) -> bool:
            try:
                self.wfile.write(data)
            except OSError:
                self.close_connection = True
                return False
            reg.sent += len(data)
            return not reg._stop.is_set()

        def chunks(self, total: int, first: bytes = b"") -> None:
            block = first + b"\0" * ((1 << 20) - len(first))
            left = total
            while left > 0 and self.write(b"%x\r\n%s\r\n" % (len(block), block)):
                left -= len(block)
                block = b" " * (1 << 20)
            self.close_connection = True

    return Hostile
