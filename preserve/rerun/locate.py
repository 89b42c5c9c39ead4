"""Where a rerun starts: a DOI, an OCI reference or a crate directory, as a crate on disk."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from preserve.errors import CrateError
from preserve.oci.refs import OciRef, looks_like_path
from preserve.oci.stores import open_store
from preserve.progress import Progress
from preserve.settings import Settings

_DOI = re.compile(r"^(doi:|https?://(dx\.)?doi\.org/)?10\.\d{4,9}/\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Origin:
    crate_dir: Path
    doi: str | None
    crate_ref: OciRef | None


def is_doi(text: str) -> bool:
    return bool(_DOI.match(text.strip()))


def locate(target: str, settings: Settings, progress: Progress) -> Origin:
    """The crate behind ``target``, fetched into the content-addressed cache if remote."""
    from preserve.doi.resolve import resolve
    from preserve.push import pull

    path = Path(target)
    if path.is_dir():
        return Origin(path.resolve(), None, None)
    if looks_like_path(target):
        raise CrateError(
            f"no crate directory at {target}",
            hint="give a crate directory, an OCI reference (REGISTRY/REPOSITORY@sha256:...) "
            "or a DOI",
        )
    doi = None
    if is_doi(target):
        record = resolve(target, settings)
        if record.crate_ref is None:
            raise CrateError(
                f"the DOI {record.doi} pins no crate artifact",
                hint="only DOIs published by preserve (or naming an OCI crate) can be rerun",
            )
        doi, ref = record.doi, record.crate_ref
        progress.step(f"{doi} pins {ref}")
    else:
        ref = OciRef.parse(target)
    store = open_store(settings, ref)
    digest = ref.digest or store.resolve(ref)
    cached = settings.cache_dir / "crates" / digest.replace(":", "-")
    if not (cached / "ro-crate-metadata.json").is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        pulled = pull(str(ref.with_digest(digest)), cached, settings=settings, progress=progress)
        ref = pulled.ref
    else:
        progress.step(f"crate {digest[:19]} is cached")
        ref = ref.with_digest(digest)
    return Origin(cached, doi, ref.pinned())
