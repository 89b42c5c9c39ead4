"""A crate is hostile input: every path it names stays inside the crate.

Checked before anything is fetched or run: the crate's tree is closed (no link
leads out of it, no FIFO, socket or device), every entity a rerun reads or
mounts resolves inside it after resolving links (the crate reader's
``confined_path``), every output it expects is a plain path inside the output
folder, and every mount it asks for lies under ``/preserve``. A refusal names
the entity.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from preserve.crate.model import MOUNT_ROOT, OUTDIR_MOUNT
from preserve.crate.plan import RerunPlan
from preserve.crate.read import confined_path
from preserve.errors import CrateError, DataError
from preserve.hashing import closed_tree
from preserve.runners.outputs import path_problem

_HINT = (
    "a crate can only name files inside itself; this one was not written by preserve "
    "or was tampered with, and nothing was read or run"
)


def check_tree(crate_dir: Path) -> None:
    """Refuse a crate holding links that lead out of it, FIFOs, sockets or devices."""
    try:
        closed_tree(crate_dir)
    except DataError as exc:
        raise CrateError(f"unsafe crate: {exc.message}", hint=_HINT) from exc


def crate_path(crate_dir: Path, entity_id: str, what: str) -> Path:
    """The confined path of the crate path ``entity_id`` (see ``crate.read.confined_path``);
    a refusal names ``what`` the crate uses it for."""
    try:
        return confined_path(crate_dir, entity_id)
    except CrateError as exc:
        raise CrateError(f"{what}: {exc.message}", hint=exc.hint) from exc


def check_plan(plan: RerunPlan) -> None:
    """What reading the plan does not check, before anything is fetched or run: the
    mounts, the outputs' paths, and every other file the crate describes."""
    for output in plan.outputs:
        problem = path_problem(output.path)
        if problem:
            raise CrateError(f"the crate's output {output.path!r} {problem}", hint=_HINT)
    for item in plan.inputs:
        check_mount(item.mount, f"input {item.name!r}")
    config = plan.spec.get("config")
    if config:
        check_mount(config["mount"], "the config")
    for data in plan.view.files:  # files a rerun copies into its crate, among others
        crate_path(plan.crate_dir, data.id, "the crate's metadata")


def check_mount(mount: str, what: str) -> None:
    """A mount point in the container: a plain absolute path under /preserve."""
    path = PurePosixPath(mount)
    plain = path.is_absolute() and ".." not in path.parts and "\x00" not in mount
    under = PurePosixPath(MOUNT_ROOT) in path.parents
    outputs = path == PurePosixPath(OUTDIR_MOUNT) or PurePosixPath(OUTDIR_MOUNT) in path.parents
    if not (plain and under) or outputs:
        raise CrateError(
            f"{what} is to be mounted at {mount!r}, not a path under {MOUNT_ROOT}/",
            hint=_HINT,
        )
