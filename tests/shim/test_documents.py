"""The parameters document, raw storage events and CloudEvents (binary, structured), as
every protocol of the shim reads them; built with the CloudEvents test helper."""

from __future__ import annotations

from typing import Any

import pytest

from preserve.shim.documents import ShimError, cloudevent, parameters
from tests.servers.cloud_events import CloudEvent, binary, structured

SPEC: dict[str, Any] = {
    "inputs": {"frames": {"remote": True}, "mask": {"remote": False}},
    "events": {
        "input": None,
        "base": "davs://dcache.example.org/data/incoming/",
        "output_to": None,
    },
}
PARAMS = {"inputs": {"frames": "davs://d.example.org/x.h5"}, "output_to": "davs://d/out/"}


def test_parameters_are_checked_against_the_function() -> None:
    params = parameters({**PARAMS, "config": {"bins": 10}}, SPEC)
    assert params.inputs == {"frames": "davs://d.example.org/x.h5"}
    assert params.output_to == "davs://d/out/" and params.config == {"bins": 10}
    for bad, words in [
        ({"inputs": {"nope": "x://y"}}, "no input named nope"),
        ({"inputs": {"frames": 3}}, "map input names to URIs"),
        ({"inputs": {}, "data": "AAAA"}, "unknown parameter(s) data"),
        ({"inputs": {}, "config": [1]}, "config must be a JSON object"),
        ([1, 2], "not a JSON object"),
    ]:
        with pytest.raises(ShimError, match=words.replace("(", r"\(").replace(")", r"\)")) as err:
            parameters(bad, SPEC)
        assert err.value.status == 400


def test_a_dcache_event_is_bound_to_the_only_remote_input() -> None:
    event = {
        "event": {"name": "scan 43.h5", "mask": ["IN_CLOSE_WRITE"]},
        "subscription": "https://d:3880/api/v1/events/channels/C/subscriptions/inotify/S",
    }
    params = parameters(event, SPEC)
    assert params.inputs == {"frames": "davs://dcache.example.org/data/incoming/scan%2043.h5"}
    with pytest.raises(ShimError, match="names no file"):
        parameters({**event, "event": {"name": "../etc/passwd"}}, SPEC)


def test_an_s3_notification_is_bound_to_the_named_input() -> None:
    spec = {**SPEC, "events": {"input": "mask", "base": "https://minio.example.org:9000"}}
    note = {
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {"bucket": {"name": "beam"}, "object": {"key": "run+1/m.h5"}},
            }
        ]
    }
    assert parameters(note, spec).inputs == {
        "mask": "https://minio.example.org:9000/beam/run%201/m.h5"
    }


def test_a_storage_event_without_a_base_says_how_to_deploy() -> None:
    spec = {**SPEC, "events": {}}
    with pytest.raises(ShimError, match="without the storage base URI") as err:
        parameters({"event": {"name": "a.h5"}, "subscription": "s"}, spec)
    assert "--event-base" in str(err.value.hint)
    two = {"inputs": {"a": {"remote": True}, "b": {"remote": True}}, "events": {"base": "x://"}}
    with pytest.raises(ShimError, match="cannot be bound") as err:
        parameters({"event": {"name": "a.h5"}, "subscription": "s"}, two)
    assert "--event-input" in str(err.value.hint)


@pytest.mark.parametrize("mode", [binary, structured])
def test_cloudevents_carry_parameters_and_name_the_trigger(mode: Any) -> None:
    event = CloudEvent(
        type="org.dcache.file.closed", source="/dcache/p21", data=PARAMS, subject="x 1.h5"
    )
    headers, body = mode(event)
    found = cloudevent(headers, body)
    assert found is not None
    data, trigger = found
    assert data == PARAMS
    assert trigger.kind == "cloudevent"
    assert trigger.attributes["id"] == event.id and trigger.attributes["subject"] == "x 1.h5"
    assert trigger.attributes["source"] == "/dcache/p21"


def test_a_cloudevent_without_required_attributes_is_refused() -> None:
    with pytest.raises(ShimError, match="lacks ce-source"):
        cloudevent({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"}, b"{}")
    assert cloudevent({"Content-Type": "application/json"}, b"{}") is None
    with pytest.raises(ShimError, match="larger than 1 MiB") as err:
        cloudevent({"Content-Type": "application/cloudevents+json"}, b" " * (2 << 20))
    assert err.value.status == 413
