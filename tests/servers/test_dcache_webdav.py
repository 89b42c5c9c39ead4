"""The dCache test server's WebDAV writes: PUT (digests, Content-MD5, overwrite), MKCOL,
DELETE, MOVE, and its authorisation (Basic, bearer, macaroons), with a real HTTP client."""

from __future__ import annotations

import base64
import hashlib
import zlib

import requests

from tests.servers.dcache import DcacheServer

DATA = b"detector frame " * 1000


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_put_creates_parents_and_answers_the_digest_asked_for(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    url = dcache.url("/beamtime/raw/scan1.h5")
    resp = ada.put(url, data=DATA, headers={"Want-Digest": "adler32"}, timeout=5)
    assert resp.status_code == 201
    assert resp.headers["Digest"] == f"adler32={zlib.adler32(DATA):08x}"
    assert resp.headers["ETag"] == dcache.files["/beamtime/raw/scan1.h5"].etag
    assert {"/beamtime", "/beamtime/raw"} <= dcache.dirs
    # md5 was not asked for at upload, so dCache never computed it
    head = ada.head(url, headers={"Want-Digest": "md5"}, timeout=5)
    assert head.status_code == 200 and "Digest" not in head.headers
    assert int(head.headers["Content-Length"]) == len(DATA)


def test_want_digest_on_put_makes_dcache_store_that_checksum(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    url = dcache.url("/f.bin")
    resp = ada.put(url, data=DATA, headers={"Want-Digest": "md5"}, timeout=5)
    assert resp.headers["Digest"] == f"md5={md5_b64(DATA)}"
    head = ada.head(url, headers={"Want-Digest": "md5,adler32;q=0.5"}, timeout=5)
    assert head.headers["Digest"] == f"md5={md5_b64(DATA)},adler32={zlib.adler32(DATA):08x}"
    got = ada.get(url, timeout=5)  # via the pool, as a download
    assert got.content == DATA and got.history[0].status_code == 307


def test_content_md5_rejects_a_corrupt_upload_and_keeps_nothing(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    url = dcache.url("/in/corrupt.bin")
    wrong = md5_b64(b"something else")
    resp = ada.put(url, data=DATA, headers={"Content-MD5": wrong}, timeout=5)
    assert resp.status_code == 400
    assert resp.reason.startswith("Checksum mismatch (expected=[2:")
    assert f"1:{zlib.adler32(DATA):08x}" in resp.reason
    assert ada.head(url, timeout=5).status_code == 404
    bad = ada.put(url, data=DATA, headers={"Content-MD5": "not base64!"}, timeout=5)
    assert bad.status_code == 400 and "Bad Content-MD5" in bad.reason
    good = ada.put(url, data=DATA, headers={"Content-MD5": md5_b64(DATA)}, timeout=5)
    assert good.status_code == 201
    assert dcache.files["/in/corrupt.bin"].checksums["md5"] == hashlib.md5(DATA).digest()


def test_overwrite_follows_the_door_setting(dcache: DcacheServer, ada: requests.Session) -> None:
    url = dcache.url("/f.txt")
    assert ada.put(url, data=b"one", timeout=5).status_code == 201
    assert ada.put(url, data=b"two", timeout=5).status_code == 201  # dCache's default
    assert dcache.files["/f.txt"].data == b"two"
    dcache.overwrite = False
    assert ada.put(url, data=b"three", timeout=5).status_code == 409
    assert dcache.files["/f.txt"].data == b"two"


def test_put_refuses_collections_and_files_as_parents(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    dcache.mkdir("/dir")
    dcache.put("/file", b"x")
    assert ada.put(dcache.url("/dir"), data=b"x", timeout=5).status_code == 405
    assert ada.put(dcache.url("/file/below"), data=b"x", timeout=5).status_code == 409


def test_mkcol(dcache: DcacheServer, ada: requests.Session) -> None:
    assert ada.request("MKCOL", dcache.url("/a"), timeout=5).status_code == 201
    assert ada.request("MKCOL", dcache.url("/a"), timeout=5).status_code == 405
    assert ada.request("MKCOL", dcache.url("/x/y"), timeout=5).status_code == 409
    assert "/a" in dcache.dirs and "/x" not in dcache.dirs


def test_delete_files_and_collections(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.put("/d/sub/f1", b"1")
    dcache.put("/d/f2", b"2")
    assert ada.delete(dcache.url("/d/f2"), timeout=5).status_code == 204
    assert ada.delete(dcache.url("/d/f2"), timeout=5).status_code == 404
    assert ada.delete(dcache.url("/d"), timeout=5).status_code == 204  # recursively
    assert not [p for p in dcache.entries if p.startswith("/d")]


def test_move_renames_into_place(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.put("/in/.upload.part", DATA)
    dcache.put("/in/old", b"old")
    dest = {"Destination": dcache.url("/in/scan.h5")}
    assert ada.request("MOVE", dcache.url("/in/.upload.part"), headers=dest).status_code == 201
    assert dcache.files["/in/scan.h5"].data == DATA and "/in/.upload.part" not in dcache.files
    keep = {"Destination": dcache.url("/in/old"), "Overwrite": "F"}
    assert ada.request("MOVE", dcache.url("/in/scan.h5"), headers=keep).status_code == 412
    replace = {"Destination": dcache.url("/in/old")}
    assert ada.request("MOVE", dcache.url("/in/scan.h5"), headers=replace).status_code == 204
    assert dcache.files["/in/old"].data == DATA
    nowhere = {"Destination": dcache.url("/missing/x")}
    assert ada.request("MOVE", dcache.url("/in/old"), headers=nowhere).status_code == 409
    assert ada.request("MOVE", dcache.url("/in/gone"), headers=replace).status_code == 404


def test_credentials_are_required_and_checked(dcache: DcacheServer) -> None:
    url = dcache.url("/f")
    anonymous = requests.put(url, data=b"x", timeout=5)
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert requests.put(url, data=b"x", auth=("ada", "wrong"), timeout=5).status_code == 401
    assert requests.put(url, data=b"x", auth=("ada", "lovelace"), timeout=5).status_code == 201
    bearer = DcacheServer(token="t0k3n")
    try:
        ok = requests.head(bearer.url("/"), headers={"Authorization": "Bearer t0k3n"}, timeout=5)
        assert ok.status_code == 200
        assert requests.head(bearer.url("/") + "?authz=nope", timeout=5).status_code == 403
    finally:
        bearer.close()


def test_macaroons_are_bound_to_path_activity_and_validity(
    dcache: DcacheServer, ada: requests.Session
) -> None:
    dcache.put("/data/run1/f.bin", DATA)
    dcache.put("/other/g.bin", DATA)
    request = {"caveats": ["activity:DOWNLOAD,LIST", "path:/data"], "validity": "PT1H"}
    headers = {"Content-Type": "application/macaroon-request"}
    resp = ada.post(dcache.url("/data"), json=request, headers=headers, timeout=5)
    assert resp.status_code == 200
    macaroon = resp.json()["macaroon"]
    assert resp.json()["uri"]["targetWithMacaroon"].endswith(f"?authz={macaroon}")
    with requests.Session() as anonymous:
        got = anonymous.get(dcache.url("/data/run1/f.bin") + f"?authz={macaroon}", timeout=5)
        assert got.status_code == 200 and got.content == DATA
        auth = {"Authorization": f"Bearer {macaroon}"}
        assert anonymous.get(dcache.url("/other/g.bin"), headers=auth).status_code == 403
        upload = anonymous.put(dcache.url("/data/new"), data=b"x", headers=auth, timeout=5)
        assert upload.status_code == 403  # no UPLOAD activity
        denied = anonymous.post(dcache.url("/data"), json=request, headers=headers, timeout=5)
        assert denied.status_code == 401  # anonymous users get no macaroon
    expired = {"caveats": ["path:/data"], "validity": "PT0S"}
    token = ada.post(dcache.url("/"), json=expired, headers=headers, timeout=5).json()["macaroon"]
    late = requests.head(dcache.url("/data/run1/f.bin") + f"?authz={token}", timeout=5)
    assert late.status_code == 403
