"""Transient failures: a flaky loopback proxy in front of the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.errors import RegistryError
from preserve.oci.refs import OciRef
from preserve.oci.registry import RegistryStore
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry
from tests.oci.conftest import make_crate, tree
from tests.oci.flaky_proxy import FlakyProxy

pytestmark = pytest.mark.registry


def fast_store(host: str, settings: Settings) -> RegistryStore:
    store = RegistryStore(host, settings)
    store.transport.http.backoff = 0.05  # keep the test quick; the schedule is still exponential
    return store


def test_push_and_pull_survive_transient_failures(
    registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    crate = make_crate(tmp_path / "c", big_folder_files=0, big_file=3_000_000)
    plan = ["503", "429", "reset", "503", "502"]  # five in a row: one short of giving up
    with FlakyProxy(registry.host, plan) as proxy:
        store = fast_store(proxy.host, settings)
        target = OciRef(proxy.host, "ocitest/flaky", tag="x")
        ref = store.push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
        assert proxy.failed == plan, "every planned failure was met and survived"
        proxy.plan.extend(["reset", "503", "429"])
        store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_failed_blob_upload_resumes_or_restarts(
    chunked: bool,
    registry: Registry,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from preserve.oci import registry_blobs

    if chunked:  # small sizes so a 3 MB blob goes in several PATCHes
        monkeypatch.setattr(registry_blobs, "MONOLITHIC_MAX", 1 << 20)
        monkeypatch.setattr(registry_blobs, "CHUNK_SIZE", 500_000)
        plan = ["PATCH:reset", "PATCH:503", "PATCH:reset", "PUT:reset"]
    else:
        plan = ["PUT:reset", "PUT:503", "PUT:reset"]
    crate = make_crate(tmp_path / "c", big_folder_files=0, big_file=3_000_000)
    with FlakyProxy(registry.host, plan) as proxy:
        store = fast_store(proxy.host, settings)
        target = OciRef(proxy.host, "ocitest/flaky-body", tag="x")
        ref = store.push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
        assert proxy.failed == plan
        if chunked:  # after a failed PATCH the upload status was asked for
            assert any(m == "GET" and "/blobs/uploads/" in p for m, p in proxy.log)
        store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)


def test_too_many_failures_end_in_a_clear_registry_error(
    registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    crate = make_crate(tmp_path / "c", big_folder_files=0)
    with FlakyProxy(registry.host, ["503"] * 100) as proxy:
        store = fast_store(proxy.host, settings)
        target = OciRef(proxy.host, "ocitest/down", tag="x")
        with pytest.raises(RegistryError) as err:
            store.push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
    message = err.value.message
    assert "HTTP 503 after 6 attempts" in message and proxy.host in message
    assert err.value.hint
    assert len(proxy.failed) == 6
