"""A crate that is a folder on storage (a function's invocation crate), fetched to rerun it.

``URI`` names the folder (or its ``ro-crate-metadata.json``). The metadata is
read first, bounded and checked by the one crate reader; then every file it
describes is staged from the folder by its recorded size and SHA-256 (a file
without a SHA-256 is refused), into a new folder in the cache keyed by the
metadata's digest. Nothing that failed verification is kept; a crate path that
would leave the folder is refused by the reader.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from preserve.crate.model import CRATE_METADATA
from preserve.crate.read import MAX_METADATA_BYTES, read_crate
from preserve.data.stage import stage
from preserve.errors import CrateError, IntegrityError
from preserve.progress import Progress
from preserve.settings import Settings
from preserve.shim.redact import redact_uri
from preserve.shim.storage import join

SCHEMES = ("http://", "https://", "dav://", "davs://")


def is_crate_uri(text: str) -> bool:
    return text.lower().startswith(SCHEMES)


def fetch_crate(uri: str, settings: Settings, progress: Progress) -> Path:
    """The crate in the storage folder ``uri``, verified, in the cache."""
    folder = uri[: -len(CRATE_METADATA)] if uri.endswith(CRATE_METADATA) else uri
    folder = folder if folder.endswith("/") else folder + "/"
    progress.step(f"reading the crate at {redact_uri(folder)}")
    meta = stage("the crate's metadata", join(folder, CRATE_METADATA), settings, progress=progress)
    if meta.size > MAX_METADATA_BYTES:
        raise CrateError(f"the crate metadata at {redact_uri(folder)} is larger than 32 MiB")
    dest = settings.cache_dir / "crates" / f"uri-{meta.sha256}"
    if (dest / CRATE_METADATA).is_file():
        return dest
    partial = dest.with_name(f".{dest.name}.partial-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    try:
        shutil.copyfile(meta.path, partial / CRATE_METADATA)
        view = read_crate(partial)
        for data in view.files:
            target = view.path(data.id)  # confined to the crate
            if data.is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not data.sha256:
                raise IntegrityError(
                    f"the crate at {redact_uri(folder)} records no SHA-256 for {data.id}",
                    hint="only files with a recorded checksum are fetched",
                )
            got = stage(
                data.id,
                join(folder, data.id),
                settings,
                expected_sha256=data.sha256,
                expected_size=data.size,
                progress=progress,
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(got.path, target)
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest
