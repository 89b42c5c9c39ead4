"""Exclusive locks between processes sharing a cache (captures, reruns, pushes).

An advisory ``flock`` on a small file: released when the holder closes it or
dies, so a killed process never leaves a cache locked.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from preserve.errors import ConfigError


def lock_path(cache_dir: Path, kind: str, key: str) -> Path:
    """The lock file for entry ``key`` (a digest, reference or path) of a cache."""
    return cache_dir / "locks" / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()}.lock"


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block, waiting for another holder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a")
    except OSError as exc:
        raise ConfigError(
            f"cannot create the lock file {path}: {exc.strerror or exc}",
            hint="make the cache directory writable, or point cache_dir (PRESERVE_CACHE_DIR) "
            "elsewhere",
        ) from exc
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
