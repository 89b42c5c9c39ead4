"""``preserve attach``: the supplement bundle of the published example, on a real registry.

The crate ZIP validates with the community validator; CITATION.cff validates
against the CFF schema; SHA256SUMS checks with ``sha256sum -c``; the APA
citation is the hand-checked string; the bundle and the DataCite record agree on
the article; and ``rerun.sh``, run after the toolkit's caches, the crate and
the image's tags are removed, reproduces the outputs' checksums with docker alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from preserve.citation.cff import validate_cff
from tests.conftest import Registry, run_preserve
from tests.helpers import EXAMPLE, VALIDATOR, copy_analysis

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.slow]
PAPER = "10.5555/example-article"


def test_bundle_of_the_published_example(
    tmp_path: Path,
    base_image: str,
    registry: Registry,
    demo_data_server: str,
    isolated_dirs: Path,
) -> None:
    repository = f"{registry.host}/publication-attach"
    env = {"PRESERVE_REGISTRY": repository}
    analysis = copy_analysis(EXAMPLE, tmp_path / "azimuthal-integration")
    crate = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(crate), env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run_preserve("publish", str(crate), "--supplement-to", PAPER, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    published = json.loads(proc.stdout)
    doi, image_ref = published["doi"], published["image_ref"]
    outputs = {
        p.name: subprocess.run(["sha256sum", p], capture_output=True, text=True).stdout.split()[0]
        for p in (crate / "outputs").iterdir()
    }

    # The bundle and the DataCite record must agree on the article.
    other = run_preserve(
        "attach", doi, "-o", str(tmp_path / "x.zip"), "--supplement-to", "10.5555/another", env=env
    )
    assert other.returncode == 1 and "does not say it supplements 10.5555/another" in other.stderr
    assert "--supplement-to 10.5555/another" in other.stderr and "Traceback" not in other.stderr
    assert not (tmp_path / "x.zip").exists()

    bundle_zip = tmp_path / "supplement.zip"
    proc = run_preserve(
        "attach",
        doi,
        "-o",
        str(bundle_zip),
        "--for",
        "elsevier",
        "--supplement-to",
        PAPER,
        "--json",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"][-1] == "SHA256SUMS"
    again = run_preserve("attach", doi, "-o", str(bundle_zip), env=env)
    assert again.returncode == 1 and "already exists" in again.stderr

    bundle = tmp_path / "bundle"
    with zipfile.ZipFile(bundle_zip) as zf:
        zf.extractall(bundle)
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True)
    assert check.returncode == 0, check.stdout
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert names == {
        "AVAILABILITY.md",
        "availability.tex",
        "CITATION.cff",
        "citation.bib",
        "badge.svg",
        "badge.md",
        "REPRODUCING.md",
        "rerun.sh",
        "inputs.sha256",
        "outputs.sha256",
        "SHA256SUMS",
        "crate/azimuthal-integration.crate.zip",
    }

    # The crate as an RO-Crate ZIP, for the validator as a ZIP, with its preview.
    crate_zip = bundle / "crate" / "azimuthal-integration.crate.zip"
    with zipfile.ZipFile(crate_zip) as zf:
        assert {"ro-crate-metadata.json", "ro-crate-preview.html"} <= set(zf.namelist())
    # The validator's JSON report cannot serialise a ZIP crate's report (roc-validator
    # 0.13), so its verdict is read from the exit status; --online: the input's server
    # is the loopback data server, so nothing is left undecided.
    validated = subprocess.run(
        [
            sys.executable,
            str(VALIDATOR),
            str(crate_zip),
            "--profile",
            "process-run-crate-0.5",
            "--level",
            "recommended",
            "--online",
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        },
    )
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert "[OK] RO-Crate is a valid process-run-crate-0.5" in validated.stdout

    cff = validate_cff((bundle / "CITATION.cff").read_text())
    assert (
        cff["doi"] == doi
        and {"type": "doi", "value": PAPER}.items()
        <= next(i for i in cff["identifiers"] if i["value"] == PAPER).items()
    )
    apa = (
        "Example, A. (2026). Azimuthal integration of powder diffraction frames (Version 1.0.0) "
        f"[Computer software]. Deutsches Elektronen-Synchrotron DESY. https://doi.org/{doi}"
    )
    assert f"Cite as: {apa}" in (bundle / "REPRODUCING.md").read_text().replace("\\", "")
    statement = (bundle / "AVAILABILITY.md").read_text()
    assert f"<https://doi.org/{PAPER}>" in statement and image_ref in statement
    assert "\\section*{Data availability}" in (bundle / "availability.tex").read_text()
    assert (bundle / "citation.bib").read_text().startswith(f"@misc{{{doi},")
    assert doi in (bundle / "badge.svg").read_text()

    # rerun.sh without the toolkit's caches, the crate or the image's local tags.
    shutil.rmtree(isolated_dirs / "cache")
    shutil.rmtree(crate)
    for tag in (image_ref, f"{repository}/azimuthal-integration:1.0.0"):
        subprocess.run(["docker", "image", "rm", tag], capture_output=True)
    work = tmp_path / "rerun-work"
    run = subprocess.run(
        ["sh", str(bundle / "rerun.sh"), str(work)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "profile.csv: OK" in run.stdout and "profile.h5: OK" in run.stdout
    for name, digest in outputs.items():
        produced = subprocess.run(
            ["sha256sum", work / "outputs" / name], capture_output=True, text=True
        ).stdout.split()[0]
        assert produced == digest
    subprocess.run(["docker", "image", "rm", image_ref], capture_output=True)


def test_a_local_only_image_cannot_go_to_a_journal(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    from preserve.doi.metadata import build_attributes
    from preserve.doi.mint import mint
    from preserve.doi.providers import open_provider
    from preserve.settings import Settings
    from tests.doi.samples import local_info

    settings = Settings.load()
    info = local_info(settings.store_dir)
    mint(open_provider(settings, "sandbox"), info.doi, build_attributes(info))
    result = run_cli("attach", info.doi, "-o", str(tmp_path / "b"))
    assert result.exit_code == 1 and "only in this machine's local OCI store" in result.stderr
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".b.partial*"))
