"""``preserve publish``: make a preserved analysis citable with a DOI pinning its digests.

Order matters for correctness under failure:

1. push the image and the crate (idempotent: blobs already there are skipped);
2. derive the DOI from the crate digest (the same crate always maps to the same
   DOI), write it into the crate and push again, so the crate carries its DOI;
3. verify that the crate and the image are pullable by digest;
4. only then create or update the draft and make it findable.

An interrupted publish, run again, finds the DOI in the crate (or derives the
same one), updates the existing draft and publishes it: never a second DOI.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from preserve.crate.graph import Graph
from preserve.crate.io import read_document
from preserve.crate.update import crate_doi, set_doi
from preserve.doi.metadata import (
    Funding,
    InputData,
    Person,
    PublicationInfo,
    bare_doi,
    build_attributes,
    suffix_for,
)
from preserve.doi.mint import mint
from preserve.doi.providers import DoiProvider, open_provider
from preserve.errors import ConfigError, CrateError, IntegrityError
from preserve.oci.refs import OciRef, looks_like_path
from preserve.oci.stores import open_store
from preserve.progress import QUIET, Progress
from preserve.push import PushResult, pull, push
from preserve.settings import Settings

FORMATS = ("application/vnd.oci.image.manifest.v1+json", "application/ld+json")


@dataclass(frozen=True)
class PublishResult:
    doi: str
    url: str | None
    state: str
    provider: str
    crate_ref: OciRef
    image_ref: OciRef
    crate_dir: Path | None
    globally_resolvable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "doi": self.doi,
            "url": self.url,
            "crate_ref": str(self.crate_ref),
            "image_ref": str(self.image_ref),
            "state": self.state,
            "provider": self.provider,
            "globally_resolvable": self.globally_resolvable,
        }


def publish(
    target: str,
    *,
    settings: Settings,
    provider_name: str | None = None,
    to: str | None = None,
    supplement_to: tuple[str, ...] = (),
    cites: tuple[str, ...] = (),
    progress: Progress = QUIET,
) -> PublishResult:
    """Publish a crate directory, or a crate already in a registry given by reference."""
    provider = open_provider(settings, provider_name)  # configuration errors first
    path = Path(target)
    if path.is_dir():
        return _publish_dir(path, settings, provider, to, supplement_to, cites, progress)
    if looks_like_path(target):
        raise CrateError(
            f"no crate directory at {target}",
            hint="give a crate directory or the crate's OCI reference",
        )
    ref = OciRef.parse(target)
    work = Path(tempfile.mkdtemp(prefix="publish-", dir=_scratch(settings)))
    try:
        pulled = pull(target, work / "crate", settings=settings, progress=progress)
        # Republish where it came from: same registry and repository, tag from the crate.
        destination = to or str(ref.with_tag(None)).split("@")[0]
        return _publish_dir(
            pulled.directory,
            settings,
            provider,
            destination,
            supplement_to,
            cites,
            progress,
            keep_dir=False,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _scratch(settings: Settings) -> Path:
    path = settings.cache_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _publish_dir(
    crate_dir: Path,
    settings: Settings,
    provider: DoiProvider,
    to: str | None,
    supplement_to: tuple[str, ...],
    cites: tuple[str, ...],
    progress: Progress,
    *,
    keep_dir: bool = True,
) -> PublishResult:
    if provider.name != "sandbox" and _is_local(crate_dir, settings, to):
        raise ConfigError(
            f"the {provider.name} provider needs the crate in a registry others can reach",
            hint="configure a registry (PRESERVE_REGISTRY) or pass --to REGISTRY/REPOSITORY",
        )
    pushed = push(crate_dir, settings=settings, to=to, progress=progress)
    doi = crate_doi(crate_dir)
    if doi is None or not doi.lower().startswith(provider.prefix.lower() + "/"):
        doi = f"{provider.prefix}/{suffix_for(_digest(pushed))}"
    if set_doi(crate_dir, doi):
        progress.step(f"recording DOI {doi} in the crate and pushing it again")
        pushed = push(crate_dir, settings=settings, to=to, progress=progress)
    _verify_pullable(pushed, settings, progress)
    info = publication_info(
        crate_dir, doi, pushed, settings, provider, supplement_to=supplement_to, cites=cites
    )
    record = mint(provider, doi, build_attributes(info), progress=progress)
    return PublishResult(
        doi=record.doi,
        url=record.url,
        state=record.state,
        provider=provider.name,
        crate_ref=pushed.crate_ref,
        image_ref=pushed.image_ref,
        crate_dir=crate_dir if keep_dir else None,
        globally_resolvable=provider.name != "sandbox",
    )


def _digest(pushed: PushResult) -> str:
    assert pushed.crate_ref.digest is not None
    return pushed.crate_ref.digest


def _is_local(crate_dir: Path, settings: Settings, to: str | None) -> bool:
    if to:
        return OciRef.parse(to).is_local
    return settings.registry is None


def _verify_pullable(pushed: PushResult, settings: Settings, progress: Progress) -> None:
    """A DOI is never made findable before what it pins is verified pullable by digest."""
    progress.step("verifying the crate and the image are pullable by digest")
    store = open_store(settings, pushed.crate_ref)
    with tempfile.TemporaryDirectory(dir=_scratch(settings)) as tmp:
        store.pull_crate(pushed.crate_ref, Path(tmp) / "check", progress=QUIET)
    for ref in (pushed.crate_ref, pushed.image_ref):
        if store.resolve(ref) != ref.digest:
            raise IntegrityError(f"{ref} does not resolve to its digest; not publishing")


def publication_info(
    crate_dir: Path,
    doi: str,
    pushed: PushResult,
    settings: Settings,
    provider: DoiProvider,
    *,
    supplement_to: tuple[str, ...] = (),
    cites: tuple[str, ...] = (),
) -> PublicationInfo:
    """The DataCite-relevant facts of a crate, from its JSON-LD and its manifest."""
    g = Graph(read_document(crate_dir))
    root = g.root()
    action = g.main_action() or {}
    software = g.get(next(iter(g.ids(action.get("instrument"))), ""))
    manifest = _manifest_data(crate_dir)
    related = manifest.get("related") or {}
    creators = [_person(g, pid) for pid in g.ids(root.get("author"))]
    if not creators:
        raise CrateError(
            "the crate names no authors; DataCite needs at least one creator",
            hint="add authors to preserve.yaml and capture again",
        )
    publisher = settings.publisher
    pub_entity = g.get(next(iter(g.ids(root.get("publisher"))), ""))
    publisher_name = publisher.name if publisher else pub_entity.get("name")
    publisher_ror = publisher.ror if publisher else pub_entity.get("url")
    if not publisher_name:
        raise ConfigError(
            "no publisher for the DOI metadata",
            hint="set [publisher] name (and ror) in the config, or give authors an affiliation",
        )
    licence = g.get(next(iter(g.ids(root.get("license"))), ""))
    inputs = [
        InputData(name=str(e.get("name", oid)), uri=oid, doi=_doi_of(e.get("identifier")))
        for oid in g.ids(action.get("object"))
        if oid.startswith(("http://", "https://", "dav://", "davs://", "file://"))
        for e in [g.get(oid)]
    ]
    return PublicationInfo(
        doi=doi,
        title=str(root.get("name", "")),
        description=root.get("description"),
        version=root.get("version"),
        license=licence.get("identifier"),
        keywords=[k.strip() for k in str(root.get("keywords", "")).split(",") if k.strip()],
        creators=creators,
        publisher_name=str(publisher_name),
        publisher_ror=publisher_ror,
        publication_year=datetime.now(UTC).year,
        created=str(action.get("endTime", ""))[:10] or None,
        crate_ref=pushed.crate_ref,
        image_ref=pushed.image_ref,
        crate_size=_crate_size(crate_dir),
        formats=FORMATS,
        inputs=inputs,
        source_repository=software.get("codeRepository"),
        source_commit=g.get("#git-commit").get("value"),
        supplement_to=[bare_doi(d) for d in (*related.get("supplement_to", ()), *supplement_to)],
        cites=[bare_doi(d) for d in (*related.get("cites", ()), *cites)],
        funding=[Funding(**f) for f in manifest.get("funding") or ()],
        sandbox=provider.name == "sandbox",
        store_dir=settings.store_dir,
    )


def _manifest_data(crate_dir: Path) -> dict[str, Any]:
    path = crate_dir / "analysis" / "preserve.yaml"
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _person(g: Graph, pid: str) -> Person:
    entity = g.get(pid)
    org = g.get(next(iter(g.ids(entity.get("affiliation"))), ""))
    ror = org.get("@id") if str(org.get("@id", "")).startswith("https://ror.org/") else None
    return Person(
        name=str(entity.get("name", pid)),
        given_name=entity.get("givenName"),
        family_name=entity.get("familyName"),
        orcid=pid.rsplit("/", 1)[-1] if pid.startswith("https://orcid.org/") else None,
        affiliation=org.get("name"),
        affiliation_ror=ror,
    )


def _doi_of(identifier: Any) -> str | None:
    if isinstance(identifier, str) and "doi.org/10." in identifier:
        return bare_doi(identifier)
    return None


def _crate_size(crate_dir: Path) -> int:
    return sum(p.stat().st_size for p in crate_dir.rglob("*") if p.is_file())
