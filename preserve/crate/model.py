"""What a crate records about one run, as plain domain objects.

The JSON-LD graph (``jsonld.py``) and the run recipe ``preserve-run.json``
are both written from a :class:`CrateRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from preserve.manifest import Manifest
from preserve.settings import Publisher
from preserve.source import SourceInfo

CRATE_METADATA = "ro-crate-metadata.json"
CRATE_PREVIEW = "ro-crate-preview.html"
RUN_SPEC = "preserve-run.json"
ANALYSIS_DIR = "analysis"
OUTPUTS_DIR = "outputs"
LOGS_DIR = "logs"
# Rerun crates: the comparison report and the folder of its plots (preserve/report/).
REPORT_PAGE = "report.html"
REPORT_DIR = "report"
MOUNT_ROOT = "/preserve"
OUTDIR_MOUNT = f"{MOUNT_ROOT}/outputs"

COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"


@dataclass(frozen=True)
class FileRecord:
    """A file in the crate (relative ``id``) or on the web (absolute URI ``id``)."""

    id: str
    size: int
    sha256: str
    encoding_format: str
    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class InputRecord:
    name: str
    id: str  # the URI, or the path inside the crate ("analysis/data/mask.h5")
    mount: str  # where the run saw it
    size: int
    sha256: str | None  # None for a folder (see checksum_manifest)
    encoding_format: str | None
    remote: bool
    is_dir: bool = False
    sd_date_published: str | None = None  # when a remote input was accessed
    checksums: Mapping[str, str] = field(default_factory=dict)  # reported by the storage
    doi: str | None = None
    description: str | None = None
    file_count: int | None = None  # folders
    checksum_manifest: str | None = None  # crate path of "<sha256>  <path>" lines for a folder


@dataclass(frozen=True)
class EnvRecord:
    name: str
    value: str | None  # None when withheld
    withheld: bool = False


@dataclass(frozen=True)
class ConfigRecord:
    file: FileRecord
    mount: str
    withheld_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageRecord:
    image_id: str  # sha256:<config digest>
    name: str  # repository name
    tag: str | None
    registry: str  # "localhost" until pushed; then the registry host, or "local" for the store
    digest: str | None = None  # manifest digest once pushed
    builder: str = "repo2docker"
    builder_version: str | None = None
    buildpack: str | None = None


@dataclass(frozen=True)
class RunRecord:
    id: str  # "#run-<uuid>"
    command: tuple[str, ...]  # as run, placeholders substituted
    command_template: tuple[str, ...]
    start: datetime
    end: datetime
    exit_code: int
    peak_memory: int | None
    cpu_seconds: float | None
    oom_killed: bool = False
    timed_out: bool = False
    error: str | None = None
    workdir: str | None = None
    network: bool = False
    memory: str | None = None
    cpus: float | None = None
    timeout: float | None = None
    runner: str = "docker"
    runner_version: str | None = None
    user: str | None = None  # the user the command ran as in the container

    @property
    def status(self) -> str:
        ok = self.exit_code == 0 and not self.oom_killed and not self.timed_out and not self.error
        return COMPLETED if ok else FAILED


@dataclass(frozen=True)
class Verdict:
    """A rerun's verdict on one output (rerun crates only)."""

    path: str
    verdict: str
    summary: str


@dataclass(frozen=True)
class CrateRecord:
    manifest: Manifest
    source: SourceInfo
    image: ImageRecord
    run: RunRecord
    inputs: tuple[InputRecord, ...]
    outputs: tuple[FileRecord, ...]
    env: tuple[EnvRecord, ...]
    config: ConfigRecord | None
    analysis_files: tuple[FileRecord, ...]
    extra_files: tuple[FileRecord, ...]  # logs, inventory, diff, checksum manifests
    date_published: str  # ISO 8601 date-time
    preserve_version: str
    publisher: Publisher | None = None
    doi: str | None = None
    based_on: str | None = None  # rerun crates: the original crate/DOI
    instrument_id: str | None = None  # rerun crates: the original's instrument
    verdicts: tuple[Verdict, ...] = ()
    reproduced: bool | None = None
