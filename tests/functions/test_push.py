"""Targets whose platform pulls images by reference get the function image from the
configured registry, pinned by digest and under an immutable per-digest tag (OpenWhisk
drops ``@sha256:`` from image names); a real registry, started by its fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from preserve.engine import docker_client
from preserve.errors import ConfigError
from preserve.functions.definition import define
from preserve.functions.deploy import push_function_image
from preserve.functions.image import build
from preserve.progress import QUIET
from preserve.settings import Settings
from preserve.targets.base import FunctionImage
from tests.conftest import Registry
from tests.functions.conftest import home_settings

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]
MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def test_the_function_image_is_pushed_pinned_and_tagged_by_digest(
    upper_doi: str, registry: Registry, isolated_dirs: Path
) -> None:
    settings = home_settings(isolated_dirs)
    image = build(define(upper_doi, settings, QUIET, name="upper-pushed"), settings, QUIET)
    try:
        _push(image, settings, registry)
    finally:  # this test's image only: its name is its own
        docker_client().images.remove(image.image_id, force=True)


def _push(image: FunctionImage, settings: Settings, registry: Registry) -> None:
    with pytest.raises(ConfigError, match="no registry is configured"):
        push_function_image(image, settings, QUIET)
    pushed = push_function_image(
        image, settings.model_copy(update={"registry": registry.host}), QUIET
    )
    assert pushed.digest and pushed.reference == (
        f"{registry.host}/preserve-functions/upper-pushed@{pushed.digest}"
    )
    assert pushed.tag_reference == (
        f"{registry.host}/preserve-functions/upper-pushed:{pushed.digest.replace(':', '-')}"
    )
    tag = pushed.tag_reference.rsplit(":", 1)[1]
    answer = requests.head(
        f"{registry.url}/v2/preserve-functions/upper-pushed/manifests/{tag}",
        headers={"Accept": MANIFESTS},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.headers["Docker-Content-Digest"] == pushed.digest
    assert pushed.runnable == pushed.reference and pushed.base_image_digest
