"""The shim in a real container, on every protocol: OpenWhisk's /init and /run, a
CloudEvent POST (binary and structured), OSCAR's $EVENT; each call on the same data
gives the same outputs and the same crate. The zipapp runs on the image's own python3
under ``-I -S`` (nothing outside the standard library), and an image without a usable
python3 is refused at deploy time, saying why."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from preserve.engine import docker_client
from preserve.errors import BuildError
from preserve.functions.deploy import find
from preserve.functions.image import probe, zipapp
from tests.functions.conftest import home_settings
from tests.servers.cloud_events import CloudEvent, binary, structured
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]
MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(upper: str, isolated_dirs: Path) -> Iterator[tuple[str, Any]]:
    """The function image of 'upper' as a platform would start it; its URL and container."""
    image = find(home_settings(isolated_dirs), upper).function_image_id
    port = _port()
    container = docker_client().containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={"PORT": str(port), "PRESERVE_SHIM_HOST": "127.0.0.1"},
        name=f"preserve-fn-functions-core-test-{port}",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", container
    finally:
        container.remove(force=True)


def _params(storage: DcacheServer, folder: str, mode: str) -> dict[str, Any]:
    return {
        "inputs": {"text": storage.url(f"{folder}/in.txt")},
        "output_to": storage.url(f"{folder}/{mode}/", "dav"),
    }


def _crate(storage: DcacheServer, prefix: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(storage.files[f"{prefix}ro-crate-metadata.json"].data)
    return {e["@id"]: e for e in doc["@graph"]}


def _shape(graph: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What must be the same whatever protocol brought the call."""
    files = {
        i: (e.get("sha256"), e.get("contentSize"))
        for i, e in graph.items()
        if e["@type"] == "File" and not i.startswith("logs/") and i != "preserve-run.json"
    }
    action = next(e for e in graph.values() if e["@type"] == "CreateAction")
    return {
        "files": files,
        "status": action["actionStatus"],
        "key": action["identifier"],
        "instrument": action["instrument"],
        "image": graph["#container-image"],
        "based_on": graph["./"]["isBasedOn"],
    }


def test_every_protocol_gives_the_same_outputs_and_crate(
    served: tuple[str, Any], storage: DcacheServer, folder: str, upper: str, isolated_dirs: Path
) -> None:
    url, container = served
    storage.put(f"{folder}/in.txt", b"same data")
    ok = requests.post(f"{url}/init", json={"value": {"name": "upper", "env": {}}}, timeout=30)
    assert ok.status_code == 200
    again = requests.post(f"{url}/init", json={"value": {}}, timeout=30)
    assert again.status_code == 403  # re-init is refused, as OpenWhisk's runtimes do
    run = requests.post(
        f"{url}/run",
        json={
            "value": _params(storage, folder, "whisk"),
            "activation_id": "a1",
            "deadline": str(int(time.time() * 1000) + 60000),
        },
        timeout=120,
    )
    assert run.status_code == 200, run.text
    whisk = run.json()
    assert whisk["status"] == "completed" and whisk["invocation_id"] == "a1"
    results = {"whisk": whisk}
    for mode, encode in (("binary", binary), ("structured", structured)):
        event = CloudEvent(
            type="org.dcache.closed", source="/test", data=_params(storage, folder, mode)
        )
        headers, body = encode(event)
        answer = requests.post(url, headers=headers, data=body, timeout=120)
        assert answer.status_code == 200, answer.text
        results[mode] = answer.json()
        assert _crate(storage, f"{folder}/{mode}/")["#trigger"]["identifier"] == event.id
    logs = container.logs(stdout=True, stderr=False).decode()
    assert MARKER in logs and MARKER in container.logs(stdout=False, stderr=True).decode()
    # OSCAR: the job's container gets the request body in $EVENT, and a TMP_OUTPUT_DIR.
    image = find(home_settings(isolated_dirs), upper).function_image_id
    out = docker_client().containers.run(
        image,
        ["oscar"],
        network_mode="host",
        environment={"EVENT": json.dumps(_params(storage, folder, "oscar")), "JOB_UUID": "job-1"},
        remove=True,
    )
    results["oscar"] = json.loads(out.decode().strip().splitlines()[-1])
    assert results["oscar"]["status"] == "completed"
    shapes = [_shape(_crate(storage, f"{folder}/{m}/")) for m in results]
    assert all(s == shapes[0] for s in shapes[1:])
    sums = [{k: v["sha256"] for k, v in r["outputs"].items()} for r in results.values()]
    assert all(s == sums[0] for s in sums) and set(sums[0]) == {"upper.txt", "count.json"}


def test_oscar_without_output_to_writes_into_tmp_output_dir(
    storage: DcacheServer, folder: str, upper: str, isolated_dirs: Path, tmp_path: Path
) -> None:
    storage.put(f"{folder}/in.txt", b"oscar data")
    image = find(home_settings(isolated_dirs), upper).function_image_id
    tmp_path.chmod(0o777)
    out = docker_client().containers.run(
        image,
        ["oscar"],
        network_mode="host",
        environment={
            "EVENT": json.dumps({"inputs": {"text": storage.url(f"{folder}/in.txt")}}),
            "TMP_OUTPUT_DIR": "/oscar-out",
        },
        volumes={str(tmp_path): {"bind": "/oscar-out", "mode": "rw"}},
        remove=True,
    )
    assert json.loads(out.decode().strip().splitlines()[-1])["status"] == "completed"
    assert (tmp_path / "outputs" / "upper.txt").read_bytes() == b"OSCAR DATAOSCAR DATA"
    assert (tmp_path / "ro-crate-metadata.json").is_file()


def test_the_zipapp_needs_nothing_but_the_standard_library(base_image: str) -> None:
    """Every module of the shim imports under ``python3 -I -S`` in the plain base image
    (no site-packages on the path: a third-party import would fail)."""
    data = zipapp()
    assert data == zipapp()  # reproducible, so the function image layer is too
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("shim.pyz")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client = docker_client()
    container = client.containers.create(
        base_image,
        [
            "python3",
            "-I",
            "-S",
            "-c",
            "import sys, pkgutil; sys.path.insert(0, '/tmp/shim.pyz'); import preserve.shim as s;"
            "names = [m.name for m in pkgutil.iter_modules(s.__path__)];"
            "[__import__('preserve.shim.' + n) for n in names];"
            "assert 'site' not in sys.modules, 'site imported';"
            "print(len(names), sorted(names))",
        ],
        network_mode="none",
    )
    try:
        container.put_archive("/tmp", buf.getvalue())
        container.start()
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs().decode()
        out = container.logs().decode()
    finally:
        container.remove(force=True)
    assert "server" in out and "invoke" in out and "crate" in out
    probe_out = client.containers.run(
        base_image, ["python3", "-I", "-S", "-c", "print(1)"], network_mode="none", remove=True
    )
    assert probe_out.strip() == b"1"


def test_an_image_without_python3_is_refused_saying_why(base_image: str) -> None:
    client = docker_client()
    dockerfile = f"FROM {base_image}\nRUN rm -f /usr/bin/python3 /usr/bin/python3.*\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    buf.seek(0)
    tag = "preserve-test-functions-core/no-python:1"
    client.images.build(fileobj=buf, custom_context=True, tag=tag, network_mode="none", rm=True)
    try:
        with pytest.raises(BuildError) as err:
            probe(tag, "10.5072/preserve.nopython")
        # The probe's container, which could not start, is not left behind.
        assert not client.containers.list(all=True, filters={"ancestor": tag})
    finally:
        client.images.remove(tag, force=True)
    assert "cannot deploy 10.5072/preserve.nopython" in err.value.message
    assert "no python3 on its PATH" in err.value.message
    assert "python3 (>= 3.8)" in str(err.value.hint)


def test_a_raw_dcache_event_is_bound_and_lands_in_the_default_folder(
    upper_doi: str, storage: DcacheServer, folder: str, isolated_dirs: Path
) -> None:
    """Deployed with --event-base and --output-to: dCache's SSE ``data`` becomes a call on
    the new file; the same event delivered twice runs once (same key, same folder)."""
    from preserve.functions.definition import EventBinding
    from preserve.functions.deploy import deploy, undeploy
    from preserve.targets.local import HOME_LABEL, _port

    settings = home_settings(isolated_dirs)
    events = EventBinding(
        base=storage.url(f"{folder}/incoming/"), output_to=storage.url(f"{folder}/auto/", "dav")
    )
    name = f"upper-events-{folder[3:9]}"
    deployed = deploy(upper_doi, to="local", name=name, settings=settings, events=events)
    try:
        container = docker_client().containers.get(deployed.deployment.endpoint_id)
        url = f"http://127.0.0.1:{_port(container)}/"
        storage.put(f"{folder}/incoming/scan 7.txt", b"event data")
        event = {
            "event": {"name": "scan 7.txt", "mask": ["IN_CLOSE_WRITE"]},
            "subscription": f"{storage.api}/events/channels/C1/subscriptions/inotify/S1",
        }
        first = requests.post(url, json=event, timeout=120).json()
        again = requests.post(url, json=event, timeout=120).json()
    finally:
        undeploy(name, settings=settings)
    # The warm container is this home's (the label a session's clean-up looks for) and
    # undeploy removed it.
    assert container.labels[HOME_LABEL] == str(settings.data_dir.resolve())
    assert not docker_client().containers.list(all=True, filters={"name": container.name})
    assert first["status"] == "completed" and again["cached"] is True
    assert first["crate"] == storage.url(f"{folder}/auto/{first['key'][:20]}/", "dav")
    graph = _crate(storage, f"{folder}/auto/{first['key'][:20]}/")
    assert storage.url(f"{folder}/incoming/scan 7.txt") in graph  # URL-quoted once
    assert graph["#trigger"]["name"].startswith("storage-event")
