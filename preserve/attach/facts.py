"""What a supplement bundle states, gathered once from the DOI record and the crate it pins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from preserve.citation.csl import publisher_name, title
from preserve.crate.plan import RerunPlan
from preserve.doi.resolve import ResolvedDoi
from preserve.oci.refs import OciRef


@dataclass(frozen=True)
class InputFact:
    name: str
    identifier: str  # its DOI (https://doi.org/...) when it names one, else its URI
    sha256: str | None
    size: int | None
    license: str | None
    in_crate: bool


@dataclass(frozen=True)
class OutputFact:
    path: str
    sha256: str | None


@dataclass(frozen=True)
class Facts:
    doi: str
    doi_url: str
    landing_url: str
    title: str
    creators: tuple[str, ...]
    year: str
    version: str | None
    publisher: str | None
    license: str | None
    crate: OciRef
    image: OciRef
    inputs: tuple[InputFact, ...]
    outputs: tuple[OutputFact, ...]
    papers: tuple[str, ...]  # DOIs of the articles the record says it supplements
    citation: str  # APA, rendered by the CSL processor
    sandbox: bool

    @property
    def image_digest(self) -> str:
        return self.image.digest or ""

    @property
    def crate_digest(self) -> str:
        return self.crate.digest or ""

    @property
    def remote_inputs(self) -> tuple[InputFact, ...]:
        return tuple(i for i in self.inputs if not i.in_crate)


def supplement_to(attributes: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(r["relatedIdentifier"]).lower()
        for r in attributes.get("relatedIdentifiers") or []
        if isinstance(r, Mapping)
        and r.get("relationType") == "IsSupplementTo"
        and r.get("relatedIdentifierType") == "DOI"
    )


def _licence(attributes: Mapping[str, Any]) -> str | None:
    for rights in attributes.get("rightsList") or []:
        if isinstance(rights, Mapping) and (rights.get("rightsIdentifier") or rights.get("rights")):
            return str(rights.get("rightsIdentifier") or rights.get("rights"))
    return None


def gather(
    resolved: ResolvedDoi,
    plan: RerunPlan,
    crate: OciRef,
    image: OciRef,
    landing_url: str,
    citation: str,
) -> Facts:
    attrs = resolved.attributes
    inputs = tuple(
        InputFact(
            name=i.name,
            identifier=f"https://doi.org/{i.data.doi}" if i.data.doi else i.entity_id,
            sha256=i.sha256,
            size=i.size,
            license=i.data.license,
            in_crate=not i.remote,
        )
        for i in plan.inputs
    )
    return Facts(
        doi=resolved.doi,
        doi_url=f"https://doi.org/{resolved.doi}",
        landing_url=landing_url,
        title=title(attrs) or resolved.doi,
        creators=tuple(
            str(c.get("name")) for c in attrs.get("creators") or [] if isinstance(c, Mapping)
        ),
        year=str(attrs.get("publicationYear") or ""),
        version=str(attrs["version"]) if attrs.get("version") else None,
        publisher=publisher_name(attrs),
        license=_licence(attrs),
        crate=crate,
        image=image,
        inputs=inputs,
        outputs=tuple(OutputFact(o.path, o.sha256) for o in plan.outputs),
        papers=supplement_to(attrs),
        citation=citation,
        sandbox=resolved.source == "sandbox",
    )
