"""Fixtures of the OCI store tests: a tiny image, a crate folder, a progress recorder."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from preserve.settings import Settings


@dataclass
class TinyImage:
    id: str
    tag: str
    output: bytes


@dataclass
class Recorder:
    """A Progress that remembers what it was told (steps, tasks and bytes)."""

    steps: list[str] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)

    def step(self, message: str) -> None:
        self.steps.append(message)

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[_Task]:
        yield _Task(self, description)


@dataclass
class _Task:
    rec: Recorder
    name: str

    def advance(self, amount: int) -> None:
        self.rec.tasks[self.name] = self.rec.tasks.get(self.name, 0) + amount


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def settings() -> Settings:
    return Settings.load()


def docker() -> object:
    from preserve.engine import docker_client

    return docker_client()


@pytest.fixture
def tiny_image(base_image: str, tmp_path: Path) -> Iterator[TinyImage]:
    """A small image FROM the offline base image, unique to this test."""
    from preserve.engine import docker_client

    token = secrets.token_hex(8)
    ctx = tmp_path / "image-context"
    ctx.mkdir()
    (ctx / "hello.txt").write_text(f"hello from {token}\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {base_image}\nCOPY hello.txt /hello.txt\n"
        'CMD ["python3", "-c", "print(open(\'/hello.txt\').read().upper())"]\n'
    )
    tag = f"preserve-test/tiny:{token}"
    client = docker_client()
    image, _ = client.images.build(path=str(ctx), tag=tag, rm=True, network_mode="none")
    yield TinyImage(image.id, tag, f"HELLO FROM {token.upper()}\n\n".encode())
    with suppress(Exception):  # the test may have removed it already
        client.images.remove(image.id, force=True)


def make_crate(root: Path, big_folder_files: int = 1001, big_file: int = 0) -> Path:
    """A crate folder: metadata, a nested file, an HDF5-named file, a >1000-file folder."""
    root.mkdir(parents=True)
    (root / "ro-crate-metadata.json").write_text(
        '{"@context": "https://w3id.org/ro/crate/1.1/context", "@graph": []}\n'
    )
    (root / "README.md").write_text("# a crate\n")
    (root / "results").mkdir()
    (root / "results" / "azint.h5").write_bytes(os.urandom(50_000))
    (root / "code" / "src" / "pkg").mkdir(parents=True)
    (root / "code" / "src" / "pkg" / "analysis.py").write_text("print('analysis')\n")
    if big_folder_files:
        frames = root / "frames"
        (frames / "sub").mkdir(parents=True)
        for i in range(big_folder_files):
            (frames / f"f{i:05d}.txt").write_text(f"frame {i}\n")
        (frames / "sub" / "deep.bin").write_bytes(os.urandom(1000))
    if big_file:
        (root / "big.bin").write_bytes(os.urandom(big_file))
    return root


@pytest.fixture
def crate_dir(tmp_path: Path) -> Path:
    return make_crate(tmp_path / "crate")


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def remove_image(image_id: str) -> None:
    from preserve.engine import docker_client

    docker_client().images.remove(image_id, force=True)


def run_image(image_id: str) -> bytes:
    from preserve.engine import docker_client

    out: bytes = docker_client().containers.run(image_id, network_mode="none", remove=True)
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
