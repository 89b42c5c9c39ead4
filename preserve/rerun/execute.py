"""The rerun: the crate's recorded command, inputs, config, environment and limits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from preserve.crate.model import RunRecord
from preserve.crate.plan import RerunPlan
from preserve.errors import CrateError, IntegrityError
from preserve.hashing import hash_files
from preserve.progress import Progress
from preserve.rerun.fetch import RunEnvironment, StagedInput
from preserve.runners.base import Runner
from preserve.runners.execute import Recipe, execute

_MEMORY = re.compile(r"^[0-9]+[kmgKMG]?$")  # as preserve.yaml allows


def run_rerun(
    plan: RerunPlan,
    image: str,
    staged: Mapping[str, StagedInput],
    env: RunEnvironment,
    timeout: float | None,
    runner: Runner,
    staging: Path,
    progress: Progress,
) -> RunRecord:
    spec = plan.spec
    memory, cpus, recorded_timeout = limits(spec.get("resources") or {})
    recipe = Recipe(
        image=image,
        command=tuple(spec["command"]),
        inputs={name: (s.host_path, s.record.mount) for name, s in staged.items()},
        outputs=[o.path for o in plan.outputs],
        config=config_mount(plan),
        env=env.values,
        network=bool(spec["network"]),  # refused earlier unless the reader allowed it
        workdir=spec.get("workdir"),
        memory=memory,
        cpus=cpus,
        timeout=timeout if timeout is not None else recorded_timeout,
        user=spec.get("user"),
    )
    return execute(
        recipe,
        staging,
        runner=runner,
        progress=progress,
        withheld=env.withheld,
        id_prefix="rerun",
    )


def limits(resources: Mapping[str, Any]) -> tuple[str | None, float | None, float | None]:
    """Memory, CPUs and time limit the crate records, refused unless meaningful."""
    memory, cpus, timeout = (resources.get(k) for k in ("memory", "cpus", "timeout"))
    if memory is not None and not _MEMORY.match(str(memory)):
        raise CrateError(
            f"the crate records the memory limit {memory!r}, which is not a size like 512m or 2g"
        )
    for name, value in (("CPU", cpus), ("time", timeout)):
        if value is not None and not value > 0:
            raise CrateError(f"the crate records the {name} limit {value!r}; it must be positive")
    return memory, cpus, timeout


def config_mount(plan: RerunPlan) -> tuple[Path, str] | None:
    """The crate's config file, checked against its recorded checksum, and its mount."""
    config = plan.spec.get("config")
    path = plan.config_path  # confined by the crate reader
    if not config or path is None:
        return None
    if not path.is_file():
        raise CrateError(f"the config {config['entity']!r} is not a file in the crate")
    data = plan.view.data(config["entity"])
    recorded = data.sha256 if data else None
    actual = hash_files([path])[path].sha256
    if recorded and actual != recorded:
        raise IntegrityError(
            f"the config {config['entity']!r} does not match the crate's record: "
            f"expected sha256 {recorded}, got {actual}"
        )
    return path, str(config["mount"])
