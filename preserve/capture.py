"""``preserve capture``: run an analysis in its environment and record it as an RO-Crate.

The crate is assembled in a hidden directory beside the target and moved into
place only when complete, so a failure never leaves half a crate where a
complete one is expected. A run that fails still yields a crate, marked with
``FailedActionStatus``, for debugging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from preserve import __version__
from preserve.builders.base import BuiltImage, open_builder
from preserve.crate.io import dumps, write_metadata
from preserve.crate.jsonld import iso
from preserve.crate.model import (
    ANALYSIS_DIR,
    COMPLETED,
    FAILED,
    LOGS_DIR,
    MOUNT_ROOT,
    OUTDIR_MOUNT,
    OUTPUTS_DIR,
    ConfigRecord,
    CrateRecord,
    EnvRecord,
    FileRecord,
    ImageRecord,
    InputRecord,
    RunRecord,
)
from preserve.crate.target import check_target, finalize, staging_dir
from preserve.errors import PreserveError, RunError
from preserve.hashing import copy_tree_with_hash, copy_with_hash, hash_files
from preserve.inventory import software_inventory
from preserve.manifest import InputSpec, Manifest, load_manifest
from preserve.mediatypes import guess
from preserve.progress import QUIET, Progress
from preserve.runners.base import Mount, RunResult, RunSpec, open_runner
from preserve.secrets import is_secret, redact_config, scrub
from preserve.settings import Publisher, Settings
from preserve.source import SourceInfo, source_info

# A local input folder with more files than this is not listed file by file in
# the JSON-LD; a sha256sum-style checksum manifest in the crate covers it.
LIST_LIMIT = 1000
STDERR_TAIL = 20


@dataclass(frozen=True)
class CaptureResult:
    crate_dir: Path
    image: BuiltImage
    record: CrateRecord
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "crate": str(self.crate_dir),
            "status": "completed" if self.record.run.status == COMPLETED else "failed",
            "image": {
                "id": self.image.image_id,
                "digest": self.record.image.digest,
                "tag": self.image.tag,
            },
            "outputs": [
                {"path": o.id.removeprefix(f"{OUTPUTS_DIR}/"), "size": o.size, "sha256": o.sha256}
                for o in self.record.outputs
            ],
            "warnings": list(self.warnings),
        }


@dataclass
class _Staged:
    """What is known about one input before the run."""

    spec: InputSpec
    record: InputRecord
    host_path: Path


@dataclass
class _Secrets:
    values: list[str] = field(default_factory=list)


def default_crate_dir(manifest: Manifest) -> Path:
    return Path.cwd() / f"{manifest.name}-crate"


def capture(
    directory: Path,
    *,
    settings: Settings,
    output: Path | None = None,
    allow_dirty: bool = False,
    overwrite: bool = False,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
) -> CaptureResult:
    """Build, run and record the analysis in ``directory``; see the module docstring."""
    directory = directory.resolve()
    environ = os.environ if environ is None else environ
    manifest = load_manifest(directory)
    crate_dir = (output or default_crate_dir(manifest)).resolve()
    check_target(crate_dir, overwrite)
    source = source_info(directory, allow_dirty=allow_dirty, exclude=(crate_dir,))

    staging = staging_dir(crate_dir)
    try:
        result = _capture_into(
            staging, directory, manifest, source, settings, progress, environ, crate_dir
        )
        finalize(staging, crate_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result = CaptureResult(crate_dir, result.image, result.record, result.warnings)
    run = result.record.run
    if run.status == FAILED:
        raise RunError(
            f"the analysis failed: {run.error}",
            hint=f"the crate {crate_dir} records the failed run (FailedActionStatus) "
            "with its stdout and stderr under logs/",
        )
    return result


def _capture_into(
    staging: Path,
    directory: Path,
    manifest: Manifest,
    source: SourceInfo,
    settings: Settings,
    progress: Progress,
    environ: Mapping[str, str],
    crate_dir: Path,
) -> CaptureResult:
    secrets = _Secrets()
    warnings = metadata_warnings(manifest, source)
    inputs = _stage_inputs(manifest, directory, settings, progress)
    secrets.values += [v for i in manifest.inputs if i.uri for v in uri_secrets(i.uri)]
    image = open_builder(manifest.builder).build(directory, manifest, progress=progress)

    progress.step("copying the analysis into the crate")
    analysis_files, input_records, extra_files = _copy_analysis(
        directory, manifest, staging, inputs, exclude=(crate_dir, staging)
    )
    config = _config(directory, manifest, staging, secrets)
    env = _env(manifest, environ, secrets)

    sources = {s.spec.name: s.host_path for s in inputs}
    sources |= {i.name: directory / str(i.path) for i in manifest.inputs if i.path is not None}
    progress.step(f"running the analysis: {' '.join(manifest.command)}")
    run = _run(
        directory,
        manifest,
        staging,
        image,
        input_records,
        sources,
        config,
        environ,
        secrets,
        settings,
        progress,
    )
    outputs, run = _collect_outputs(manifest, staging, run, secrets, warnings)

    progress.step("recording the software inventory of the image")
    inventory = software_inventory(image.image_id, settings.cache_dir, settings.runner)
    extra_files += _write_extra(
        staging,
        "environment/software.json",
        dumps(inventory).encode(),
        "Software inventory of the image: OS, Debian, Python and conda packages.",
    )
    extra_files += _log_records(staging)
    if source.dirty and source.diff is not None:
        extra_files += _write_extra(
            staging,
            "analysis.diff",
            source.diff.encode(),
            "Uncommitted changes of the analysis at capture time.",
        )
    if secrets.values:
        analysis_files = _scrub_analysis(staging, analysis_files, secrets)

    record = CrateRecord(
        manifest=manifest,
        source=source,
        image=_image_record(image, manifest),
        run=run,
        inputs=tuple(input_records),
        outputs=tuple(outputs),
        env=tuple(env),
        config=config,
        analysis_files=tuple(analysis_files),
        extra_files=tuple(extra_files),
        date_published=iso(datetime.now(UTC)),
        preserve_version=__version__,
        publisher=settings.publisher or _first_affiliation(manifest),
    )
    write_metadata(record, staging)
    return CaptureResult(staging, image, record, tuple(warnings))


def metadata_warnings(manifest: Manifest, source: SourceInfo) -> list[str]:
    """What the crate will lack for a fully valid Process Run Crate, said up front."""
    out = []
    if not manifest.license:
        out.append(
            "no 'license' in preserve.yaml: RO-Crate 1.1 requires one on the crate's "
            "root, so the crate will not validate"
        )
    if not manifest.authors:
        out.append(
            "no 'authors' in preserve.yaml: the crate has no author or agent, and "
            "a DOI cannot be published for it"
        )
    elif not any(a.affiliation for a in manifest.authors):
        out.append("no author has an 'affiliation': RO-Crate recommends one")
    if not manifest.url and not (source.remote or "").startswith(("https://", "http://", "git@")):
        out.append(
            "no 'url' in preserve.yaml and no web git remote: the analysis code gets "
            "no absolute URI, which the Process Run Crate profile recommends"
        )
    return out


def _first_affiliation(manifest: Manifest) -> Publisher | None:
    for author in manifest.authors:
        if author.affiliation:
            return Publisher(name=author.affiliation.name, ror=author.affiliation.ror)
    return None


def _image_record(image: BuiltImage, manifest: Manifest) -> ImageRecord:
    ref = image.tag or (manifest.image or "")
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    registry = "localhost"
    if image.builder == "image" and "/" in name:
        first = name.split("/", 1)[0]
        if "." in first or ":" in first:
            registry, name = first, name.split("/", 1)[1]
    return ImageRecord(
        image_id=image.image_id,
        name=name or f"preserve-{manifest.name}",
        tag=tag or None,
        registry=registry,
        builder=image.builder,
        builder_version=image.builder_version,
        buildpack=image.buildpack,
    )


# -- inputs -------------------------------------------------------------------------------


def uri_secrets(uri: str) -> list[str]:
    """Credential values carried in a URI (user info, authz/token query values)."""
    from urllib.parse import parse_qsl, urlsplit

    from preserve.data.base import redact

    parts = urlsplit(uri)
    found = [parts.password] if parts.password else []
    if redact(uri) != uri:
        redacted = dict(parse_qsl(urlsplit(redact(uri)).query, keep_blank_values=True))
        found += [v for k, v in parse_qsl(parts.query) if redacted.get(k) == "***" and v]
    return found


def input_mount(name: str, source_name: str, is_dir: bool) -> str:
    return f"{MOUNT_ROOT}/inputs/{name}" + ("" if is_dir else f"/{source_name}")


def _stage_inputs(
    manifest: Manifest, directory: Path, settings: Settings, progress: Progress
) -> list[_Staged]:
    from preserve.data.base import redact
    from preserve.data.stage import stage

    staged = []
    for spec in manifest.inputs:
        if spec.uri is None:
            continue
        progress.step(f"staging input '{spec.name}' from {spec.uri}")
        data = stage(spec.name, spec.uri, settings, expected_sha256=spec.sha256, progress=progress)
        basename = PurePosixPath(spec.uri.split("?", 1)[0]).name or spec.name
        # A credential in the URI (user info, ?authz=<macaroon>, ...) never enters the crate.
        recorded_uri = redact(spec.uri)
        record = InputRecord(
            name=spec.name,
            id=recorded_uri,
            mount=input_mount(spec.name, basename, False),
            size=data.size,
            sha256=data.sha256,
            encoding_format=data.info.encoding_format or guess(basename),
            remote=True,
            sd_date_published=iso(datetime.now(UTC)),
            checksums={k: v for k, v in data.info.checksums.items() if k != "sha256"},
            doi=spec.doi,
            description=spec.description,
        )
        staged.append(_Staged(spec, record, data.path))
    return staged


def _list_files(directory: Path, exclude: tuple[Path, ...]) -> list[str]:
    """Files of the analysis: git's view (tracked + untracked, not ignored) or a walk."""
    proc = subprocess.run(
        [
            "git",
            "-C",
            str(directory),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ],
        capture_output=True,
    )
    if proc.returncode == 0:
        names = [n for n in proc.stdout.decode().split("\0") if n]
    else:
        names = []
        for root, dirs, files in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__"))
            names += [Path(root, f).relative_to(directory).as_posix() for f in files]
    out = []
    for name in sorted(set(names)):
        path = directory / name
        if any(path.is_relative_to(e) for e in exclude) or not path.is_file() or path.is_symlink():
            continue
        out.append(name)
    return out


def _copy_analysis(
    directory: Path,
    manifest: Manifest,
    staging: Path,
    remote: list[_Staged],
    exclude: tuple[Path, ...],
) -> tuple[list[FileRecord], list[InputRecord], list[FileRecord]]:
    """Copy the analysis (hashing as it streams) and describe its local inputs."""
    target = staging / ANALYSIS_DIR
    local_specs = [i for i in manifest.inputs if i.path is not None]
    folders = [s for s in local_specs if (directory / str(s.path)).is_dir()]
    folder_prefixes = tuple(
        f"{PurePosixPath(str(s.path)).as_posix().rstrip('/')}/" for s in folders
    )
    names = [
        n
        for n in _list_files(directory, exclude)
        if not n.startswith(folder_prefixes) and n != manifest.config
    ]
    for spec in local_specs:  # declared inputs are included even if git ignores them
        if spec not in folders and spec.path not in names:
            names.append(str(PurePosixPath(str(spec.path))))
    digests = _copy_files(directory, target, sorted(set(names)))

    records: dict[str, InputRecord] = {s.spec.name: s.record for s in remote}
    extra: list[FileRecord] = []
    for spec in local_specs:
        rel = PurePosixPath(str(spec.path)).as_posix().rstrip("/")
        crate_id = f"{ANALYSIS_DIR}/{rel}"
        if spec in folders:
            entries = copy_tree_with_hash(directory / rel, target / rel)
            listing = "".join(f"{e.sha256}  {e.relpath}\n" for e in entries).encode()
            manifest_file = _write_extra(
                staging,
                f"checksums/{spec.name}.sha256",
                listing,
                f"SHA-256 of every file of input '{spec.name}' (sha256sum format).",
            )
            extra += manifest_file
            records[spec.name] = InputRecord(
                name=spec.name,
                id=f"{crate_id}/",
                mount=input_mount(spec.name, "", True),
                size=sum(e.size for e in entries),
                sha256=None,
                encoding_format=None,
                remote=False,
                is_dir=True,
                doi=spec.doi,
                description=spec.description,
                file_count=len(entries),
                checksum_manifest=manifest_file[0].id,
            )
        else:
            size, sha = digests[rel]
            records[spec.name] = InputRecord(
                name=spec.name,
                id=crate_id,
                mount=input_mount(spec.name, PurePosixPath(rel).name, False),
                size=size,
                sha256=sha,
                encoding_format=guess(rel),
                remote=False,
                doi=spec.doi,
                description=spec.description,
            )
    local_ids = {r.id for r in records.values()}
    files = [
        FileRecord(id=f"{ANALYSIS_DIR}/{n}", size=s, sha256=h, encoding_format=guess(n))
        for n, (s, h) in sorted(digests.items())
        if f"{ANALYSIS_DIR}/{n}" not in local_ids
    ]
    ordered = [records[i.name] for i in manifest.inputs]
    return files, ordered, extra


def _copy_files(src: Path, dst: Path, names: list[str]) -> dict[str, tuple[int, str]]:
    def one(name: str) -> tuple[str, tuple[int, str]]:
        out = dst / name
        out.parent.mkdir(parents=True, exist_ok=True)
        d = copy_with_hash(src / name, out)
        return name, (d.size, d.sha256)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        return dict(pool.map(one, names))


def _write_extra(staging: Path, rel: str, data: bytes, description: str) -> list[FileRecord]:
    path = staging / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = hash_files([path])[path]
    return [
        FileRecord(
            id=rel,
            size=digest.size,
            sha256=digest.sha256,
            encoding_format=guess(rel),
            description=description,
        )
    ]


# -- config and environment -------------------------------------------------------------------


def _config(
    directory: Path, manifest: Manifest, staging: Path, secrets: _Secrets
) -> ConfigRecord | None:
    if not manifest.config:
        return None
    src = directory / manifest.config
    content, keys, values = redact_config(src)
    secrets.values += values
    rel = f"{ANALYSIS_DIR}/{PurePosixPath(manifest.config).as_posix()}"
    out = staging / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    digest = hash_files([out])[out]
    note = "Configuration, mounted read-only at {mount} during the run."
    if keys:
        note += " Values withheld (they look like credentials): " + ", ".join(keys) + "."
    mount = f"{MOUNT_ROOT}/config/{src.name}"
    return ConfigRecord(
        file=FileRecord(
            id=rel,
            size=digest.size,
            sha256=digest.sha256,
            encoding_format=guess(src.name),
            name=src.name,
            description=note.format(mount=mount),
        ),
        mount=mount,
        withheld_keys=tuple(keys),
    )


def _env(manifest: Manifest, environ: Mapping[str, str], secrets: _Secrets) -> list[EnvRecord]:
    out = []
    for spec in manifest.env:
        value = spec.value if spec.value is not None else environ.get(spec.name)
        withheld = value is not None and is_secret(spec.name, value)
        if withheld and value:
            secrets.values.append(value)
        out.append(EnvRecord(name=spec.name, value=None if withheld else value, withheld=withheld))
    return out


# -- the run ----------------------------------------------------------------------------------


def substitute(template: tuple[str, ...] | list[str], mounts: Mapping[str, str]) -> tuple[str, ...]:
    """Fill ``{inputs.NAME}``, ``{config}``, ``{outdir}`` in a command template."""
    out = []
    for arg in template:
        for key, value in mounts.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return tuple(out)


def _run(
    directory: Path,
    manifest: Manifest,
    staging: Path,
    image: BuiltImage,
    inputs: list[InputRecord],
    sources: Mapping[str, Path],
    config: ConfigRecord | None,
    environ: Mapping[str, str],
    secrets: _Secrets,
    settings: Settings,
    progress: Progress,
) -> RunRecord:
    outdir = staging / OUTPUTS_DIR
    outdir.mkdir()
    outdir.chmod(0o777)  # the image may run as a non-root user
    (staging / LOGS_DIR).mkdir()
    mounts = [Mount(sources[i.name], i.mount) for i in inputs]
    values = {f"inputs.{i.name}": i.mount for i in inputs} | {"outdir": OUTDIR_MOUNT}
    if config and manifest.config:
        mounts.append(Mount(directory / manifest.config, config.mount))
        values["config"] = config.mount
    mounts.append(Mount(outdir, OUTDIR_MOUNT, read_only=False))
    env = {
        e.name: e.value if e.value is not None else environ[e.name]
        for e in manifest.env
        if e.value is not None or e.name in environ
    }
    runner = open_runner(settings.runner)
    spec = RunSpec(
        image=image.image_id,
        command=substitute(manifest.command, values),
        mounts=tuple(mounts),
        env=env,
        network=manifest.network,
        workdir=manifest.workdir,
        memory=manifest.memory,
        cpus=manifest.cpus,
        timeout=manifest.timeout,
    )
    result = runner.run(
        spec,
        stdout=staging / LOGS_DIR / "stdout.txt",
        stderr=staging / LOGS_DIR / "stderr.txt",
        progress=progress,
    )
    _scrub_logs(staging, secrets)
    return RunRecord(
        id=f"#run-{uuid.uuid4()}",
        command=spec.command,
        command_template=manifest.command,
        start=result.start,
        end=result.end,
        exit_code=result.exit_code,
        peak_memory=result.peak_memory,
        cpu_seconds=result.cpu_seconds,
        oom_killed=result.oom_killed,
        timed_out=result.timed_out,
        error=run_error(result, spec, staging / LOGS_DIR / "stderr.txt"),
        workdir=manifest.workdir,
        network=manifest.network,
        memory=manifest.memory,
        cpus=manifest.cpus,
        timeout=manifest.timeout,
        runner=runner.name,
        runner_version=runner.describe(),
    )


def run_error(result: RunResult, spec: RunSpec, stderr: Path) -> str | None:
    """Why a run failed, with the tail of its stderr; None when it succeeded."""
    if result.ok:
        return None
    if result.timed_out:
        why = f"it exceeded the time limit of {spec.timeout:g} s and was stopped"
    elif result.oom_killed:
        why = f"it ran out of memory (limit {spec.memory or 'none set'})"
    else:
        why = f"it exited with code {result.exit_code}"
    tail = stderr_tail(stderr)
    return why + (f"; last lines of stderr:\n{tail}" if tail else "")


def stderr_tail(path: Path, lines: int = STDERR_TAIL) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _scrub_logs(staging: Path, secrets: _Secrets) -> None:
    if not secrets.values:
        return
    for name in ("stdout.txt", "stderr.txt"):
        path = staging / LOGS_DIR / name
        if path.is_file():
            data, n = scrub(path.read_bytes(), secrets.values)
            if n:
                path.write_bytes(data)


def _log_records(staging: Path) -> list[FileRecord]:
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


def _collect_outputs(
    manifest: Manifest, staging: Path, run: RunRecord, secrets: _Secrets, warnings: list[str]
) -> tuple[list[FileRecord], RunRecord]:
    outdir = staging / OUTPUTS_DIR
    present = [o for o in manifest.outputs if (outdir / o).is_file()]
    missing = [o for o in manifest.outputs if o not in present]
    if missing and run.status == COMPLETED:
        run = _with_error(run, "declared outputs missing after the run: " + ", ".join(missing))
    if secrets.values:
        for rel in present:
            if scrub((outdir / rel).read_bytes(), secrets.values)[1]:
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
    return records, run


def _with_error(run: RunRecord, error: str) -> RunRecord:
    from dataclasses import replace

    return replace(run, error=error)


def _scrub_analysis(staging: Path, files: list[FileRecord], secrets: _Secrets) -> list[FileRecord]:
    out = []
    for f in files:
        path = staging / f.id
        data, n = scrub(path.read_bytes(), secrets.values)
        if n:
            path.write_bytes(data)
            d = hash_files([path])[path]
            f = FileRecord(
                id=f.id,
                size=d.size,
                sha256=d.sha256,
                encoding_format=f.encoding_format,
                name=f.name,
                description=f.description,
            )
        out.append(f)
    return out
