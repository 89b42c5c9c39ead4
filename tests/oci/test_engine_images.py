"""Images offered to runners by the Docker Engine and by a registry (the image seam)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from preserve.oci.engine_images import engine_source, find_image, provide_in_engine
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry
from tests.oci.conftest import TinyImage, remove_image, run_image


@pytest.mark.docker
@pytest.mark.registry
def test_registry_image_loads_from_its_verified_blobs(
    registry: Registry, tiny_image: TinyImage, tmp_path: Path
) -> None:
    """A runner that cannot pull (no reference taken) gets the image as an archive."""
    settings = Settings.load()
    target = OciRef(registry.host, "seam/archive", tag="1")
    store = open_store(settings, target)
    pinned = store.push_image(tiny_image.tag, target, progress=QUIET).pinned()
    source = store.image(pinned)
    assert source.reference == str(pinned) and source.image_id == tiny_image.id
    remove_image(tiny_image.id)
    provided = provide_in_engine(dataclasses.replace(source, reference=None), QUIET)
    assert provided.image_id == tiny_image.id
    assert run_image(tiny_image.id) == tiny_image.output
    assert not list((settings.cache_dir / "tmp").iterdir()), "downloaded blobs are removed"


@pytest.mark.docker
def test_engine_source_offers_a_save_stream(tiny_image: TinyImage) -> None:
    source = engine_source(tiny_image.id)
    assert source.reference is None and source.image_id == tiny_image.id
    head = next(iter(source.open_archive(QUIET)))
    assert head, "docker save streams the image"
    assert find_image(tiny_image.id) is not None
