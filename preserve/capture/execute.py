"""The captured run: the manifest's command, inputs, config and environment as a recipe."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from preserve.crate.model import ConfigRecord, InputRecord, RunRecord
from preserve.manifest import Manifest
from preserve.progress import Progress
from preserve.runners.base import Runner
from preserve.runners.execute import Recipe, execute


def run_analysis(
    directory: Path,
    manifest: Manifest,
    staging: Path,
    image: str,
    inputs: list[InputRecord],
    sources: Mapping[str, Path],
    config: ConfigRecord | None,
    environ: Mapping[str, str],
    withheld: list[str],
    runner: Runner,
    progress: Progress,
) -> RunRecord:
    """Run the manifest's command in ``image`` (as ``runner.provide_image`` named it)."""
    # Only declared variables reach the run: fixed values, or the caller's if set.
    env = {
        e.name: e.value if e.value is not None else environ[e.name]
        for e in manifest.env
        if e.value is not None or e.name in environ
    }
    recipe = Recipe(
        image=image,
        command=manifest.command,
        inputs={i.name: (sources[i.name], i.mount) for i in inputs},
        outputs=manifest.outputs,
        config=(directory / manifest.config, config.mount) if config and manifest.config else None,
        env=env,
        network=manifest.network,
        workdir=manifest.workdir,
        memory=manifest.memory,
        cpus=manifest.cpus,
        timeout=manifest.timeout,
    )
    return execute(recipe, staging, runner=runner, progress=progress, withheld=withheld)
