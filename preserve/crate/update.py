"""Changes to a crate after capture: the image's registry digest, the DOI.

Both rewrite ro-crate-metadata.json and re-render the preview from it. The
entities to change are found through the reader; only their JSON is edited here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from preserve.crate.io import write_document
from preserve.crate.read import CrateView, read_document, view_of
from preserve.errors import CrateError
from preserve.oci.refs import OciRef

SOFTWARE_FRAGMENT = "#analysis-code"


def _entity(document: dict[str, Any], entity_id: str) -> dict[str, Any]:
    entity: dict[str, Any] = next(e for e in document["@graph"] if e["@id"] == entity_id)
    return entity


def image_entity_id(view: CrateView) -> str:
    if view.action is None:
        raise CrateError("the crate records no run (no CreateAction the root mentions)")
    if view.image is None:
        raise CrateError(
            "the crate's run names no container image (containerImage)",
            hint="only crates of runs in a container image can be pushed or rerun",
        )
    return view.image.id


def pin_image(crate_dir: Path, ref: OciRef) -> bool:
    """Record where the image now lives, pinned by digest; True if anything changed."""
    document = read_document(crate_dir)
    image = _entity(document, image_entity_id(view_of(document, crate_dir)))
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
    """Give the crate's root its DOI (identifier and cite-as); True if anything changed.

    Analysis code that had no web address gets one under the DOI, so that the
    published crate's instrument has the absolute URI and url the profile asks for.
    """
    document = read_document(crate_dir)
    view = view_of(document, crate_dir)
    root = _entity(document, view.root.id)
    url = f"https://doi.org/{doi}"
    changed = root.get("identifier") != url or root.get("cite-as") != url
    root["identifier"] = url
    root["cite-as"] = url
    software = view.instrument
    local = software is not None and not software.id.startswith(("https://", "http://"))
    if software is not None and local and view.data(software.id) is None:
        _rename(document, software.id, f"{url}{SOFTWARE_FRAGMENT}")
        _entity(document, f"{url}{SOFTWARE_FRAGMENT}").setdefault("url", url)
        changed = True
    if changed:
        write_document(crate_dir, document)
    return changed


def _rename(document: dict[str, Any], old: str, new: str) -> None:
    """Change an entity's @id and every reference to it."""

    def swap(value: Any) -> Any:
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict) and value.get("@id") == old and len(value) == 1:
            return {"@id": new}
        return value

    for entity in document["@graph"]:
        for key, value in list(entity.items()):
            entity[key] = new if key == "@id" and value == old else swap(value)


def crate_doi(crate_dir: Path) -> str | None:
    return view_of(read_document(crate_dir), crate_dir).doi
