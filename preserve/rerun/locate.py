"""Where a rerun starts: a DOI, an OCI reference, a crate directory or a crate folder on
storage (``https://``, ``davs://``: a function's invocation crate), as a crate on disk."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from preserve.crate.archive import is_zip, unzip_crate
from preserve.crate.model import CRATE_METADATA
from preserve.errors import CrateError
from preserve.hashing import hash_files
from preserve.locks import exclusive, lock_path
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
    """The crate behind ``target``, fetched into the content-addressed cache if remote.

    The cache is keyed by the *crate's* digest: an image reference is first turned
    into the reference of the crate that refers to it (the published one first).
    """
    from preserve.doi.resolve import resolve
    from preserve.push import crate_ref_for, pull_crate
    from preserve.rerun.remote import fetch_crate, is_crate_uri

    if is_crate_uri(target):
        return Origin(fetch_crate(target, settings, progress), None, None)
    path = Path(target)
    if path.is_dir():
        return Origin(path.resolve(), None, None)
    if is_zip(path):
        return Origin(_unzipped(path, settings), None, None)
    if looks_like_path(target):
        raise CrateError(
            f"no crate directory at {target}",
            hint="give a crate directory or .zip, an OCI reference "
            "(REGISTRY/REPOSITORY@sha256:...) or a DOI",
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
    crate_ref = ref if doi and ref.digest else crate_ref_for(store, ref, progress)
    digest = crate_ref.digest
    assert digest is not None
    cached = settings.cache_dir / "crates" / digest.replace(":", "-")
    # Concurrent reruns of one crate: one pulls (into a folder renamed when complete),
    # the others wait for the lock and find it cached.
    with exclusive(lock_path(settings.cache_dir, "crate", digest)):
        if not (cached / CRATE_METADATA).is_file():
            shutil.rmtree(cached, ignore_errors=True)  # an entry damaged by hand
            cached.parent.mkdir(parents=True, exist_ok=True)
            crate_ref = pull_crate(store, crate_ref, cached, progress).ref
        else:
            progress.step(f"crate {digest[:19]} is cached")
    return Origin(cached, doi, crate_ref.pinned())


def _unzipped(path: Path, settings: Settings) -> Path:
    """A zipped crate, unpacked once into the cache under the digest of the zip."""
    digest = hash_files([path])[path].sha256
    with exclusive(lock_path(settings.cache_dir, "zip", digest)):  # one unpacks, others wait
        return unzip_crate(path, settings.cache_dir / "crates" / f"zip-{digest}")
