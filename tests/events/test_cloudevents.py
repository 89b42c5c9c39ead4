"""CloudEvents over HTTP end to end: binary, structured and batch requests are answered 200
only once journalled, duplicates with new ids collapse, a full queue answers 429 with
Retry-After, and what is not a CloudEvent is refused saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from preserve.settings import Settings
from tests.conftest import free_port
from tests.events.fixtures import crate_graph, wait_for, watching
from tests.servers.cloud_events import CloudEvent, batch, binary, structured
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def post(url: str, request: tuple[dict[str, str], bytes]) -> requests.Response:
    headers, body = request
    return requests.post(url, data=body, headers=headers, timeout=30)


def test_binary_structured_and_batch_events_run_once_each(
    watcher: Settings,
    events_dcache: DcacheServer,
    folder: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("a", "b", "c"):
        events_dcache.put(f"{folder}/in/{name}.txt", f"cloud {name}".encode(), events=False)
    uri = {n: events_dcache.url(f"{folder}/in/{n}.txt") for n in ("a", "b", "c", "d")}
    port = free_port()
    door = f"127.0.0.1:{events_dcache.door.port}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"""
rules:
  - name: upper-ce
    on:
      source: cloudevents+http://127.0.0.1:{port}
      path: "http://{door}{folder}/in/*.txt"
      events: [org.example.file.written]
    run: {{function: upper-ev, outputs: "dav://{door}{folder}/out/{{stem}}/"}}
"""
    )
    journal = tmp_path / "journal.sqlite"
    url = f"http://127.0.0.1:{port}/"
    kind = "org.example.file.written"
    monkeypatch.setenv("PRESERVE_SOURCES_CLOUDEVENTS_MAX_BACKLOG", "3")
    with watching(rules, Settings.load(), journal):
        wait_for_receiver(url)
        answer = post(url, binary(CloudEvent(kind, "/beamline/p21", {"uri": uri["a"]}, id="1")))
        assert answer.status_code == 200 and answer.json() == {"accepted": 1}
        structured_one = CloudEvent(kind, "/beamline/p21", None, id="2", subject=uri["b"])
        assert post(url, structured(structured_one)).status_code == 200
        wait_for(journal, 2)
        many = [
            CloudEvent(kind, "/beamline/p21", {"uri": uri["c"]}, id="3"),
            CloudEvent(kind, "/relay", {"uri": uri["a"]}, id="another id, same file"),
            CloudEvent(kind, "/beamline/p21", {"uri": uri["d"].replace(".txt", ".dat")}),
            CloudEvent("org.example.other", "/beamline/p21", {"uri": uri["c"]}),
        ]
        answer = post(url, batch(many))
        assert answer.status_code == 200 and answer.json() == {"accepted": 4}
        rows = wait_for(journal, 3)

        full = post(url, batch([CloudEvent(kind, "/b", {"uri": uri["c"]})] * 4))
        assert full.status_code == 429 and full.headers["Retry-After"] == "5"
        refused = requests.post(url, json={"inputs": {}}, timeout=30)
        assert refused.status_code == 400 and "not a CloudEvent" in refused.json()["error"]
        nameless = post(url, binary(CloudEvent(kind, "/b", {"size": 1})))
        assert nameless.status_code == 400 and "names no file" in nameless.json()["error"]
    assert sorted(r["uri"] for r in rows) == [uri["a"], uri["b"], uri["c"]]
    assert {r["state"] for r in rows} == {"succeeded"}
    a = next(r for r in rows if r["uri"] == uri["a"])
    assert a["deliveries"] == 2  # the second, with another id, collapsed into the first
    meta = events_dcache.files[f"{folder}/out/a/ro-crate-metadata.json"].data
    trigger = crate_graph(meta)["#trigger"]
    assert trigger["name"] == f"cloudevent {kind}" and trigger["identifier"] == "1"
    assert "source /beamline/p21" in str(trigger["description"])
    out = events_dcache.files[f"{folder}/out/b/outputs/upper.txt"].data
    assert out == b"CLOUD B" * 2
    assert json.loads(events_dcache.files[f"{folder}/out/c/outputs/count.json"].data) == {
        "chars": 7
    }


def wait_for_receiver(url: str) -> None:
    import time

    for _ in range(300):
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answers at {url}")
