"""``preserve rerun``: fetch, verify, rerun, and say precisely whether the result reproduced.

1. Resolve: a DOI to the crate it pins, an OCI reference, or a crate directory.
2. Fetch and verify, before anything runs: the crate (digests checked on pull),
   the image by its recorded digest, every input against its recorded size and
   checksum. Crates, images and inputs are cached by content digest, so a second
   rerun downloads nothing; nothing that failed verification is cached.
3. Run the recorded command, configuration, environment and network policy.
4. Compare every output with the published one and write a new Process Run
   Crate for the rerun, linked to the original, with the per-output verdicts.

``--input NAME=URI`` reruns the preserved function on new data instead: no
comparison, a new crate for the new run.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__
from preserve.capture import run_error, stderr_tail, substitute
from preserve.compare import OutputComparison, compare_output, reproduced
from preserve.crate.graph import Graph
from preserve.crate.io import write_document, write_metadata
from preserve.crate.jsonld import IMAGE_ID, iso
from preserve.crate.model import (
    ANALYSIS_DIR,
    LOGS_DIR,
    OUTDIR_MOUNT,
    OUTPUTS_DIR,
    ConfigRecord,
    CrateRecord,
    EnvRecord,
    FileRecord,
    ImageRecord,
    InputRecord,
    RunRecord,
    Verdict,
)
from preserve.crate.plan import PlannedInput, RerunPlan, read_plan
from preserve.crate.target import check_target, finalize, staging_dir
from preserve.errors import ConfigError, CrateError, DataError, IntegrityError, RunError
from preserve.hashing import hash_files
from preserve.manifest import FILENAME, Manifest, parse_manifest
from preserve.mediatypes import guess
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET, Progress
from preserve.runners.base import Mount, RunSpec, open_runner
from preserve.settings import Publisher, Settings
from preserve.source import SourceInfo

DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 0.0
_DOI = re.compile(r"^(doi:|https?://(dx\.)?doi\.org/)?10\.\d{4,9}/\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class Origin:
    crate_dir: Path
    doi: str | None
    crate_ref: OciRef | None


@dataclass(frozen=True)
class RerunResult:
    target: str
    origin: Origin
    rerun_dir: Path
    run: RunRecord
    comparisons: tuple[OutputComparison, ...]
    new_data: bool
    rtol: float
    atol: float

    @property
    def reproduced(self) -> bool | None:
        """True/False after a comparison; None for a run on new data."""
        return None if self.new_data else reproduced(self.comparisons)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "doi": self.origin.doi,
            "crate_ref": str(self.origin.crate_ref) if self.origin.crate_ref else None,
            "rerun_crate": str(self.rerun_dir),
            "reproduced": self.reproduced,
            "new_data": self.new_data,
            "tolerance": {"rtol": self.rtol, "atol": self.atol},
            "run": {
                "exit_code": self.run.exit_code,
                "start": iso(self.run.start),
                "end": iso(self.run.end),
                "peak_memory": self.run.peak_memory,
                "cpu_seconds": self.run.cpu_seconds,
            },
            "outputs": [c.to_json() for c in self.comparisons],
        }


def is_doi(text: str) -> bool:
    return bool(_DOI.match(text.strip()))


def locate(target: str, settings: Settings, progress: Progress) -> Origin:
    """The crate behind ``target``, fetched into the content-addressed cache if remote."""
    from preserve.doi.resolve import resolve
    from preserve.push import pull

    path = Path(target)
    if path.is_dir():
        return Origin(path.resolve(), None, None)
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


def rerun(
    target: str,
    *,
    settings: Settings,
    output: Path | None = None,
    inputs: Mapping[str, str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    overwrite: bool = False,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
) -> RerunResult:
    """Rerun ``target`` (DOI, OCI reference or crate directory); see the module docstring."""
    environ = os.environ if environ is None else environ
    overrides = dict(inputs or {})
    origin = locate(target, settings, progress)
    plan = read_plan(origin.crate_dir)
    manifest = _manifest(plan)
    unknown = sorted(set(overrides) - {i.name for i in plan.inputs})
    if unknown:
        known = ", ".join(i.name for i in plan.inputs) or "none"
        raise DataError(f"--input names unknown input(s) {', '.join(unknown)} (known: {known})")
    tolerance = plan.spec.get("tolerance") or {}
    rtol = rtol if rtol is not None else tolerance.get("rtol") or DEFAULT_RTOL
    atol = atol if atol is not None else tolerance.get("atol") or DEFAULT_ATOL

    rerun_dir = (output or Path.cwd() / f"{manifest.name}-rerun").resolve()
    check_target(rerun_dir, overwrite)
    image_id = _image(plan, settings, progress)
    staged = _stage_inputs(plan, overrides, settings, progress)
    env, env_records = _environment(plan, environ)

    staging = staging_dir(rerun_dir)
    try:
        run = _run(plan, image_id, staged, env, timeout, settings, staging, progress)
        comparisons: tuple[OutputComparison, ...] = ()
        if not overrides and run.error is None:
            progress.step("comparing outputs with the published ones")
            comparisons = tuple(
                compare_output(
                    plan.crate_dir / o.entity_id,
                    _present(staging / OUTPUTS_DIR / o.path),
                    rtol=rtol,
                    atol=atol,
                    path=o.path,
                )
                for o in plan.outputs
            )
        _write_crate(
            plan, origin, manifest, staged, env_records, run, comparisons, staging, settings
        )
        finalize(staging, rerun_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if run.error is not None:
        raise RunError(
            f"the rerun failed: {run.error}",
            hint=f"the crate {rerun_dir} records the failed rerun with its logs",
        )
    return RerunResult(target, origin, rerun_dir, run, comparisons, bool(overrides), rtol, atol)


def _present(path: Path) -> Path | None:
    return path if path.exists() else None


def _manifest(plan: RerunPlan) -> Manifest:
    path = plan.crate_dir / ANALYSIS_DIR / FILENAME
    if not path.is_file():
        raise CrateError(f"the crate has no {ANALYSIS_DIR}/{FILENAME}; it cannot be rerun")
    return parse_manifest(path.read_text(encoding="utf-8"), source=str(path))


# -- fetch and verify --------------------------------------------------------------------------


def _image(plan: RerunPlan, settings: Settings, progress: Progress) -> str:
    """The image ID to run, pulled by its recorded digest and checked against the crate."""
    from docker.errors import ImageNotFound

    from preserve.engine import docker_client

    if plan.image_ref is None:
        if plan.image_id:
            try:
                docker_client().images.get(plan.image_id)
                return plan.image_id
            except ImageNotFound:
                pass
        raise CrateError(
            "the crate's image was never pushed, and it is not in this Docker Engine",
            hint="push the crate (`preserve push`) where it was captured, then rerun",
        )
    store = open_store(settings, plan.image_ref)
    image_id = store.pull_image(plan.image_ref, progress=progress)
    if plan.image_id and image_id != plan.image_id:
        raise IntegrityError(
            f"the image pulled as {plan.image_ref} has ID {image_id}, "
            f"but the crate recorded {plan.image_id}",
            hint="the image in the registry is not the one the analysis ran in",
        )
    return image_id


@dataclass(frozen=True)
class _StagedInput:
    record: InputRecord
    host_path: Path


def _stage_inputs(
    plan: RerunPlan, overrides: Mapping[str, str], settings: Settings, progress: Progress
) -> dict[str, _StagedInput]:
    from preserve.data.stage import stage

    staged = {}
    for item in plan.inputs:
        if item.name in overrides:
            uri = _as_uri(overrides[item.name])
            progress.step(f"staging new data for input '{item.name}' from {uri}")
            data = stage(item.name, uri, settings, progress=progress)
            record = InputRecord(
                name=item.name,
                id=uri,
                mount=item.mount,
                size=data.size,
                sha256=data.sha256,
                encoding_format=data.info.encoding_format or guess(uri),
                remote=True,
                sd_date_published=iso(datetime.now(UTC)),
                checksums={k: v for k, v in data.info.checksums.items() if k != "sha256"},
            )
            staged[item.name] = _StagedInput(record, data.path)
        elif item.remote:
            data = stage(
                item.name,
                item.entity_id,
                settings,
                expected_sha256=item.sha256,
                expected_size=item.size,
                progress=progress,
            )
            staged[item.name] = _StagedInput(_input_record(item), data.path)
        else:
            path = plan.crate_dir / item.entity_id
            _verify_local(plan, item, path)
            staged[item.name] = _StagedInput(_input_record(item), path)
    return staged


def _as_uri(text: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        return text
    path = Path(text).expanduser().resolve()
    if not path.exists():
        raise DataError(
            f"--input {text}: no such file, and not a URI",
            hint="give a URI (https://, davs://, file://) or an existing path",
        )
    return path.as_uri()


def _verify_local(plan: RerunPlan, item: PlannedInput, path: Path) -> None:
    if not path.exists():
        raise IntegrityError(f"input '{item.name}' ({item.entity_id}) is missing from the crate")
    if item.is_dir:
        _verify_folder(plan, item, path)
        return
    digest = hash_files([path])[path]
    if item.sha256 and digest.sha256 != item.sha256:
        raise IntegrityError(
            f"input '{item.name}' ({item.entity_id}) does not match the crate's record: "
            f"expected sha256 {item.sha256}, got {digest.sha256}"
        )


def _verify_folder(plan: RerunPlan, item: PlannedInput, path: Path) -> None:
    listing_id = next(iter(Graph.ids(item.entity.get("subjectOf"))), None)
    if listing_id is None:
        return
    expected = {}
    for line in (plan.crate_dir / listing_id).read_text().splitlines():
        sha, _, rel = line.partition("  ")
        expected[rel] = sha
    digests = hash_files([path / rel for rel in expected])
    for rel, sha in expected.items():
        actual = digests[path / rel].sha256
        if actual != sha:
            raise IntegrityError(
                f"input '{item.name}': {rel} does not match the crate's record: "
                f"expected sha256 {sha}, got {actual}"
            )


def _input_record(item: PlannedInput) -> InputRecord:
    e = item.entity
    checksums: dict[str, str] = {k: str(e[k]) for k in ("md5", "sha1", "sha512") if k in e}
    return InputRecord(
        name=item.name,
        id=item.entity_id,
        mount=item.mount,
        size=item.size or 0,
        sha256=item.sha256,
        encoding_format=e.get("encodingFormat"),
        remote=item.remote,
        is_dir=item.is_dir,
        sd_date_published=e.get("sdDatePublished"),
        checksums=checksums,
        doi=_doi(e.get("identifier")),
        description=e.get("description"),
        checksum_manifest=next(iter(Graph.ids(e.get("subjectOf"))), None),
    )


def _doi(identifier: Any) -> str | None:
    if isinstance(identifier, str) and "doi.org/10." in identifier:
        return identifier.split("doi.org/", 1)[1]
    return None


def _environment(
    plan: RerunPlan, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[EnvRecord]]:
    env: dict[str, str] = {}
    records = []
    for item in plan.spec["env"]:
        name = item["name"]
        if item.get("withheld"):
            if name not in environ:
                raise ConfigError(
                    f"the value of {name} was withheld when the analysis was captured "
                    "(it looks like a credential)",
                    hint=f"set {name} in the environment to rerun",
                )
            env[name] = environ[name]
            records.append(EnvRecord(name, None, withheld=True))
        else:
            if item.get("value") is not None:
                env[name] = item["value"]
            records.append(EnvRecord(name, item.get("value")))
    return env, records


# -- run ---------------------------------------------------------------------------------------


def _run(
    plan: RerunPlan,
    image_id: str,
    staged: Mapping[str, _StagedInput],
    env: Mapping[str, str],
    timeout: float | None,
    settings: Settings,
    staging: Path,
    progress: Progress,
) -> RunRecord:
    spec = plan.spec
    outdir = staging / OUTPUTS_DIR
    outdir.mkdir()
    outdir.chmod(0o777)  # the image may run as a non-root user
    (staging / LOGS_DIR).mkdir()
    mounts = [Mount(s.host_path, s.record.mount) for s in staged.values()]
    values = {f"inputs.{name}": s.record.mount for name, s in staged.items()}
    values["outdir"] = OUTDIR_MOUNT
    config = spec.get("config")
    if config:
        mounts.append(Mount(plan.crate_dir / config["entity"], config["mount"]))
        values["config"] = config["mount"]
    mounts.append(Mount(outdir, OUTDIR_MOUNT, read_only=False))
    resources = spec.get("resources") or {}
    run_spec = RunSpec(
        image=image_id,
        command=substitute(spec["command"], values),
        mounts=tuple(mounts),
        env=dict(env),
        network=bool(spec["network"]),
        workdir=spec.get("workdir"),
        memory=resources.get("memory"),
        cpus=resources.get("cpus"),
        timeout=timeout if timeout is not None else resources.get("timeout"),
        image_ref=str(plan.image_ref) if plan.image_ref else None,
    )
    runner = open_runner(settings.runner)
    progress.step(f"running {' '.join(run_spec.command)}")
    result = runner.run(
        run_spec,
        stdout=staging / LOGS_DIR / "stdout.txt",
        stderr=staging / LOGS_DIR / "stderr.txt",
        progress=progress,
    )
    error = run_error(result, run_spec, staging / LOGS_DIR / "stderr.txt")
    missing = [o.path for o in plan.outputs if not (outdir / o.path).is_file()]
    if error is None and missing:
        error = "declared outputs missing after the run: " + ", ".join(missing)
        tail = stderr_tail(staging / LOGS_DIR / "stderr.txt")
        error += f"; last lines of stderr:\n{tail}" if tail else ""
    return RunRecord(
        id=f"#rerun-{uuid.uuid4()}",
        command=run_spec.command,
        command_template=tuple(spec["command"]),
        start=result.start,
        end=result.end,
        exit_code=result.exit_code,
        peak_memory=result.peak_memory,
        cpu_seconds=result.cpu_seconds,
        oom_killed=result.oom_killed,
        timed_out=result.timed_out,
        error=error,
        workdir=run_spec.workdir,
        network=run_spec.network,
        memory=run_spec.memory,
        cpus=run_spec.cpus,
        timeout=run_spec.timeout,
        runner=runner.name,
    )


# -- the rerun crate ---------------------------------------------------------------------------


def _write_crate(
    plan: RerunPlan,
    origin: Origin,
    manifest: Manifest,
    staged: Mapping[str, _StagedInput],
    env: list[EnvRecord],
    run: RunRecord,
    comparisons: tuple[OutputComparison, ...],
    staging: Path,
    settings: Settings,
) -> None:
    g = plan.graph
    shutil.copytree(plan.crate_dir / ANALYSIS_DIR, staging / ANALYSIS_DIR)
    carried = _carry_files(plan, staging, ("environment/", "checksums/", "analysis.diff"))
    outdir = staging / OUTPUTS_DIR
    present = [o for o in plan.outputs if (outdir / o.path).is_file()]
    digests = hash_files([outdir / o.path for o in present])
    outputs = tuple(
        FileRecord(
            id=f"{OUTPUTS_DIR}/{o.path}",
            size=digests[outdir / o.path].size,
            sha256=digests[outdir / o.path].sha256,
            encoding_format=guess(o.path),
            name=o.path,
        )
        for o in present
    )
    logs = []
    for name, what in (("stdout.txt", "Standard output"), ("stderr.txt", "Standard error")):
        path = staging / LOGS_DIR / name
        d = hash_files([path])[path]
        logs.append(
            FileRecord(
                f"{LOGS_DIR}/{name}",
                d.size,
                d.sha256,
                "text/plain",
                description=f"{what} of the rerun.",
            )
        )
    based_on = _based_on(origin, plan, settings)
    record = CrateRecord(
        manifest=manifest,
        source=_source(g),
        image=_image_record(g),
        run=run,
        inputs=tuple(staged[i.name].record for i in plan.inputs),
        outputs=outputs,
        env=tuple(env),
        config=_config_record(plan),
        analysis_files=tuple(_analysis_files(plan)),
        extra_files=tuple(carried + logs),
        date_published=iso(datetime.now(UTC)),
        preserve_version=__version__,
        publisher=_publisher(g),
        based_on=based_on,
        verdicts=tuple(Verdict(c.path, c.verdict, c.summary) for c in comparisons),
        reproduced=reproduced(comparisons) if comparisons else None,
    )
    document = write_metadata(record, staging)
    # The image entity is the original's, word for word: it is the same image.
    original_image = g.get(next(iter(g.ids((g.main_action() or {}).get("containerImage"))), ""))
    new_graph = Graph(document)
    new_graph.get(IMAGE_ID).clear()
    new_graph.get(IMAGE_ID).update({**original_image, "@id": IMAGE_ID})
    action = new_graph.get(run.id)
    what = (
        "Rerun on new data"
        if record.reproduced is None
        else ("Rerun: reproduced" if record.reproduced else "Rerun: NOT reproduced")
    )
    action["name"] = f"{what} — {manifest.name}"
    if based_on:
        action["description"] += f". Rerun of {based_on}."
    write_document(staging, document)


def _carry_files(plan: RerunPlan, staging: Path, prefixes: tuple[str, ...]) -> list[FileRecord]:
    out = []
    for entity in plan.graph.by_id.values():
        eid = entity["@id"]
        if "File" not in Graph.types(entity) or not eid.startswith(prefixes):
            continue
        src = plan.crate_dir / eid
        if not src.is_file():
            continue
        (staging / eid).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, staging / eid)
        out.append(_file_record(entity))
    return out


def _file_record(e: dict[str, Any]) -> FileRecord:
    return FileRecord(
        id=e["@id"],
        size=int(e.get("contentSize", 0)),
        sha256=str(e.get("sha256", "")),
        encoding_format=str(e.get("encodingFormat") or guess(e["@id"])),
        name=e.get("name"),
        description=e.get("description"),
    )


def _analysis_files(plan: RerunPlan) -> list[FileRecord]:
    folder = plan.graph.get(f"{ANALYSIS_DIR}/")
    skip = {i.entity_id for i in plan.inputs}
    config = (plan.spec.get("config") or {}).get("entity")
    return [
        _file_record(plan.graph.get(pid))
        for pid in Graph.ids(folder.get("hasPart"))
        if pid not in skip and pid != config and plan.graph.get(pid)
    ]


def _config_record(plan: RerunPlan) -> ConfigRecord | None:
    config = plan.spec.get("config")
    if not config:
        return None
    return ConfigRecord(
        file=_file_record(plan.graph.get(config["entity"])),
        mount=config["mount"],
        withheld_keys=tuple(config.get("withheld_keys", ())),
    )


def _source(g: Graph) -> SourceInfo:
    action = g.main_action() or {}
    software = g.get(next(iter(g.ids(action.get("instrument"))), ""))
    commit = g.get("#git-commit").get("value")
    return SourceInfo(
        commit=commit,
        remote=software.get("codeRepository"),
        dirty=g.get("#git-dirty").get("value") == "true",
        is_git=bool(commit),
    )


def _image_record(g: Graph) -> ImageRecord:
    image = g.get(next(iter(g.ids((g.main_action() or {}).get("containerImage"))), ""))
    sha = image.get("sha256")
    return ImageRecord(
        image_id=str(image.get("identifier", "")),
        name=str(image.get("name", "")),
        tag=image.get("tag"),
        registry=str(image.get("registry", "")),
        digest=f"sha256:{sha}" if sha else None,
    )


def _publisher(g: Graph) -> Publisher | None:
    pub = g.get(next(iter(g.ids(g.root().get("publisher"))), ""))
    return Publisher(name=pub["name"], ror=pub.get("url")) if pub.get("name") else None


def _based_on(origin: Origin, plan: RerunPlan, settings: Settings) -> str | None:
    from preserve.doi.links import oci_ref_to_url

    doi = origin.doi or plan.doi
    if doi:
        return f"https://doi.org/{doi}"
    if origin.crate_ref is not None:
        return oci_ref_to_url(origin.crate_ref, settings.store_dir)
    return None
