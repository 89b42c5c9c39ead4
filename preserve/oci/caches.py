"""Two small caches kept in the cache directory; losing them only costs time.

* :class:`BlobLocations`: which repositories of a registry hold which blobs, so
  a blob known elsewhere is mounted instead of uploaded.
* :class:`DigestCache`: digests of big files by ``(device, inode, size,
  mtime_ns, ctime_ns)``; any write, chmod or rename changes ``ctime``, so a
  hit means the same bytes. A push run again (after an interruption) finds the
  digests and checks the registry (HEAD) before sending anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


class _JsonCache:
    LIMIT = 20000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, object] | None = None
        self._dirty = False

    def data(self) -> dict[str, object]:
        if self._data is None:
            try:
                loaded = json.loads(self.path.read_text())
                self._data = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def set(self, key: str, value: object) -> None:
        data = self.data()
        data.pop(key, None)
        data[key] = value  # re-inserted: the oldest entries go first
        while len(data) > self.LIMIT:
            data.pop(next(iter(data)))
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".cache-")
            with os.fdopen(fd, "w") as fh:
                json.dump(self._data, fh)
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError:
            pass  # a cache: never fail a push over it


class BlobLocations(_JsonCache):
    def other_repo(self, digest: str, repo: str) -> str | None:
        repos = self.data().get(digest)
        if not isinstance(repos, list):
            return None
        return next((str(r) for r in repos if r != repo), None)

    def add(self, digest: str, repo: str) -> None:
        repos = self.data().get(digest)
        known = [str(r) for r in repos] if isinstance(repos, list) else []
        if repo not in known:
            known = [repo, *known][:8]
        self.set(digest, known)


class DigestCache(_JsonCache):
    @staticmethod
    def key(path: Path) -> str:
        st = path.stat()
        return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"

    def get(self, path: Path) -> str | None:
        value = self.data().get(self.key(path))
        return value if isinstance(value, str) else None

    def put(self, path: Path, digest: str) -> None:
        self.set(self.key(path), digest)
