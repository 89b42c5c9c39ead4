"""Writing a crate directory safely: never over something else, never half done.

A crate is assembled in a hidden staging directory beside its target and renamed
into place only when complete.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from preserve.crate.model import CRATE_METADATA
from preserve.errors import CrateError


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a non-empty target, unless it is a crate and ``overwrite`` is given."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        is_crate = (target / CRATE_METADATA).is_file()
        if not (overwrite and is_crate):
            raise CrateError(
                f"{target} already exists and is not empty",
                hint="choose another -o directory"
                + (", or pass --overwrite to replace that crate" if is_crate else ""),
            )


def staging_dir(target: Path) -> Path:
    """A new hidden directory beside ``target`` (same file system, so the rename is atomic)."""
    staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging


def finalize(staging: Path, target: Path) -> None:
    """Move the complete crate into place, replacing an old crate at ``target``."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)
