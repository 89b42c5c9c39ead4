"""file:// inputs on mounted file systems: described by os.stat, staged in place (no copy)."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
from pathlib import Path

import pytest

from preserve.data import resolver_for, stage
from preserve.data.file import FileResolver, local_path
from preserve.errors import DataError, IntegrityError
from preserve.settings import Settings
from tests.data.conftest import RecordingProgress

DATA = os.urandom(1024 * 1024 + 3)


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    path = tmp_path / "asap3" / "petra3" / "raw frames.h5"
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)
    return path


def test_uri_to_path(frames: Path) -> None:
    assert local_path(frames.as_uri()) == frames  # percent-encoded space
    assert local_path(f"file://localhost{frames}") == frames
    with pytest.raises(DataError, match="names a file on host"):
        local_path("file://otherhost/asap3/x.h5")


def test_stat_and_fetch(frames: Path, progress: RecordingProgress) -> None:
    resolver = resolver_for(frames.as_uri())
    info = resolver.stat(frames.as_uri())
    assert info.size == len(DATA)
    assert info.encoding_format == mimetypes.guess_type(frames.name)[0]  # from /etc/mime.types
    assert info.last_modified is not None and info.last_modified.endswith("Z")
    sink = io.BytesIO()
    resolver.fetch(frames.as_uri(), sink, progress=progress)
    assert sink.getvalue() == DATA and progress.advanced == len(DATA)


def test_stage_hashes_in_place_without_copying(frames: Path, settings: Settings) -> None:
    sha = hashlib.sha256(DATA).hexdigest()
    staged = stage(
        "frames", frames.as_uri(), settings, expected_sha256=sha, expected_size=len(DATA)
    )
    assert staged.path == frames and not staged.downloaded
    assert (staged.size, staged.sha256) == (len(DATA), sha)
    assert staged.info.checksums == {"sha256": sha}
    assert not (settings.cache_dir / "data").exists()  # nothing copied into the cache


def test_changed_local_file(frames: Path, settings: Settings) -> None:
    sha = hashlib.sha256(DATA).hexdigest()
    frames.write_bytes(os.urandom(len(DATA)))
    with pytest.raises(IntegrityError) as err:
        stage("frames", frames.as_uri(), settings, expected_sha256=sha)
    actual = hashlib.sha256(frames.read_bytes()).hexdigest()
    assert (
        "input 'frames'" in err.value.message
        and "changed since it was recorded" in err.value.message
    )
    assert sha in err.value.message and actual in err.value.message


def test_missing_and_folder(frames: Path, settings: Settings) -> None:
    with pytest.raises(DataError) as err:
        FileResolver().stat((frames.parent / "nope.h5").as_uri())
    assert "does not exist" in err.value.message
    with pytest.raises(DataError) as err:
        stage("raw", frames.parent.as_uri(), settings)
    assert "is a folder" in err.value.message and "only single files" in err.value.message
