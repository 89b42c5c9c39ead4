"""``preserve attach DOI``: the supplement bundle an author uploads with a paper.

The bundle (a folder, or a ``.zip`` of it):

=====================  ==========================================================
``crate/NAME.crate.zip`` the pinned crate as an RO-Crate ZIP, with its preview
``REPRODUCING.md``       how to rerun, with preserve and without it
``rerun.sh``             docker/podman + the pinned digest + the recorded command
``inputs.sha256``        the inputs' recorded SHA-256 (``sha256sum -c``)
``outputs.sha256``       the published outputs' SHA-256 (``sha256sum -c``)
``AVAILABILITY.md``      data and code availability statement (per journal)
``availability.tex``     the same in LaTeX
``CITATION.cff``         validated against the CFF 1.2.0 schema
``citation.bib``         BibTeX
``badge.svg``            a DOI badge, ``badge.md`` its Markdown and HTML snippets
``SHA256SUMS``           every file of the bundle (``sha256sum -c SHA256SUMS``)
=====================  ==========================================================

The crate comes from where the DOI pins it and is verified on the way (the
rerun cache); the bundle is written beside its target and moved into place when
complete, so an interrupted attach leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.attach.badge import badge_snippets, badge_svg
from preserve.attach.facts import Facts, gather, supplement_to
from preserve.attach.script import RerunScript, build
from preserve.attach.texts import render
from preserve.citation import render as render_citation
from preserve.crate.archive import zip_crate
from preserve.crate.plan import read_plan
from preserve.doi.metadata import bare_doi
from preserve.doi.resolve import ResolvedDoi, resolve
from preserve.errors import CitationError
from preserve.progress import QUIET, Progress
from preserve.rerun.locate import locate
from preserve.settings import Settings

JOURNALS = ("generic", "nature", "iucr", "elsevier")
SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class AttachResult:
    doi: str
    output: Path
    journal: str
    files: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "doi": self.doi,
            "output": str(self.output),
            "journal": self.journal,
            "files": list(self.files),
        }


def attach(
    doi: str,
    *,
    settings: Settings,
    output: Path,
    journal: str = "generic",
    papers: tuple[str, ...] = (),
    overwrite: bool = False,
    progress: Progress = QUIET,
) -> AttachResult:
    """Write the supplement bundle of ``doi`` to ``output`` (a folder, or ``*.zip``)."""
    if journal not in JOURNALS:
        raise CitationError(f"no template for the journal {journal!r}", hint=f"one of {JOURNALS}")
    output = output.resolve()
    as_zip = output.suffix.lower() == ".zip"
    _check_output(output, as_zip, overwrite)
    resolved = resolve(doi, settings)
    crate, image = _pins(resolved)
    _check_papers(resolved, papers)
    origin = locate(resolved.doi, settings, progress)
    plan = read_plan(origin.crate_dir)
    staging = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        progress.step("writing the supplement bundle")
        name = plan.manifest.name
        crate_zip = f"crate/{name}.crate.zip"
        (staging / "crate").mkdir()
        zip_crate(origin.crate_dir, staging / crate_zip)
        citation = render_citation(resolved.doi, resolved.attributes, "text", "apa")
        facts = gather(resolved, plan, crate, image, _landing(resolved), citation)
        badge = _badge_url(settings, resolved.doi)
        script = build(plan, image, crate_zip)
        files = _write(staging, facts, resolved.attributes, script, journal, badge)
        files[crate_zip] = "the RO-Crate (ZIP) of the run, with its HTML preview"
        (staging / "REPRODUCING.md").write_text(
            render("REPRODUCING.md.j2", "md", f=facts, crate_zip=crate_zip, files=_listed(files))
        )
        names = sorted([*files, "REPRODUCING.md"])
        _write_sums(staging, names)
        _move_into_place(staging, output, as_zip)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AttachResult(resolved.doi, output, journal, (*names, SUMS))


def _check_output(output: Path, as_zip: bool, overwrite: bool) -> None:
    """Never over something else: only a bundle may be replaced, with ``overwrite``."""
    if not output.exists() or (not as_zip and output.is_dir() and not any(output.iterdir())):
        return
    bundle = output.is_file() if as_zip else (output / SUMS).is_file()
    if not (overwrite and bundle):
        raise CitationError(
            f"{output} already exists" + ("" if as_zip else " and is not empty"),
            hint="choose another -o path"
            + (", or pass --overwrite to replace it" if bundle else ""),
        )


def _pins(resolved: ResolvedDoi) -> tuple[Any, Any]:
    crate, image = resolved.crate_ref, resolved.image_ref
    if crate is None or image is None:
        raise CitationError(
            f"the DOI {resolved.doi} pins no crate and image",
            hint="only DOIs published by preserve can be attached to a paper",
        )
    if image.is_local:
        raise CitationError(
            f"the image of {resolved.doi} is only in this machine's local OCI store ({image})",
            hint="readers need it in a registry: publish with PRESERVE_REGISTRY set, "
            "or push --to REGISTRY/REPOSITORY and publish again",
        )
    return crate, image


def _check_papers(resolved: ResolvedDoi, papers: tuple[str, ...]) -> None:
    """The bundle and the DataCite record must agree on the article it supplements."""
    recorded = supplement_to(resolved.attributes)
    for paper in papers:
        if bare_doi(paper).lower() not in recorded:
            raise CitationError(
                f"the DOI record of {resolved.doi} does not say it supplements {paper}"
                + (f" (it names {', '.join(recorded)})" if recorded else ""),
                hint=f"publish again with --supplement-to {bare_doi(paper)}, then attach",
            )


def _landing(resolved: ResolvedDoi) -> str:
    url = resolved.url or ""
    return url if url.startswith(("https://", "http://")) else f"https://doi.org/{resolved.doi}"


def _badge_url(settings: Settings, doi: str) -> str:
    """The catalogue's badge of ``doi`` when a catalogue is configured, else the bundle's."""
    base = settings.catalogue.url
    return f"{base.rstrip('/')}/badge/{doi}" if base else "badge.svg"


def _write(
    staging: Path,
    facts: Facts,
    attributes: Mapping[str, Any],
    script: RerunScript,
    journal: str,
    badge_url: str,
) -> dict[str, str]:
    """Every text file but REPRODUCING.md and the sums; returns name -> what it is."""
    snippets = badge_snippets(facts.doi, badge_url, facts.landing_url)
    texts = {
        "rerun.sh": (script.script, "reruns without preserve (docker or podman)"),
        "inputs.sha256": (script.inputs_sha256, "the inputs' recorded SHA-256"),
        "outputs.sha256": (script.outputs_sha256, "the published outputs' SHA-256"),
        "AVAILABILITY.md": (
            render(f"{journal}.md.j2", "md", f=facts),
            f"data and code availability statement ({journal})",
        ),
        "availability.tex": (
            render(f"{journal}.tex.j2", "tex", f=facts),
            f"the statement in LaTeX ({journal})",
        ),
        "CITATION.cff": (
            render_citation(facts.doi, attributes, "cff"),
            "Citation File Format 1.2.0 (validated)",
        ),
        "citation.bib": (render_citation(facts.doi, attributes, "bibtex"), "BibTeX"),
        "badge.svg": (badge_svg(facts.doi), "DOI badge"),
        "badge.md": (
            f"Markdown:\n\n{snippets['markdown']}\n\nHTML:\n\n{snippets['html']}\n",
            "the badge's Markdown and HTML snippets",
        ),
    }
    for name, (text, _) in texts.items():
        (staging / name).write_text(text, encoding="utf-8")
    (staging / "rerun.sh").chmod(0o755)
    return {name: what for name, (_, what) in texts.items()}


def _listed(files: dict[str, str]) -> list[tuple[str, str]]:
    return [*sorted(files.items()), (SUMS, "SHA-256 of every file above (sha256sum -c)")]


def _write_sums(staging: Path, names: list[str]) -> None:
    lines = []
    for name in names:
        digest = hashlib.sha256((staging / name).read_bytes()).hexdigest()
        lines.append(f"{digest}  {name}\n")
    (staging / SUMS).write_text("".join(lines))


def _move_into_place(staging: Path, output: Path, as_zip: bool) -> None:
    if as_zip:
        partial = output.with_name(f".{output.name}.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                zf.write(path, path.relative_to(staging).as_posix())
        partial.replace(output)
        return
    if output.exists():
        old = output.with_name(f".{output.name}.old-{uuid.uuid4().hex[:8]}")
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)
