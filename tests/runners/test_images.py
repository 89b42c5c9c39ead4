"""The image seam: a store offers an image pinned by digest; each runner takes what suits it."""

from __future__ import annotations

import json
import stat

import pytest

from preserve.errors import RunError
from preserve.progress import QUIET
from preserve.runners.base import ImageSource
from preserve.runners.podman import auth_file, pull_argv

REF = "127.0.0.1:5000/lab/a@sha256:" + "a" * 64


def test_a_source_without_a_registry_says_which_runner_needs_one() -> None:
    local = ImageSource(label="local:a@sha256:" + "b" * 64, image_id="sha256:" + "c" * 64)
    with pytest.raises(RunError) as info:
        local.require_reference("batch")
    assert "the batch runner pulls images from a registry" in info.value.message
    assert info.value.hint and "preserve push --to" in info.value.hint
    with pytest.raises(RunError, match="offered only by reference"):
        ImageSource(label=REF, image_id=None, reference=REF).open_archive(QUIET)


def test_podman_pulls_by_reference_with_credentials_in_a_private_file() -> None:
    image = ImageSource(
        label=REF,
        image_id=None,
        reference=REF,
        insecure=True,
        auth={"username": "ada", "password": "s3cr3t-pw"},  # "-": never in a temp name
    )
    with auth_file(image.auth, REF) as path:
        assert path is not None
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert json.loads(path.read_text()) == {
            "auths": {"127.0.0.1:5000": {"auth": "YWRhOnMzY3IzdC1wdw=="}}
        }
        argv = pull_argv("podman", image, path)
    assert not path.exists()
    assert argv == ["podman", "pull", "--quiet", "--authfile", str(path), "--tls-verify=false", REF]
    assert "s3cr3t-pw" not in " ".join(argv)
    with auth_file(None, REF) as none:
        assert none is None
