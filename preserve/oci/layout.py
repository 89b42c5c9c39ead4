"""The embedded default store: an OCI image layout directory (image-spec ``image-layout.md``)."""

from __future__ import annotations

import json
from pathlib import Path

from preserve.errors import RegistryError
from preserve.oci.refs import OciRef
from preserve.settings import Settings

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}


class LayoutStore:
    """Images and crates kept in one OCI image layout on local disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_settings(cls, settings: Settings, ref: OciRef) -> LayoutStore:
        return cls(settings.store_dir)

    def ensure(self) -> None:
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            marker = self.root / "oci-layout"
            if not marker.exists():
                marker.write_text(json.dumps(LAYOUT_VERSION))
            index = self.root / "index.json"
            if not index.exists():
                index.write_text(json.dumps({"schemaVersion": 2, "manifests": []}))
        except OSError as exc:
            raise RegistryError(
                f"cannot use the local OCI store at {self.root}: {exc.strerror}",
                hint="set data_dir (PRESERVE_DATA_DIR) to a writable directory",
            ) from exc

    def ping(self) -> str:
        self.ensure()
        return f"local OCI layout store at {self.root} (no registry configured)"
