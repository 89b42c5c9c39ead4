"""Changes to a crate after capture: the image's registry digest, the DOI.

Both rewrite ro-crate-metadata.json and re-render the preview from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preserve.crate.graph import Graph
from preserve.crate.io import read_document, write_document
from preserve.errors import CrateError
from preserve.oci.refs import OciRef


def container_image(graph: Graph) -> dict[str, Any]:
    action = graph.main_action()
    if action is None:
        raise CrateError("the crate records no run (no CreateAction the root mentions)")
    ids = graph.ids(action.get("containerImage"))
    entity = graph.get(ids[0]) if ids else {}
    if not entity:
        raise CrateError(
            "the crate's run names no container image (containerImage)",
            hint="only crates of runs in a container image can be pushed or rerun",
        )
    return entity


def pin_image(crate_dir: Path, ref: OciRef) -> bool:
    """Record where the image now lives, pinned by digest; True if anything changed."""
    document = read_document(crate_dir)
    image = container_image(Graph(document))
    assert ref.digest is not None
    wanted = {
        "registry": ref.registry,
        "name": ref.repository,
        "tag": ref.tag,
        "sha256": ref.digest.removeprefix("sha256:"),
    }
    changed = any(image.get(k) != v for k, v in wanted.items() if v is not None)
    if not changed:
        return False
    image.update({k: v for k, v in wanted.items() if v is not None})
    where = "the local OCI store" if ref.is_local else ref.registry
    description = str(image.get("description", "")).split(";")[0]
    image["description"] = f"{description}; sha256 is the image manifest digest in {where}."
    write_document(crate_dir, document)
    return True


def set_doi(crate_dir: Path, doi: str) -> bool:
    """Give the crate's root its DOI (identifier and cite-as); True if anything changed."""
    document = read_document(crate_dir)
    root = Graph(document).root()
    url = f"https://doi.org/{doi}"
    if root.get("identifier") == url and root.get("cite-as") == url:
        return False
    root["identifier"] = url
    root["cite-as"] = url
    write_document(crate_dir, document)
    return True


def crate_doi(crate_dir: Path) -> str | None:
    root = Graph(read_document(crate_dir)).root()
    ident = root.get("identifier")
    if isinstance(ident, str) and ident.startswith("https://doi.org/10."):
        return ident.removeprefix("https://doi.org/")
    return None
