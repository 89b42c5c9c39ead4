"""The embedded default DOI provider: mints test DOIs (prefix 10.5072) into local SQLite.

These DOIs are not globally resolvable; the toolkit says so in its output and
in the DOI metadata. The provider moves DOIs through the same states as DataCite.
"""

from __future__ import annotations

from pathlib import Path

from preserve.settings import Settings

SANDBOX_PREFIX = "10.5072"
NOT_RESOLVABLE = (
    "Sandbox DOI minted by preserve under the test prefix 10.5072: "
    "not registered with DataCite and not globally resolvable."
)


class SandboxProvider:
    name = "sandbox"
    prefix = SANDBOX_PREFIX

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxProvider:
        return cls(settings.data_dir / "sandbox-dois.sqlite")

    def describe(self) -> str:
        return (
            f"sandbox provider (prefix {self.prefix}, local store {self.db_path}); "
            "sandbox DOIs are not globally resolvable"
        )
