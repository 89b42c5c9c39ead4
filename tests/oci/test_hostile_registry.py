"""A registry is untrusted: what it sends is bounded, read once, and refused clearly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.errors import CrateError, IntegrityError, RegistryError
from preserve.oci.artifact import EMPTY_BLOB, EMPTY_DESCRIPTOR, canonical_json
from preserve.oci.digests import sha256_bytes
from preserve.oci.refs import OciRef
from preserve.oci.registry import MAX_REFERRER_PAGES, RegistryStore
from preserve.oci.stores import CRATE_ARTIFACT_TYPE, MANIFEST_MEDIA_TYPE, TITLE
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry
from tests.oci.conftest import make_crate, tree
from tests.servers.hostile_registry import HOSTILE_SENT_LIMIT, HostileRegistry

pytestmark = pytest.mark.registry

MANIFEST_GET = r"/manifests/"


@pytest.fixture
def hostile(registry: Registry) -> Iterator[HostileRegistry]:
    with HostileRegistry(registry.host) as proxy:
        yield proxy


def store_for(proxy: HostileRegistry, **network: float) -> RegistryStore:
    values = {"read_timeout": 5.0, **network}
    store = RegistryStore(proxy.host, Settings.load(overrides={"network": values}))
    store.transport.http.backoff = 0.01  # the retry schedule is kept, without the waiting
    return store


def by_tag(ref: OciRef) -> OciRef:
    return OciRef(ref.registry, ref.repository, tag="v1")


def pushed(proxy: HostileRegistry, tmp_path: Path, repo: str, attack: str | None = None) -> OciRef:
    """Push a crate honestly; then turn on ``attack`` and forget the requests so far."""
    crate = make_crate(tmp_path / "crate", big_folder_files=0)
    target = OciRef(proxy.host, repo, tag="v1")
    ref = store_for(proxy).push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
    proxy.attack = attack
    proxy.log.clear()
    return ref


def test_an_honest_pull_reads_the_manifest_once(hostile: HostileRegistry, tmp_path: Path) -> None:
    ref = pushed(hostile, tmp_path, "hostile/honest")
    store = store_for(hostile)
    assert store.resolve(by_tag(ref)) == ref.digest
    store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(tmp_path / "crate")
    assert len(hostile.requests("GET", MANIFEST_GET)) == 1  # by digest: never fetched twice


@pytest.mark.parametrize("attack", ["huge-manifest", "huge-manifest-chunked", "gzip-bomb"])
def test_an_oversized_manifest_is_refused_after_at_most_4_mib(
    hostile: HostileRegistry, tmp_path: Path, attack: str
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/huge", attack)
    with pytest.raises(RegistryError) as err:
        store_for(hostile).pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert f"the manifest of {ref} is too large" in err.value.message
    assert "4 MiB" in (err.value.hint or "")
    assert len(hostile.requests("GET", MANIFEST_GET)) == 1  # refused once, not retried
    assert hostile.sent < HOSTILE_SENT_LIMIT  # of 400 MiB (or 256 MiB inflated)
    assert not (tmp_path / "out").exists()


def test_a_manifest_head_claiming_400_mib_is_refused_without_a_get(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/head", "huge-head")
    with pytest.raises(RegistryError, match="too large"):
        store_for(hostile).resolve(by_tag(ref))
    assert hostile.requests("GET", MANIFEST_GET) == []


def test_a_recursion_bomb_manifest_is_a_clear_error(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/deep", "deep-json")
    with pytest.raises(CrateError, match="is not valid JSON"):
        store_for(hostile).pull_crate(by_tag(ref), tmp_path / "out", progress=QUIET)
    with pytest.raises(IntegrityError, match="does not match its digest"):  # pinned: no parse
        store_for(hostile).pull_crate(ref, tmp_path / "out2", progress=QUIET)


@pytest.mark.parametrize("attack", ["referrers-loop", "referrers-endless"])
def test_referrers_pagination_is_loop_checked_and_bounded(
    hostile: HostileRegistry, tmp_path: Path, attack: str
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/referrers", attack)
    with pytest.raises(RegistryError, match="does not end") as err:
        store_for(hostile).referrers(ref)
    pages = hostile.requests("GET", "/referrers/")
    if attack == "referrers-loop":
        assert "leads back to a page already read" in err.value.message and len(pages) == 1
    else:
        assert f"more than {MAX_REFERRER_PAGES} pages" in err.value.message
        assert len(pages) == MAX_REFERRER_PAGES


def test_a_malformed_referrers_list_is_a_clear_error(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/malformed", "referrers-malformed")
    with pytest.raises(RegistryError, match="malformed descriptor"):
        store_for(hostile).referrers(ref)


def test_a_blob_claiming_2_62_bytes_is_refused_before_downloading(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    store = store_for(hostile)
    blobs = store.blobs("hostile/claim")
    data = b"a small file\n"
    layer = {"mediaType": "text/plain", "digest": blobs.put_bytes(data), "size": 1 << 62,
             "annotations": {TITLE: "big.bin"}}  # fmt: skip
    blobs.put_bytes(EMPTY_BLOB)
    manifest = canonical_json(
        {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "artifactType": CRATE_ARTIFACT_TYPE,
         "config": EMPTY_DESCRIPTOR.to_json(), "layers": [layer]}
    )  # fmt: skip
    store.put_manifest("hostile/claim", "v1", manifest, MANIFEST_MEDIA_TYPE)
    ref = OciRef(hostile.host, "hostile/claim", digest=sha256_bytes(manifest))
    for attempt in range(2):  # refused each time, at once
        with pytest.raises(RegistryError) as err:
            store_for(hostile).pull_crate(ref, tmp_path / f"out{attempt}", progress=QUIET)
        assert "not enough disk space" in err.value.message
        assert f"claims {(1 << 62) + 2} bytes" in err.value.message
    assert hostile.requests("GET", "/blobs/") == []  # not one byte downloaded


def test_a_blob_longer_than_recorded_is_refused_once(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/endless", "endless-blob")
    with pytest.raises(IntegrityError, match="larger than its recorded size"):
        store_for(hostile).pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert len(hostile.requests("GET", "/blobs/")) == 1  # an integrity failure is not retried
    assert not (tmp_path / "out").exists()


def test_a_registry_that_never_answers_ends_in_a_timeout_naming_it(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    ref = pushed(hostile, tmp_path, "hostile/silent", "silent")
    with pytest.raises(RegistryError) as err:
        store_for(hostile, read_timeout=0.3).pull_crate(ref, tmp_path / "out", progress=QUIET)
    message = err.value.message
    assert message.startswith(f"cannot reach GET http://{hostile.host}/v2/hostile/silent/")
    assert "ReadTimeout" in message and "tried 2 times" in message
    assert err.value.hint


def test_pushes_and_pulls_through_the_proxy_are_unchanged(
    hostile: HostileRegistry, tmp_path: Path
) -> None:
    crate = make_crate(tmp_path / "c", big_folder_files=0, big_file=2_000_000)
    store = store_for(hostile)
    ref = store.push_crate(crate, OciRef(hostile.host, "hostile/plain", tag="x"), subject=None,
                           annotations={}, progress=QUIET)  # fmt: skip
    store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)
