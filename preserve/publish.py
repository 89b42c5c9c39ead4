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

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.catalogue.client import submit
from preserve.crate.archive import crate_folder, is_zip
from preserve.crate.model import CRATE_METADATA, FAILED
from preserve.crate.read import Person, read_crate
from preserve.crate.update import crate_doi, set_doi
from preserve.doi.metadata import (
    InputData,
    PublicationInfo,
    bare_doi,
    build_attributes,
    suffix_for,
)
from preserve.doi.metadata import Person as DoiPerson
from preserve.doi.mint import mint
from preserve.doi.providers import DoiProvider, open_provider
from preserve.errors import ConfigError, CrateError, IntegrityError
from preserve.oci.refs import OciRef, looks_like_path
from preserve.oci.stores import open_store
from preserve.progress import QUIET, Progress
from preserve.push import PushResult, pull, push, target_for, writable_crate
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
    allow_failed: bool = False,
) -> PublishResult:
    """Publish a crate directory, or a crate already in a registry given by reference.

    A crate whose run failed gets no DOI, unless ``allow_failed``: then its DOI
    metadata says that the run failed, and why.
    """
    provider = open_provider(settings, provider_name)  # configuration errors first
    path = Path(target)
    if path.is_dir():
        return _publish_dir(
            path, settings, provider, to, supplement_to, cites, progress, allow_failed=allow_failed
        )
    if is_zip(path):  # published from an unpacked copy: the zip stays as it is
        with crate_folder(path, _scratch(settings)) as crate_dir:
            return _publish_dir(
                crate_dir,
                settings,
                provider,
                to,
                supplement_to,
                cites,
                progress,
                keep_dir=False,
                allow_failed=allow_failed,
            )
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
            allow_failed=allow_failed,
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
    allow_failed: bool = False,
) -> PublishResult:
    writable_crate(crate_dir)  # another tool's crate: refused before anything is pushed
    failure = run_failure(crate_dir)
    if failure and not allow_failed:
        raise CrateError(
            f"the crate records a failed run ({failure}); a DOI would present it as a result",
            hint="fix the analysis and capture it again, or pass --allow-failed-run to publish "
            "it with the failure stated in the DOI metadata",
        )
    if not provider.local_only and _is_local(crate_dir, settings, to):
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
    if failure:
        note = f"The recorded run failed: {failure}."
        info = replace(info, description=f"{note} {info.description or ''}".strip())
    attributes = build_attributes(info)
    landing = None
    if settings.catalogue.url:  # the landing page knows the DOI before the DOI resolves to it
        progress.step(f"sending {doi} to the catalogue at {settings.catalogue.url}")
        submit(settings, doi, attributes, crate_dir / CRATE_METADATA)
        landing = (settings.landing_url or "").replace("{doi}", doi) or None
    record = mint(provider, doi, attributes, url=landing, progress=progress)
    return PublishResult(
        doi=record.doi,
        url=record.url,
        state=record.state,
        provider=provider.name,
        crate_ref=pushed.crate_ref,
        image_ref=pushed.image_ref,
        crate_dir=crate_dir if keep_dir else None,
        globally_resolvable=provider.globally_resolvable,
    )


def run_failure(crate_dir: Path) -> str | None:
    """Why the crate's run failed (first line), or None when it completed."""
    action = read_crate(crate_dir).action
    if action is None or action.status != FAILED:
        return None
    return (action.error or "no reason recorded").splitlines()[0]


def _digest(pushed: PushResult) -> str:
    assert pushed.crate_ref.digest is not None
    return pushed.crate_ref.digest


def _is_local(crate_dir: Path, settings: Settings, to: str | None) -> bool:
    return target_for(read_crate(crate_dir), settings, to).is_local


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
    """The DataCite-relevant facts of a crate, all from its JSON-LD."""
    view = read_crate(crate_dir)
    root, software = view.root, view.instrument
    if not root.authors:
        raise CrateError(
            "the crate names no authors; DataCite needs at least one creator",
            hint="add authors to preserve.yaml and capture again",
        )
    publisher = settings.publisher or root.publisher
    publisher_name = publisher.name if publisher else None
    publisher_ror = publisher.ror if publisher else None
    if not publisher_name:
        raise ConfigError(
            "no publisher for the DOI metadata",
            hint="set [publisher] name (and ror) in the config, or give authors an affiliation",
        )
    source_url = software.url if software else None
    if source_url and source_url.startswith(f"https://doi.org/{doi}"):
        source_url = None  # the code has no address but this DOI
    return PublicationInfo(
        doi=doi,
        title=root.name or "",
        description=root.description,
        version=root.version,
        license=root.license_name,
        keywords=list(root.keywords),
        creators=[_person(p) for p in root.authors],
        publisher_name=publisher_name,
        publisher_ror=publisher_ror,
        publication_year=datetime.now(UTC).year,
        created=(view.action.end or "")[:10] or None if view.action else None,  # run's day
        crate_ref=pushed.crate_ref,
        image_ref=pushed.image_ref,
        metadata_digest=_sha256(crate_dir / CRATE_METADATA),
        image_id=view.image.image_id if view.image else None,
        crate_size=_crate_size(crate_dir),
        formats=FORMATS,
        inputs=[
            InputData(name=d.name or d.id, uri=d.id, doi=d.doi) for d in view.inputs if d.remote
        ],
        source_url=source_url,
        source_commit=view.source.commit,
        supplement_to=[bare_doi(d) for d in (*root.supplement_to, *supplement_to)],
        cites=[bare_doi(d) for d in (*root.cites, *cites)],
        funding=list(root.funding),
        sandbox=provider.local_only,
        store_dir=settings.store_dir,
    )


def _person(p: Person) -> DoiPerson:
    org = p.affiliation
    return DoiPerson(
        name=p.name,
        given_name=p.given_name,
        family_name=p.family_name,
        orcid=p.orcid,
        affiliation=org.name if org else None,
        affiliation_ror=org.ror if org else None,
    )


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _crate_size(crate_dir: Path) -> int:
    return sum(p.stat().st_size for p in crate_dir.rglob("*") if p.is_file())
