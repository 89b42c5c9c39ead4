"""A realistic PublicationInfo, varied per test with dataclasses.replace."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from preserve.doi.metadata import Funding, InputData, Person, PublicationInfo, suffix_for
from preserve.oci.refs import OciRef

CRATE_DIGEST = "sha256:" + "3f" * 32
IMAGE_DIGEST = "sha256:" + "a1" * 32
METADATA_DIGEST = "sha256:" + "5e" * 32  # the crate's ro-crate-metadata.json blob
IMAGE_ID = "sha256:" + "c0" * 32  # the image's config blob
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
ORCID = "0000-0002-1825-0097"  # ORCID's documented example iD (valid checksum)
ROR_DESY = "https://ror.org/01js2sh04"


def sample_info(prefix: str = "10.5072", **changes: Any) -> PublicationInfo:
    info = PublicationInfo(
        doi=f"{prefix}/{suffix_for(CRATE_DIGEST)}",
        title="Azimuthal integration of a LaB6 calibration run",
        description="pyFAI integration of 20 detector frames into 1D patterns.",
        version="1.2.0",
        license="MIT",
        keywords=["powder diffraction", "pyFAI", "powder diffraction"],
        creators=[
            Person("Ada Lovelace", "Ada", "Lovelace", ORCID, "DESY", ROR_DESY),
            Person("Grace Hopper"),
        ],
        publisher_name="Deutsches Elektronen-Synchrotron DESY",
        publisher_ror=ROR_DESY,
        publication_year=2026,
        created="2026-03-14",
        crate_ref=OciRef.parse(f"registry.example.org/lab/integrate-crate@{CRATE_DIGEST}"),
        image_ref=OciRef.parse(f"registry.example.org/lab/integrate@{IMAGE_DIGEST}"),
        metadata_digest=METADATA_DIGEST,
        image_id=IMAGE_ID,
        crate_size=48213,
        formats=["application/vnd.preserve.rocrate.v1", "application/ld+json"],
        inputs=[
            InputData("frames", "davs://dcache.example.org/pnfs/lab/run42/frames.h5"),
            InputData("calibration", "https://data.example.org/lab6.poni", "doi:10.5281/zenodo.1"),
        ],
        source_url=f"https://github.com/example-lab/integrate/tree/{COMMIT}",
        source_commit=COMMIT,
        supplement_to=["https://doi.org/10.1107/S1600576715004306"],
        cites=["10.1107/S1600576714019906"],
        funding=[Funding("Bundesministerium für Bildung und Forschung", "04pz7b180", "05K22CB1")],
        sandbox=prefix == "10.5072",
        store_dir=None,
    )
    return replace(info, **changes)


def local_info(store_dir: Path, **changes: Any) -> PublicationInfo:
    """Crate and image in the local layout store (local: references)."""
    return sample_info(
        crate_ref=OciRef.parse(f"local:integrate-crate@{CRATE_DIGEST}"),
        image_ref=OciRef.parse(f"local:integrate@{IMAGE_DIGEST}"),
        store_dir=store_dir,
        **changes,
    )
