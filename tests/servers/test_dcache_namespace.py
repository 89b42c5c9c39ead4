"""The dCache test server's namespace API: metadata with checksums, listings with
pagination, the mkdir/mv actions, deletes, and who may read or write."""

from __future__ import annotations

import hashlib
import zlib

import requests

from tests.servers.dcache import DcacheServer
from tests.servers.sse import SseReader

DATA = b"0123456789" * 100


def test_file_metadata_with_checksums(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.put("/raw/scan.h5", DATA, algorithms=("adler32", "md5"))
    params = {"checksum": "true", "locality": "true", "qos": "true", "xattr": "true"}
    doc = ada.get(f"{dcache.api}/namespace/raw/scan.h5", params=params, timeout=5).json()
    assert doc["fileType"] == "REGULAR" and doc["size"] == len(DATA)
    assert doc["pnfsId"] == dcache.files["/raw/scan.h5"].pnfsid
    assert doc["checksums"] == [
        {"type": "ADLER32", "value": f"{zlib.adler32(DATA):08x}"},
        {"type": "MD5_TYPE", "value": hashlib.md5(DATA).hexdigest()},
    ]
    assert (doc["fileLocality"], doc["currentQoS"], doc["extendedAttributes"]) == (
        "ONLINE",
        "disk",
        {},
    )
    plain = ada.get(f"{dcache.api}/namespace/raw/scan.h5", timeout=5).json()
    assert "checksums" not in plain and "fileLocality" not in plain
    missing = ada.get(f"{dcache.api}/namespace/raw/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.json() == {"errors": [{"message": "Not Found", "status": "404"}]}


def test_listing_paginates(dcache: DcacheServer, ada: requests.Session) -> None:
    for i in range(5):
        dcache.put(f"/raw/f{i}.h5", DATA)
    dcache.mkdir("/raw/sub")
    url = f"{dcache.api}/namespace/raw"
    doc = ada.get(url, params={"children": "true", "checksum": "true"}, timeout=5).json()
    assert doc["fileType"] == "DIR"
    names = [c["fileName"] for c in doc["children"]]
    assert names == ["f0.h5", "f1.h5", "f2.h5", "f3.h5", "f4.h5", "sub"]
    assert doc["children"][0]["checksums"][0]["type"] == "ADLER32"
    page = ada.get(url, params={"children": "true", "offset": 2, "limit": 2}, timeout=5).json()
    assert [c["fileName"] for c in page["children"]] == ["f2.h5", "f3.h5"]
    assert ada.get(url, params={"children": "true", "limit": -1}, timeout=5).status_code == 400
    assert ada.get(url, params={"children": "true", "limit": "x"}, timeout=5).status_code == 400


def test_mkdir_and_mv_actions_emit_events(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.mkdir("/in", events=False)
    channel = ada.post(f"{dcache.api}/events/channels", timeout=5).headers["Location"]
    reader = SseReader(channel, ada)
    ada.post(f"{channel}/subscriptions/inotify", json={"path": "/in"}, timeout=5)
    reader.take(1)
    ns = f"{dcache.api}/namespace"
    made = ada.post(f"{ns}/in", json={"action": "mkdir", "name": "run1"}, timeout=5)
    assert made.status_code == 201 and made.json() == {"status": "success"}
    again = ada.post(f"{ns}/in", json={"action": "mkdir", "name": "run1"}, timeout=5)
    assert again.status_code == 400
    dcache.put("/in/run1.tmp", DATA)
    moved = ada.post(f"{ns}/in/run1.tmp", json={"action": "mv", "destination": "run1.h5"})
    assert moved.status_code == 201 and "/in/run1.h5" in dcache.files
    events = [e.json()["event"] for e in reader.take(3)]
    assert events[0] == {"name": "run1", "mask": ["IN_CREATE", "IN_ISDIR"]}
    assert [(e["name"], e["mask"]) for e in events[1:]] == [
        ("run1.tmp", ["IN_MOVED_FROM"]),
        ("run1.h5", ["IN_MOVED_TO"]),
    ]
    unknown = ada.post(f"{ns}/in", json={"action": "frobnicate"}, timeout=5)
    assert unknown.status_code == 400
    reader.close()


def test_delete_refuses_non_empty_directories(dcache: DcacheServer, ada: requests.Session) -> None:
    dcache.put("/d/f", DATA)
    ns = f"{dcache.api}/namespace"
    assert ada.delete(f"{ns}/d", timeout=5).status_code == 400
    assert ada.delete(f"{ns}/d/f", timeout=5).json() == {"status": "success"}
    assert ada.delete(f"{ns}/d", timeout=5).status_code == 200
    assert "/d" not in dcache.dirs


def test_anonymous_users_read_an_open_server_and_never_write() -> None:
    open_server = DcacheServer()
    try:
        open_server.put("/f", DATA)
        ns = f"{open_server.api}/namespace"
        assert requests.get(f"{ns}/f", timeout=5).status_code == 200
        mkdir = requests.post(f"{ns}/", json={"action": "mkdir", "name": "x"}, timeout=5)
        assert mkdir.status_code == 401
        assert requests.delete(f"{ns}/f", timeout=5).status_code == 401
    finally:
        open_server.close()


def test_a_protected_server_wants_credentials(dcache: DcacheServer) -> None:
    dcache.put("/f", DATA)
    assert requests.get(f"{dcache.api}/namespace/f", timeout=5).status_code == 401
    wrong = requests.get(f"{dcache.api}/namespace/f", auth=("ada", "x"), timeout=5)
    assert wrong.status_code == 401
