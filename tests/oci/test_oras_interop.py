"""Crates as ORAS sees them: oras-py (a dependency) pulls a crate pushed by preserve,
unpacking its 1,000-file folder layer by the ORAS directory convention."""

from __future__ import annotations

from pathlib import Path

import oras.client
import pytest

from preserve.oci.artifact import TAR_DIGEST, TARGZ_MEDIA_TYPE, UNPACK
from preserve.oci.refs import OciRef
from preserve.oci.stores import TITLE, open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry
from tests.oci.conftest import make_crate, tree

pytestmark = [pytest.mark.registry, pytest.mark.docker]


def test_oras_py_pulls_and_unpacks_a_crate_with_a_1000_file_folder(
    registry: Registry, settings: Settings, base_image: str, tmp_path: Path
) -> None:
    crate = make_crate(tmp_path / "crate", big_folder_files=999)  # + sub/deep.bin = 1,000
    target = OciRef(registry.host, "ocitest/oras", tag="v1")
    store = open_store(settings, target)
    image = store.push_image(base_image, target, progress=QUIET)
    pushed = store.push_crate(
        crate, target.with_tag("v1-crate"), subject=image, annotations={}, progress=QUIET
    )
    manifest = store.pull_crate(pushed, tmp_path / "ours", progress=QUIET).manifest
    [folder] = [layer for layer in manifest["layers"] if layer["annotations"].get(UNPACK)]
    assert folder["mediaType"] == TARGZ_MEDIA_TYPE
    assert folder["annotations"][TITLE] == "frames"
    assert folder["annotations"][TAR_DIGEST].startswith("sha256:")

    client = oras.client.OrasClient(hostname=registry.host, insecure=True)
    out = tmp_path / "oras"
    out.mkdir()
    files = client.pull(target=f"{registry.host}/ocitest/oras@{pushed.digest}", outdir=str(out))
    assert str(out / "frames") in files
    pulled = tree(out)
    assert pulled == tree(crate)
    assert sum(1 for name in pulled if name.startswith("frames/")) == 1000
    assert tree(tmp_path / "ours") == tree(crate)
