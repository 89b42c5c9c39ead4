"""The local store keeps one copy of an image: a second push of it does no `docker save`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET, Task
from preserve.settings import Settings

pytestmark = [pytest.mark.docker]


class Recorder:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, message: str) -> None:
        self.steps.append(message)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        with QUIET.task(description, total) as task:
            yield task


def test_second_push_of_an_image_reuses_the_stored_one(base_image: str) -> None:
    settings = Settings.load()
    store = open_store(settings, OciRef.parse("local:reuse:1"))
    first = Recorder()
    ref1 = store.push_image(base_image, OciRef.parse("local:reuse:1"), progress=first)
    second = Recorder()
    ref2 = store.push_image(base_image, OciRef.parse("local:reuse:2"), progress=second)
    assert ref1.digest == ref2.digest
    assert any("saving image" in s for s in first.steps)
    assert not any("saving image" in s for s in second.steps)
    assert any("already in" in s for s in second.steps)
    assert store.resolve(OciRef.parse("local:reuse:2")) == ref1.digest
