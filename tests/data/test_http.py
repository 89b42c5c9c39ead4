"""The http/https resolver against the dCache-like server: stat, fetch, redirects, errors."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import zlib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from preserve.data import resolver_for
from preserve.data.http import CHUNK, HttpResolver
from preserve.errors import DataError, PreserveError
from preserve.progress import QUIET
from tests.conftest import free_port
from tests.data.conftest import RecordingProgress
from tests.servers.dcache import DcacheServer

DATA = os.urandom(3 * 1024 * 1024 + 17)


def test_stat_uses_head_on_the_door_only(dcache: DcacheServer) -> None:
    dcache.put("/p01/raw/frames.h5", DATA, content_type="application/x-hdf5")
    info = resolver_for(dcache.url("/p01/raw/frames.h5")).stat(dcache.url("/p01/raw/frames.h5"))
    assert info.size == len(DATA)
    assert info.encoding_format == "application/x-hdf5"
    assert info.etag == dcache.files["/p01/raw/frames.h5"].etag
    assert info.last_modified is not None and info.last_modified.endswith("Z")
    assert info.last_modified.startswith("2023-11-14T")  # the server's clock: 1_700_000_060
    # dCache stores only ADLER32 by default: no md5 or sha-256 is invented.
    assert info.checksums == {"adler32": f"{zlib.adler32(DATA):08x}"}
    [head] = dcache.log
    assert (head.role, head.method) == ("door", "HEAD")
    assert "sha-256" in head.headers["Want-Digest"] and "adler32" in head.headers["Want-Digest"]


def test_stat_reports_every_stored_checksum_in_hex(dcache: DcacheServer) -> None:
    dcache.put("/f.bin", DATA, algorithms=("adler32", "md5", "sha256"))
    info = HttpResolver().stat(dcache.url("/f.bin"))
    assert info.checksums == {
        "adler32": f"{zlib.adler32(DATA):08x}",
        "md5": hashlib.md5(DATA).hexdigest(),
        "sha256": hashlib.sha256(DATA).hexdigest(),
    }
    # On the wire, dCache's encoding: base64 for md5/sha-256 (checked by the server).
    sha_b64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    assert f"sha-256={sha_b64}" in dcache.digest_header("sha-256", dcache.files["/f.bin"]) or ""


def test_fetch_follows_the_307_to_the_pool(
    dcache: DcacheServer, progress: RecordingProgress
) -> None:
    dcache.put("/p01/frames.h5", DATA, algorithms=("adler32", "md5"))
    sink = io.BytesIO()
    info = HttpResolver().fetch(dcache.url("/p01/frames.h5"), sink, progress=progress)
    assert sink.getvalue() == DATA
    assert info.size == len(DATA)
    assert info.checksums["md5"] == hashlib.md5(DATA).hexdigest()
    assert [(r.role, r.method) for r in dcache.log] == [("door", "GET"), ("pool", "GET")]
    assert "dcache-http-uuid=" in dcache.log[1].path
    assert dcache.log[1].headers["Want-Digest"]  # re-sent to the pool, which answers it
    assert progress.tasks == [("downloading frames.h5", len(DATA))]
    assert progress.advanced == len(DATA)


def test_token_goes_only_to_listed_hosts_and_not_to_the_pool() -> None:
    server = DcacheServer(token="s3cret-macaroon")
    try:
        server.put("/private.bin", DATA)
        url = server.url("/private.bin")
        with pytest.raises(DataError) as anonymous:
            HttpResolver().fetch(url, io.BytesIO(), progress=QUIET)
        assert "HTTP 401" in anonymous.value.message
        assert "PRESERVE_DATA_TOKEN" in (anonymous.value.hint or "")

        with pytest.raises(DataError) as unlisted:
            HttpResolver(token="s3cret-macaroon", token_hosts=["other.org"]).stat(url)
        assert "HTTP 401" in unlisted.value.message

        resolver = HttpResolver(token="s3cret-macaroon", token_hosts=["127.0.0.1"])
        sink = io.BytesIO()
        resolver.fetch(url, sink, progress=QUIET)
        assert sink.getvalue() == DATA
        door, pool = server.requests("door", "GET")[-1], server.requests("pool")[-1]
        assert door.headers["Authorization"] == "Bearer s3cret-macaroon"
        assert "Authorization" not in pool.headers  # dropped when the redirect leaves the host

        with pytest.raises(DataError) as wrong:
            HttpResolver(token="expired", token_hosts=["127.0.0.1"]).stat(url)
        assert "HTTP 403" in wrong.value.message
        assert "expired" not in wrong.value.message + (wrong.value.hint or "")
    finally:
        server.close()


def test_404_names_uri_status_and_says_the_data_moved(dcache: DcacheServer) -> None:
    url = dcache.url("/gone.h5")
    with pytest.raises(DataError) as err:
        HttpResolver().fetch(url, io.BytesIO(), progress=QUIET)
    assert url in err.value.message and "HTTP 404" in err.value.message
    assert "moved or was deleted" in (err.value.hint or "")


def test_credentials_in_the_uri_never_show_in_messages(dcache: DcacheServer) -> None:
    url = dcache.url("/gone.h5") + "?authz=MACAROON-SECRET"
    with pytest.raises(PreserveError) as err:
        HttpResolver().stat(url)
    assert "MACAROON-SECRET" not in err.value.diagnostics()
    assert "authz=***" in err.value.message


def test_403_hint_is_about_credentials(dcache: DcacheServer) -> None:
    dcache.put("/f.bin", DATA)
    dcache.fail_with("/f.bin", 403)
    with pytest.raises(DataError) as err:
        HttpResolver().stat(dcache.url("/f.bin"))
    assert "HTTP 403" in err.value.message
    assert "PRESERVE_DATA_TOKEN" in (err.value.hint or "")


def test_503_is_retried_then_reported(dcache: DcacheServer) -> None:
    dcache.put("/f.bin", DATA)
    dcache.fail_with("/f.bin", 503)
    with pytest.raises(DataError) as err:
        HttpResolver(retries=2).stat(dcache.url("/f.bin"))
    assert "HTTP 503" in err.value.message and "try again later" in (err.value.hint or "")
    assert len(dcache.requests("door", "HEAD")) == 3  # one try + two retries


def test_transient_503_recovers(dcache: DcacheServer) -> None:
    dcache.put("/f.bin", DATA)
    dcache.fail_with("/f.bin", 503, times=2)
    sink = io.BytesIO()
    HttpResolver(retries=2).fetch(dcache.url("/f.bin"), sink, progress=QUIET)
    assert sink.getvalue() == DATA


def test_broken_transfer_resumes_with_range(dcache: DcacheServer) -> None:
    dcache.put("/big.bin", DATA)
    dcache.drop_after = 2_500_000  # urllib3 drops a partial chunk: resume after whole ones
    sink = io.BytesIO()
    HttpResolver().fetch(dcache.url("/big.bin"), sink, progress=QUIET)
    assert sink.getvalue() == DATA
    pool = dcache.requests("pool")
    assert len(pool) == 2
    assert pool[1].headers["Range"] == f"bytes={2 * CHUNK}-"
    assert pool[1].headers["If-Range"] == dcache.files["/big.bin"].etag


def test_broken_transfer_of_a_changed_file_is_not_spliced(dcache: DcacheServer) -> None:
    dcache.put("/big.bin", DATA)
    dcache.drop_after = 1_000_000
    original = dcache.take_mover  # change the file between the two pool transfers

    def take_and_change(key: str) -> str | None:
        path = original(key)
        if len(dcache.requests("pool")) == 2:
            dcache.change("/big.bin", os.urandom(len(DATA)))
        return path

    dcache.take_mover = take_and_change  # type: ignore[method-assign]
    with pytest.raises(DataError) as err:
        HttpResolver().fetch(dcache.url("/big.bin"), io.BytesIO(), progress=QUIET)
    assert "could not be resumed" in err.value.message


def test_unreachable_host_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/f.bin"
    with pytest.raises(DataError) as err:
        HttpResolver(retries=1).stat(url)
    assert err.value.message.startswith(f"cannot reach {url}")
    assert "network" in (err.value.hint or "")


def test_directories_are_refused(dcache: DcacheServer) -> None:
    dcache.put("/p01/raw/frames.h5", DATA)
    with pytest.raises(DataError) as err:
        HttpResolver().stat(dcache.url("/p01/raw/"))
    assert "is a folder" in err.value.message and "only single files" in err.value.message


def test_stat_falls_back_to_get_headers_when_head_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(DATA)

    class NoHead(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def do_HEAD(self) -> None:
            self.send_error(405, "Method Not Allowed")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NoHead)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        info = HttpResolver().stat(f"{base}/f.bin")
        assert info.size == len(DATA) and info.last_modified is not None
        # A plain web server's directory listing (after its 301 to the trailing slash).
        (tmp_path / "raw").mkdir()
        with pytest.raises(DataError, match="is a folder"):
            HttpResolver().stat(f"{base}/raw")
    finally:
        server.shutdown()
        server.server_close()
