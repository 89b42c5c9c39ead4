"""One call of the shim, in-process, against the dCache test server: staged and
verified inputs, outputs PUT with their checksums, the crate last, the key, and
every failure leaving a crate marked failed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from preserve.shim.documents import Parameters, Trigger
from preserve.shim.invoke import Context, call
from tests.servers.dcache import DcacheServer

FAILED = "http://schema.org/FailedActionStatus"


def crate_of(dcache: DcacheServer, folder: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(dcache.files[f"{folder}ro-crate-metadata.json"].data)
    return {e["@id"]: e for e in doc["@graph"]}


def action_of(graph: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in graph.values() if e["@type"] == "CreateAction")


def run(shim: Context, dcache: DcacheServer, text: bytes, folder: str = "/out/1/", **kw: Any):  # type: ignore[no-untyped-def]
    dcache.put("/data/in.txt", text)
    params = Parameters(
        {"text": dcache.url("/data/in.txt")}, dcache.url(folder, "dav"), kw.pop("config", {})
    )
    return call(shim, params, invocation_id=kw.pop("invocation_id", "inv-1"), **kw)


def test_a_call_stages_runs_uploads_and_writes_its_crate(
    shim: Context, dcache: DcacheServer
) -> None:
    trigger = Trigger("cloudevent", {"id": "e-1", "source": "/dcache", "type": "new.file"})
    result = run(shim, dcache, b"hello", trigger=trigger)
    assert result["status"] == "completed", result
    upper = dcache.files["/out/1/outputs/upper.txt"].data
    assert upper == b"HELLOHELLO"
    assert result["outputs"]["upper.txt"] == {
        "uri": dcache.url("/out/1/outputs/upper.txt", "dav"),
        "sha256": hashlib.sha256(upper).hexdigest(),
        "size": 10,
    }
    assert result["crate"] == dcache.url("/out/1/", "dav")
    puts = [r for r in dcache.requests("door", "PUT")]
    assert all("content-md5" in {h.lower() for h in r.headers} for r in puts)
    assert puts[-1].path.endswith("/ro-crate-metadata.json")  # the crate last
    graph = crate_of(dcache, "/out/1/")
    action = action_of(graph)
    assert action["identifier"] == result["key"]
    assert action["actionStatus"] == "http://schema.org/CompletedActionStatus"
    assert action["instrument"] == {"@id": "#analysis-code"}
    assert action["containerImage"] == {"@id": "#container-image"}
    source = graph[dcache.url("/data/in.txt")]
    assert source["sha256"] == hashlib.sha256(b"hello").hexdigest()
    assert graph[source["additionalProperty"]["@id"]]["propertyID"] == "adler32"
    assert graph["./"]["isBasedOn"] == {"@id": "https://doi.org/10.5072/preserve.test"}
    assert graph["#trigger"]["identifier"] == "e-1"
    # The withheld value reached the command, and no log or crate shows it.
    stdout = dcache.files["/out/1/logs/stdout.txt"].data
    assert b"tok-ABCDEFGH123456" not in stdout and b"<withheld by preserve>" in stdout
    assert graph["#env-API_TOKEN"]["value"] == "<withheld by preserve>"
    recipe = json.loads(dcache.files["/out/1/preserve-run.json"].data)
    assert recipe["inputs"]["text"] == {
        "entity": dcache.url("/data/in.txt"),
        "mount": shim.spec["inputs"]["text"]["mount"],
        "remote": True,
    }


def test_the_same_call_again_is_answered_from_its_crate(
    shim: Context, dcache: DcacheServer
) -> None:
    def reads() -> int:
        return len([r for r in dcache.requests("pool", "GET") if r.path.startswith("/data/")])

    first = run(shim, dcache, b"hello")
    assert reads() == 1
    again = run(shim, dcache, b"hello", invocation_id="inv-2")
    assert again["cached"] is True and again["key"] == first["key"]
    assert again["outputs"] == first["outputs"]
    assert reads() == 1  # the input was not read again


def test_other_data_at_the_same_output_folder_is_refused(
    shim: Context, dcache: DcacheServer
) -> None:
    assert run(shim, dcache, b"hello")["status"] == "completed"
    refused = run(shim, dcache, b"other", invocation_id="inv-2")
    assert refused["status"] == "failed"
    assert "already holds the crate of another invocation" in refused["error"]
    assert action_of(crate_of(dcache, "/out/1/"))["actionStatus"].endswith(
        "Completed" + "ActionStatus"
    )


def test_config_overrides_are_merged_and_change_the_key(
    shim: Context, dcache: DcacheServer
) -> None:
    plain = run(shim, dcache, b"ab")
    more = run(shim, dcache, b"ab", folder="/out/2/", config={"repeat": 3})
    assert more["status"] == "completed" and more["key"] != plain["key"]
    assert dcache.files["/out/2/outputs/upper.txt"].data == b"ABABAB"
    used = json.loads(dcache.files["/out/2/analysis/config.json"].data)
    assert used == {"repeat": 3, "unit": "m"}


def _failed(shim: Context, dcache: DcacheServer, text: bytes, **kw: Any) -> dict[str, Any]:
    result = run(shim, dcache, text, **kw)
    assert result["status"] == "failed" and result["outputs"] == {}
    action = action_of(crate_of(dcache, "/out/1/"))
    assert action["actionStatus"] == FAILED and action["error"] == result["error"]
    assert "result" not in action  # nothing is reported as an output
    return result


def test_a_crash_is_a_failed_crate_with_the_stderr_tail(
    shim: Context, dcache: DcacheServer
) -> None:
    result = _failed(shim, dcache, b"crash")
    assert "exited with code 7" in result["error"] and "bad calibration" in result["error"]
    assert b"bad calibration" in dcache.files["/out/1/logs/stderr.txt"].data


def test_a_timeout_stops_the_command(shim: Context, dcache: DcacheServer) -> None:
    result = _failed(shim, dcache, b"sleep 30", timeout=2)
    assert "time limit" in result["error"]


def test_no_output_is_a_failure(shim: Context, dcache: DcacheServer) -> None:
    result = _failed(shim, dcache, b"nothing")
    assert "wrote no upper.txt, count.json" in result["error"]
    assert not [p for p in dcache.files if p.startswith("/out/1/outputs/")]


def test_a_corrupted_transfer_is_refused_before_running(
    shim: Context, dcache: DcacheServer
) -> None:
    dcache.corrupt = True
    result = _failed(shim, dcache, b"hello")
    assert "does not match" in result["error"] and "adler32" in result["error"]
    assert not (
        shim.path("cache", "sha256")
        and any(name for name in __import__("os").listdir(shim.path("cache", "sha256")))
    )  # nothing unverified was kept


def test_storage_that_refuses_the_function_is_a_failure(shim: Context) -> None:
    from tests.servers.conftest import serving

    with serving(DcacheServer(token="right")) as locked:
        locked.put("/data/in.txt", b"x")
        params = Parameters({"text": locked.url("/data/in.txt")}, "file:///nonexistent-dir/x/")
        result = call(shim, params, invocation_id="inv-1")
    assert result["status"] == "failed" and "HTTP 401" in result["error"]
    assert "PRESERVE_DATA_TOKEN" in result["error"]


def test_file_uris_only_in_the_folders_the_function_was_given(shim: Context, tmp_path: Any) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("local data")
    shim.client.file_roots = (str(shared),)
    inside = Parameters({"text": (shared / "in.txt").as_uri()}, (shared / "out").as_uri() + "/")
    result = call(shim, inside, invocation_id="inv-1")
    assert result["status"] == "completed", result
    assert (shared / "out" / "outputs" / "upper.txt").read_text() == "LOCAL DATALOCAL DATA"
    graph = {
        e["@id"]: e
        for e in json.loads((shared / "out" / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert (
        graph[(shared / "in.txt").as_uri()]["sha256"] == hashlib.sha256(b"local data").hexdigest()
    )
    (tmp_path / "secret.txt").write_text("not yours")
    link = shared / "link.txt"
    link.symlink_to(tmp_path / "secret.txt")  # a link out of the shared folder
    for uri in ("file:///etc/passwd", link.as_uri()):
        outside = Parameters({"text": uri}, (shared / "out2").as_uri() + "/")
        refused = call(shim, outside, invocation_id="inv-2")
        assert refused["status"] == "failed" and "outside the folders" in refused["error"]
