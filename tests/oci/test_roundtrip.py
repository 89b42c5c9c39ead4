"""Image + crate round trips through the real registry and the local layout store."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from preserve.errors import RegistryError
from preserve.oci.artifact import EMPTY_DESCRIPTOR, TAR_DIGEST, TARGZ_MEDIA_TYPE, UNPACK
from preserve.oci.engine_images import provide_in_engine
from preserve.oci.refs import OciRef
from preserve.oci.stores import CRATE_ARTIFACT_TYPE, TITLE, OciStore, open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry
from tests.oci.conftest import Recorder, TinyImage, copy_tree, remove_image, run_image, tree

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ANNOTATIONS = {
    "org.opencontainers.image.created": "2024-05-01T12:00:00Z",
    "org.opencontainers.image.title": "azimuthal integration",
    "org.opencontainers.image.description": "a test crate",
    "org.opencontainers.image.licenses": "MIT",
    "org.opencontainers.image.source": "https://example.org/ocitest/azint.git",
    "org.opencontainers.image.revision": "0123abc",
    "org.opencontainers.image.version": "1.0",
}


def target_for(kind: str, registry: Registry, repo: str) -> OciRef:
    if kind == "registry":
        return OciRef(registry.host, repo, tag="v1")
    return OciRef("local", repo, tag="v1")


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["registry", "layout"])
def test_round_trip(
    kind: str,
    registry: Registry,
    settings: Settings,
    tiny_image: TinyImage,
    crate_dir: Path,
    tmp_path: Path,
    recorder: Recorder,
) -> None:
    target = target_for(kind, registry, f"ocitest/round-{kind}")
    store: OciStore = open_store(settings, target)
    expected_files = tree(crate_dir)
    expected_output = run_image(tiny_image.id)
    assert expected_output == tiny_image.output

    image_ref = store.push_image(tiny_image.tag, target, progress=recorder)
    assert image_ref.digest and image_ref.repository == target.repository
    crate_ref = store.push_crate(
        crate_dir,
        target.with_tag("v1-crate"),
        subject=image_ref,
        annotations=ANNOTATIONS,
        progress=recorder,
    )
    assert crate_ref.digest and crate_ref.digest != image_ref.digest
    assert store.resolve(target.with_tag("v1-crate")) == crate_ref.digest
    assert store.resolve(target) == image_ref.digest
    assert any(n.startswith("uploading") or n.startswith("storing") for n in recorder.tasks)

    remove_image(tiny_image.id)
    shutil.rmtree(crate_dir)

    pulled = store.pull_crate(crate_ref.pinned(), tmp_path / "pulled", progress=QUIET)
    assert pulled.ref.digest == crate_ref.digest
    assert tree(tmp_path / "pulled") == expected_files
    assert pulled.manifest["subject"]["digest"] == image_ref.digest

    image_id = provide_in_engine(store.image(image_ref.pinned()), QUIET).name
    assert image_id == tiny_image.id
    assert run_image(image_id) == expected_output

    again = Recorder()
    assert provide_in_engine(store.image(image_ref.pinned()), again).name == image_id
    assert again.tasks == {}, "a second pull must download nothing"
    assert any("already" in s for s in again.steps)


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["registry", "layout"])
def test_crate_manifest_shape_and_determinism(
    kind: str, registry: Registry, settings: Settings, base_image: str, crate_dir: Path
) -> None:
    target = target_for(kind, registry, f"ocitest/shape-{kind}")
    store = open_store(settings, target)
    image_ref = store.push_image(base_image, target, progress=QUIET)
    first = store.push_crate(
        crate_dir, target.with_tag("c"), subject=image_ref, annotations=ANNOTATIONS, progress=QUIET
    )
    copy = copy_tree(crate_dir, crate_dir.parent / "same-crate-elsewhere")
    second = store.push_crate(
        copy, target.with_tag("c2"), subject=image_ref, annotations=ANNOTATIONS, progress=QUIET
    )
    assert first.digest == second.digest, "same crate + same inputs => same manifest digest"
    again = store.push_image(base_image, target.with_tag("v2"), progress=QUIET)
    assert again.digest == image_ref.digest, "same image => same manifest digest"

    manifest = store.pull_crate(first, crate_dir.parent / "p", progress=QUIET).manifest
    assert manifest["artifactType"] == CRATE_ARTIFACT_TYPE
    assert manifest["config"] == EMPTY_DESCRIPTOR.to_json()
    assert manifest["annotations"] == ANNOTATIONS
    assert manifest["subject"]["digest"] == image_ref.digest
    titles = [layer["annotations"][TITLE] for layer in manifest["layers"]]
    assert titles == sorted(titles)
    assert titles == [
        "README.md",
        "code/src/pkg/analysis.py",
        "frames",
        "results/azint.h5",
        "ro-crate-metadata.json",
    ]
    types = {layer["annotations"][TITLE]: layer["mediaType"] for layer in manifest["layers"]}
    assert types["ro-crate-metadata.json"] == "application/ld+json"
    assert types["results/azint.h5"] == "application/x-hdf5"
    assert types["code/src/pkg/analysis.py"] == "text/x-python"
    assert types["frames"] == TARGZ_MEDIA_TYPE
    frames = next(x for x in manifest["layers"] if x["annotations"][TITLE] == "frames")
    assert frames["annotations"][UNPACK] == "true"
    assert frames["annotations"][TAR_DIGEST].startswith("sha256:")


@pytest.mark.registry
def test_skopeo_reads_what_was_pushed(
    registry: Registry, settings: Settings, base_image: str, crate_dir: Path, tmp_path: Path
) -> None:
    target = OciRef(registry.host, "ocitest/skopeo", tag="v1")
    store = open_store(settings, target)
    image_ref = store.push_image(base_image, target, progress=QUIET)
    crate_ref = store.push_crate(
        crate_dir, target.with_tag("crate"), subject=image_ref, annotations={}, progress=QUIET
    )
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false",
         f"docker://{registry.host}/ocitest/skopeo@{crate_ref.digest}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    manifest = json.loads(raw)
    assert manifest["artifactType"] == CRATE_ARTIFACT_TYPE
    assert manifest["subject"]["digest"] == image_ref.digest
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false",
         f"docker://{registry.host}/ocitest/skopeo@{image_ref.digest}", f"dir:{tmp_path / 'copy'}"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert (tmp_path / "copy" / "manifest.json").is_file()


def test_skopeo_reads_the_layout(
    settings: Settings, base_image: str, crate_dir: Path, tmp_path: Path
) -> None:
    target = OciRef("local", "ocitest/skopeo", tag="v1")
    store = open_store(settings, target)
    image_ref = store.push_image(base_image, target, progress=QUIET)
    store.push_crate(
        crate_dir, target.with_tag("crate"), subject=image_ref, annotations={}, progress=QUIET
    )
    layout = settings.store_dir
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{layout}:ocitest/skopeo:crate"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert json.loads(raw)["subject"]["digest"] == image_ref.digest
    subprocess.run(
        ["skopeo", "copy", f"oci:{layout}:ocitest/skopeo:v1", f"dir:{tmp_path / 'copy'}"],
        check=True, capture_output=True,
    )  # fmt: skip
    copied = json.loads((tmp_path / "copy" / "manifest.json").read_text())
    assert copied["config"]["digest"] == subprocess.run(
        ["docker", "image", "inspect", "-f", "{{.Id}}", base_image],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


@pytest.mark.registry
@pytest.mark.parametrize("kind", ["registry", "layout"])
def test_referrers(
    kind: str, registry: Registry, settings: Settings, base_image: str, crate_dir: Path
) -> None:
    target = target_for(kind, registry, f"ocitest/referrers-{kind}")
    store = open_store(settings, target)
    image_ref = store.push_image(base_image, target, progress=QUIET)
    assert store.referrers(image_ref) == []
    crate_ref = store.push_crate(
        crate_dir,
        target.with_tag("crate"),
        subject=image_ref,
        annotations=ANNOTATIONS,
        progress=QUIET,
    )
    store.push_crate(
        crate_dir,
        target.with_tag("crate"),
        subject=image_ref,
        annotations=ANNOTATIONS,
        progress=QUIET,
    )
    found = store.referrers(image_ref)
    assert [d.digest for d in found] == [crate_ref.digest], "pushing twice does not duplicate"
    assert found[0].artifact_type == CRATE_ARTIFACT_TYPE
    assert dict(found[0].annotations) == ANNOTATIONS
    assert store.referrers(target, CRATE_ARTIFACT_TYPE) == found  # by tag, filtered
    assert store.referrers(image_ref, "application/x-other") == []


@pytest.mark.registry
def test_referrers_fallback_tag_index_in_registry(
    registry: Registry, settings: Settings, base_image: str, crate_dir: Path
) -> None:
    import requests

    target = OciRef(registry.host, "ocitest/fallback", tag="v1")
    store = open_store(settings, target)
    image_ref = store.push_image(base_image, target, progress=QUIET)
    crate_ref = store.push_crate(
        crate_dir, target.with_tag("crate"), subject=image_ref, annotations={}, progress=QUIET
    )
    assert image_ref.digest
    tag = image_ref.digest.replace(":", "-")
    resp = requests.get(
        f"{registry.url}/v2/ocitest/fallback/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    )
    assert resp.status_code == 200
    index = resp.json()
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [
        (crate_ref.digest, CRATE_ARTIFACT_TYPE)
    ]
    api = requests.get(
        f"{registry.url}/v2/ocitest/fallback/referrers/{image_ref.digest}", timeout=10
    )
    assert api.status_code == 404, "distribution 2.8 has no referrers API (why the tag exists)"


@pytest.mark.registry
def test_cross_repository_mount(registry: Registry, settings: Settings, tmp_path: Path) -> None:
    from tests.oci.conftest import make_crate

    crate = make_crate(tmp_path / "c", big_folder_files=0, big_file=200_000)
    store = open_store(settings, OciRef(registry.host, "ocitest/a"))
    assert hasattr(store, "blobs")
    store.push_crate(crate, OciRef(registry.host, "ocitest/a", tag="x"), subject=None,
                     annotations={}, progress=QUIET)  # fmt: skip
    blobs_b = store.blobs("ocitest/b")
    from preserve.oci.crate_io import upload_crate

    upload_crate(blobs_b, crate, tmp_path / "work", None, {}, QUIET)
    assert blobs_b.stats["mounted"] >= 5 and blobs_b.stats["uploaded"] == 0


@pytest.mark.registry
def test_chunked_upload(
    registry: Registry,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from preserve.oci import registry_blobs
    from tests.oci.conftest import make_crate

    monkeypatch.setattr(registry_blobs, "MONOLITHIC_MAX", 1 << 20)
    monkeypatch.setattr(registry_blobs, "CHUNK_SIZE", 700_000)
    crate = make_crate(tmp_path / "c", big_folder_files=0, big_file=5_000_000)
    target = OciRef(registry.host, "ocitest/chunked", tag="x")
    store = open_store(settings, target)
    ref = store.push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
    store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)


def test_layout_errors(settings: Settings, docker_engine: str) -> None:
    store = open_store(settings, OciRef("local", "nothing"))
    with pytest.raises(RegistryError, match="not in the local store"):
        store.resolve(OciRef("local", "nothing", tag="v9"))
    from preserve.errors import BuildError

    with pytest.raises(BuildError, match="no image"):
        store.push_image("preserve-test/does-not-exist:0", OciRef("local", "x"), progress=QUIET)


def test_layout_tags_move_and_old_manifests_stay(settings: Settings, tmp_path: Path) -> None:
    from tests.oci.conftest import make_crate

    store = open_store(settings, OciRef("local", "ocitest/moving"))
    base = make_crate(tmp_path / "base", big_folder_files=0)
    subject = store.push_crate(
        base, OciRef("local", "ocitest/moving", tag="base"), subject=None, annotations={},
        progress=QUIET,
    )  # fmt: skip
    refs = []
    for n in range(2):
        crate = make_crate(tmp_path / f"c{n}", big_folder_files=0)
        tag = OciRef("local", "ocitest/moving", tag="t")
        refs.append(store.push_crate(crate, tag, subject=subject, annotations={}, progress=QUIET))
        assert store.resolve(tag) == refs[-1].digest
    assert {d.digest for d in store.referrers(subject)} == {r.digest for r in refs}
    old = store.pull_crate(refs[0].with_tag(None), tmp_path / "old", progress=QUIET)
    assert tree(old.directory) == tree(tmp_path / "c0")
    untagged = store.push_crate(
        base, OciRef("local", "ocitest/untagged"), subject=None, annotations={}, progress=QUIET
    )
    assert store.resolve(OciRef("local", "ocitest/untagged")) == untagged.digest
