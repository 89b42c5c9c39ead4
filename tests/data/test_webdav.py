"""The dav/davs resolver: PROPFIND Depth 0 with dCache's Checksums property, GET via the pool."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zlib
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from preserve.data import resolver_for
from preserve.data.webdav import WebDavResolver, http_url
from preserve.errors import DataError
from preserve.progress import QUIET
from tests.servers.dcache import DCACHE_NS, DcacheServer

DATA = os.urandom(2 * 1024 * 1024 + 5)


def test_scheme_mapping() -> None:
    assert http_url("dav://h:2880/p/f.h5") == "http://h:2880/p/f.h5"
    assert http_url("davs://h/p/f.h5") == "https://h/p/f.h5"
    assert isinstance(resolver_for("davs://h/p"), WebDavResolver)


def test_stat_reads_properties_and_dcache_checksums(dcache: DcacheServer) -> None:
    dcache.put(
        "/p01/frames.h5", DATA, algorithms=("md5", "adler32"), content_type="application/x-hdf5"
    )
    uri = dcache.url("/p01/frames.h5", scheme="dav")
    info = WebDavResolver().stat(uri)
    assert info.uri == uri
    assert info.size == len(DATA)
    assert info.encoding_format == "application/x-hdf5"
    assert info.etag == dcache.files["/p01/frames.h5"].etag
    assert info.last_modified is not None and info.last_modified.endswith("Z")
    assert info.checksums == {
        "md5": hashlib.md5(DATA).hexdigest(),
        "adler32": f"{zlib.adler32(DATA):08x}",
    }
    [propfind] = dcache.log
    assert (propfind.method, propfind.headers["Depth"]) == ("PROPFIND", "0")


def test_checksums_property_must_be_asked_for_by_name(dcache: DcacheServer) -> None:
    """The server, like dCache, leaves Checksums out of a bare PROPFIND."""
    import requests

    dcache.put("/f.bin", DATA)
    bare = requests.request("PROPFIND", dcache.url("/f.bin"), headers={"Depth": "0"}, timeout=5)
    assert bare.status_code == 207 and DCACHE_NS not in bare.text
    assert str(len(DATA)) in bare.text


def test_fetch_via_dav(dcache: DcacheServer) -> None:
    dcache.put("/p01/frames.h5", DATA)
    uri = dcache.url("/p01/frames.h5", scheme="dav")
    sink = io.BytesIO()
    info = WebDavResolver().fetch(uri, sink, progress=QUIET)
    assert sink.getvalue() == DATA
    assert info.uri == uri and info.checksums == {"adler32": f"{zlib.adler32(DATA):08x}"}
    assert [(r.role, r.method) for r in dcache.log] == [("door", "GET"), ("pool", "GET")]


def test_collections_are_refused(dcache: DcacheServer) -> None:
    dcache.put("/p01/raw/frames.h5", DATA)
    with pytest.raises(DataError) as err:
        WebDavResolver().stat(dcache.url("/p01/raw", scheme="dav"))
    assert "is a folder" in err.value.message


def test_missing_file_names_the_dav_uri(dcache: DcacheServer) -> None:
    uri = dcache.url("/nope.h5", scheme="dav")
    with pytest.raises(DataError) as err:
        WebDavResolver().stat(uri)
    assert uri in err.value.message and "HTTP 404" in err.value.message
    with pytest.raises(DataError) as err:
        WebDavResolver().fetch(uri, io.BytesIO(), progress=QUIET)
    assert uri in err.value.message


@pytest.fixture
def plain_http(tmp_path: Path) -> Iterator[str]:
    """Python's own file server: plain HTTP, no WebDAV (PROPFIND gives 501)."""
    (tmp_path / "f.bin").write_bytes(b"data")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"dav://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_server_without_webdav(plain_http: str) -> None:
    with pytest.raises(DataError) as err:
        WebDavResolver().stat(f"{plain_http}/f.bin")
    assert "HTTP 501" in err.value.message
    assert "does not speak WebDAV" in (err.value.hint or "")
