"""State shared by all commands: global options and lazily loaded settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from preserve.settings import Settings


@dataclass
class AppContext:
    config_file: Path | None = None
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self, **overrides: Any) -> Settings:
        """Settings with command-line flags (``overrides``) on top."""
        if overrides or self._settings is None:
            loaded = Settings.load(config_file=self.config_file, overrides=overrides)
            if not overrides:
                self._settings = loaded
            return loaded
        return self._settings
