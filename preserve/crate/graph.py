"""Read-only helpers over a flattened JSON-LD RO-Crate graph."""

from __future__ import annotations

from typing import Any

from preserve.errors import CrateError


class Graph:
    def __init__(self, document: dict[str, Any]) -> None:
        graph = document.get("@graph")
        if not isinstance(graph, list):
            raise CrateError("ro-crate-metadata.json has no @graph list")
        self.document = document
        self.by_id: dict[str, dict[str, Any]] = {
            e["@id"]: e for e in graph if isinstance(e, dict) and "@id" in e
        }

    def get(self, entity_id: str) -> dict[str, Any]:
        return self.by_id.get(entity_id, {})

    @staticmethod
    def ids(value: Any) -> list[str]:
        """``{"@id": x}``, a list of them, or plain strings, as a list of ids."""
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [i["@id"] if isinstance(i, dict) else str(i) for i in items]

    @staticmethod
    def types(entity: dict[str, Any]) -> list[str]:
        t = entity.get("@type", [])
        return [t] if isinstance(t, str) else list(t)

    def root(self) -> dict[str, Any]:
        for entity in self.by_id.values():
            conforms = self.ids(entity.get("conformsTo"))
            if (
                any(c.startswith("https://w3id.org/ro/crate/") for c in conforms)
                and "about" in entity
            ):
                return self.get(self.ids(entity["about"])[0])
        raise CrateError("ro-crate-metadata.json has no metadata descriptor pointing at a root")

    def main_action(self) -> dict[str, Any] | None:
        """The run: a CreateAction the root mentions, else the only CreateAction."""
        actions = [e for e in self.by_id.values() if "CreateAction" in self.types(e)]
        mentioned = set(self.ids(self.root().get("mentions")))
        preferred = [a for a in actions if a["@id"] in mentioned]
        if preferred:
            return preferred[0]
        return actions[0] if len(actions) == 1 else None
