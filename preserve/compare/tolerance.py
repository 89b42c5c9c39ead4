"""Which tolerances a comparison uses, and where each came from.

The command line wins, then the author's manifest (recorded in the crate),
then the defaults; 0 is a tolerance, not "unset".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0

COMMAND_LINE = "command line"
MANIFEST = "the author's manifest"
DEFAULT = "default"


@dataclass(frozen=True)
class ChosenTolerance:
    rtol: float
    atol: float
    rtol_source: str
    atol_source: str

    def describe(self) -> str:
        """'rtol 1e-09 (default), atol 0 (the author's manifest)'."""
        return f"rtol {self.rtol:g} ({self.rtol_source}), atol {self.atol:g} ({self.atol_source})"

    def to_json(self) -> dict[str, Any]:
        return {
            "rtol": self.rtol,
            "atol": self.atol,
            "source": {"rtol": self.rtol_source, "atol": self.atol_source},
        }


def choose(
    recorded: Mapping[str, Any] | None, rtol: float | None, atol: float | None
) -> ChosenTolerance:
    recorded = recorded or {}

    def pick(given: float | None, key: str, default: float) -> tuple[float, str]:
        if given is not None:
            return given, COMMAND_LINE
        value = recorded.get(key)
        return (default, DEFAULT) if value is None else (float(value), MANIFEST)

    (r, r_from), (a, a_from) = pick(rtol, "rtol", DEFAULT_RTOL), pick(atol, "atol", DEFAULT_ATOL)
    return ChosenTolerance(r, a, r_from, a_from)
