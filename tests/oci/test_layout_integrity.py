"""The local layout store refuses tampered blobs, for crates and for images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.errors import IntegrityError
from preserve.oci.digests import hex_of
from preserve.oci.engine_images import provide_in_engine
from preserve.oci.refs import OciRef
from preserve.oci.stores import TITLE, open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.oci.conftest import TinyImage, remove_image


def flip_byte(path: Path, at: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_tampered_crate_blob_in_the_layout(
    settings: Settings, crate_dir: Path, tmp_path: Path
) -> None:
    target = OciRef("local", "ocitest/tamper", tag="x")
    store = open_store(settings, target)
    ref = store.push_crate(crate_dir, target, subject=None, annotations={}, progress=QUIET)
    assert ref.digest
    blobs = settings.store_dir / "blobs" / "sha256"
    manifest = json.loads((blobs / hex_of(ref.digest)).read_text())
    layer = next(x for x in manifest["layers"] if x["annotations"][TITLE] == "README.md")
    flip_byte(blobs / hex_of(layer["digest"]), 0)
    with pytest.raises(IntegrityError) as err:
        store.pull_crate(ref, tmp_path / "out", progress=QUIET)
    assert "README.md" in err.value.message and layer["digest"] in err.value.message
    assert not (tmp_path / "out").exists()


@pytest.mark.docker
def test_tampered_image_layer_is_not_loaded(settings: Settings, tiny_image: TinyImage) -> None:
    target = OciRef("local", "ocitest/tamper-image", tag="x")
    store = open_store(settings, target)
    ref = store.push_image(tiny_image.tag, target, progress=QUIET)
    assert ref.digest
    blobs = settings.store_dir / "blobs" / "sha256"
    manifest = json.loads((blobs / hex_of(ref.digest)).read_text())
    top = manifest["layers"][-1]  # the layer holding hello.txt
    flip_byte(blobs / hex_of(top["digest"]), top["size"] // 2)
    remove_image(tiny_image.id)
    with pytest.raises(IntegrityError) as err:
        provide_in_engine(store.image(ref), QUIET)
    assert top["digest"] in err.value.message
    from preserve.oci.engine_images import find_image

    assert find_image(tiny_image.id) is None, "nothing was loaded into the engine"
