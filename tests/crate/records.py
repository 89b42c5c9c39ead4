"""A complete CrateRecord built by hand (no Docker), for write -> read -> compare tests."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.crate.io import write_metadata
from preserve.crate.model import (
    ConfigRecord,
    CrateRecord,
    EnvRecord,
    FileRecord,
    ImageRecord,
    InputRecord,
    RunRecord,
)
from preserve.manifest import Affiliation, Author, Funding, Manifest
from preserve.settings import Publisher
from preserve.source import SourceInfo

COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
IMAGE_ID = "sha256:" + "c0" * 32
DESY = "https://ror.org/01js2sh04"


def _file(crate: Path, rel: str, data: bytes, fmt: str, **extra: Any) -> FileRecord:
    path = crate / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return FileRecord(rel, len(data), hashlib.sha256(data).hexdigest(), fmt, **extra)


def manifest(**changes: Any) -> Manifest:
    m = Manifest(
        name="azint",
        title="Azimuthal integration",
        command=("python3", "/app/run.py", "{inputs.frames}", "{inputs.mask}", "{outdir}"),
        outputs=("profile.csv",),
        description="Integrates frames.",
        version="1.2.0",
        license="MIT",
        url="https://gitlab.example.org/lab/azint",
        authors=(
            Author(
                "Ada Lovelace",
                orcid="0000-0002-1825-0097",
                affiliation=Affiliation("DESY", DESY),
                given_name="Ada",
                family_name="Lovelace",
            ),
            Author("Grace Hopper"),
        ),
        keywords=("powder diffraction", "pyFAI"),
        workdir="/work",
        config="config.json",
        network=False,
        memory="2g",
        cpus=1.5,
        timeout=600.0,
        rtol=0.0,
        atol=1e-6,
        supplement_to=("10.1107/S1600576715004306",),
        cites=("10.1107/S1600576714019906",),
        funding=(Funding("BMBF", "https://ror.org/04pz7b180", "05K22CB1"),),
    )
    return replace(m, **changes)


def write_sample(crate: Path, **changes: Any) -> CrateRecord:
    """Write a crate of one run (two inputs, a folder input, config, env, one output)."""
    crate.mkdir(parents=True, exist_ok=True)
    code = _file(crate, "analysis/run.py", b"print('hi')\n", "text/x-python")
    config = _file(crate, "analysis/config.json", b'{"bins": 100}\n', "application/json")
    mask = _file(crate, "analysis/data/mask.h5", b"\x89HDF mask", "application/x-hdf5")
    (crate / "analysis/data/scan/sub").mkdir(parents=True)
    (crate / "analysis/data/scan/a.tif").write_bytes(b"a")
    (crate / "analysis/data/scan/sub/b.tif").write_bytes(b"b")
    listing = _file(
        crate,
        "checksums/scan.sha256",
        b"".join(
            f"{hashlib.sha256(d).hexdigest()}  {n}\n".encode()
            for n, d in (("a.tif", b"a"), ("sub/b.tif", b"b"))
        ),
        "text/plain",
    )
    out = _file(crate, "outputs/profile.csv", b"q,I\n1,2\n", "text/csv")
    start = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)
    record = CrateRecord(
        manifest=manifest(),
        source=SourceInfo(commit=COMMIT, remote="/home/ada/azint", dirty=True, is_git=True),
        image=ImageRecord(
            IMAGE_ID,
            "preserve-azint",
            "abc123",
            "localhost",
            None,
            "repo2docker",
            "2024.7.0",
            "DockerBuildPack",
        ),
        run=RunRecord(
            id="#run-1",
            command=("python3", "/app/run.py", "/preserve/inputs/frames/frames.h5"),
            command_template=manifest().command,
            start=start,
            end=start.replace(minute=5),
            exit_code=0,
            peak_memory=1234,
            cpu_seconds=1.5,
            workdir="/work",
            memory="2g",
            cpus=1.5,
            timeout=600.0,
        ),
        inputs=(
            InputRecord(
                "frames",
                "https://data.example.org/scan42/frames.h5",
                "/preserve/inputs/frames/frames.h5",
                756641,
                "e2" * 32,
                "application/x-hdf5",
                remote=True,
                sd_date_published="2026-03-14T09:59:00.000+00:00",
                checksums={"md5": "ab" * 16, "adler32": "0a0b0c0d"},
                doi="10.5281/zenodo.1",
            ),
            InputRecord(
                "mask",
                mask.id,
                "/preserve/inputs/mask/mask.h5",
                mask.size,
                mask.sha256,
                "application/x-hdf5",
                remote=False,
            ),
            InputRecord(
                "scan",
                "analysis/data/scan/",
                "/preserve/inputs/scan",
                2,
                None,
                None,
                remote=False,
                is_dir=True,
                file_count=2,
                checksum_manifest=listing.id,
            ),
        ),
        outputs=(out,),
        env=(
            EnvRecord("OMP_NUM_THREADS", "4"),
            EnvRecord("API_TOKEN", None, withheld=True),
            EnvRecord("UNSET", None),
        ),
        config=ConfigRecord(config, "/preserve/config/config.json", ("password",)),
        analysis_files=(code,),
        extra_files=(listing,),
        date_published="2026-03-14T10:06:00.000+00:00",
        preserve_version="0.1.0",
        publisher=Publisher(name="DESY", ror=DESY),
    )
    record = replace(record, **changes)
    write_metadata(record, crate)
    return record
