"""Outputs and logs of a run, hashed and checked against the manifest."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from preserve.capture.withheld import (
    Withheld,
)
from preserve.crate.model import (
    LOGS_DIR,
    OUTPUTS_DIR,
    FileRecord,
)
from preserve.errors import PreserveError
from preserve.hashing import hash_files
from preserve.manifest import Manifest
from preserve.mediatypes import guess
from preserve.scrub import Scrubber


def log_records(staging: Path) -> list[FileRecord]:
    records = []
    for name, what in (("stdout.txt", "Standard output"), ("stderr.txt", "Standard error")):
        path = staging / LOGS_DIR / name
        digest = hash_files([path])[path]
        records.append(
            FileRecord(
                id=f"{LOGS_DIR}/{name}",
                size=digest.size,
                sha256=digest.sha256,
                encoding_format="text/plain",
                description=f"{what} of the run.",
            )
        )
    return records


def collect_outputs(
    manifest: Manifest, staging: Path, secrets: Withheld, warnings: list[str]
) -> list[FileRecord]:
    """The declared outputs, hashed; refused if one carries a withheld credential."""
    outdir = staging / OUTPUTS_DIR
    present = [o for o in manifest.outputs if (outdir / o).is_file()]
    if secrets.values:
        withheld = Scrubber(secrets.values, shapes=False)  # outputs are data: values only
        for rel in present:
            if withheld.found(outdir / rel):
                raise PreserveError(
                    f"output {rel} contains a withheld credential value; no crate was written",
                    hint="do not write credentials into outputs",
                )
    declared = {str(PurePosixPath(o)) for o in manifest.outputs}
    undeclared = sorted(
        p.relative_to(outdir).as_posix()
        for p in outdir.rglob("*")
        if p.is_file() and p.relative_to(outdir).as_posix() not in declared
    )
    if undeclared:
        warnings.append(
            "outputs not declared in preserve.yaml are kept in the crate but not recorded "
            "or compared on rerun: " + ", ".join(undeclared[:10])
        )
    digests = hash_files([outdir / o for o in present])
    records = [
        FileRecord(
            id=f"{OUTPUTS_DIR}/{PurePosixPath(o).as_posix()}",
            size=digests[outdir / o].size,
            sha256=digests[outdir / o].sha256,
            encoding_format=guess(o),
            name=o,
        )
        for o in present
    ]
    return records
