"""The rerun: the crate's recorded command, inputs, config, environment and limits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from preserve.crate.model import RunRecord
from preserve.crate.plan import RerunPlan
from preserve.progress import Progress
from preserve.rerun.fetch import StagedInput
from preserve.runners.base import Runner
from preserve.runners.execute import Recipe, execute
from preserve.secrets import secret_env_values


def run_rerun(
    plan: RerunPlan,
    image: str,
    staged: Mapping[str, StagedInput],
    env: Mapping[str, str],
    timeout: float | None,
    runner: Runner,
    staging: Path,
    progress: Progress,
) -> RunRecord:
    spec = plan.spec
    config = spec.get("config")
    resources = spec.get("resources") or {}
    recipe = Recipe(
        image=image,
        command=tuple(spec["command"]),
        inputs={name: (s.host_path, s.record.mount) for name, s in staged.items()},
        outputs=[o.path for o in plan.outputs],
        config=(plan.crate_dir / config["entity"], config["mount"]) if config else None,
        env=env,
        network=bool(spec["network"]),
        workdir=spec.get("workdir"),
        memory=resources.get("memory"),
        cpus=resources.get("cpus"),
        timeout=timeout if timeout is not None else resources.get("timeout"),
    )
    # The reader's values (withheld in the crate, or credential-like) never reach the logs.
    withheld = secret_env_values(env, (e["name"] for e in spec["env"] if e.get("withheld")))
    return execute(
        recipe, staging, runner=runner, progress=progress, withheld=withheld, id_prefix="rerun"
    )
