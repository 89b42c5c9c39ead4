"""``preserve doctor``: is everything the toolkit drives in place?

Each check returns one :class:`Check` with a verdict and, when it fails, a hint.
Required checks decide the exit status; the others only inform.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Literal

from preserve import __version__
from preserve.errors import PreserveError
from preserve.settings import Settings

Status = Literal["ok", "warn", "fail"]

# Distributions whose versions matter when a result is to be reproduced.
KEY_DEPENDENCIES = (
    "docker",
    "jupyter-repo2docker",
    "rocrate",
    "datacite",
    "oras",
    "h5py",
    "numpy",
    "jsonschema",
    "pydantic",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None
    required: bool = True

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def check_docker(settings: Settings) -> Check:
    from preserve.engine import engine_host, engine_version

    try:
        info = engine_version()
    except PreserveError as exc:
        return Check("docker", "fail", exc.message, exc.hint)
    return Check(
        "docker",
        "ok",
        f"Docker Engine {info.get('Version')} (API {info.get('ApiVersion')}) at {engine_host()}",
    )


def check_store(settings: Settings) -> Check:
    from preserve.oci.stores import default_target, open_store

    try:
        target = default_target(settings)
        detail = open_store(settings, target).ping()
    except PreserveError as exc:
        return Check("store", "fail", exc.message, exc.hint)
    return Check("store", "ok", detail)


def check_doi(settings: Settings) -> Check:
    from preserve.doi.providers import open_provider

    try:
        detail = open_provider(settings).describe()
    except PreserveError as exc:
        return Check("doi", "fail", exc.message, exc.hint)
    return Check("doi", "ok", detail)


def check_runner(settings: Settings) -> Check:
    from preserve.runners.base import open_runner

    try:
        detail = f"{settings.runner} runner: {open_runner(settings).describe()}"
    except PreserveError as exc:
        return Check("runner", "fail", exc.message, exc.hint)
    return Check("runner", "ok", detail)


def check_disk(settings: Settings) -> Check:
    path = settings.cache_dir
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gib = shutil.disk_usage(probe).free / 2**30
    detail = f"{free_gib:.1f} GiB free for the cache in {path}"
    if free_gib < settings.min_free_gib:
        return Check(
            "disk",
            "fail",
            detail,
            f"free space or set cache_dir (PRESERVE_CACHE_DIR) to a larger disk; "
            f"at least {settings.min_free_gib:g} GiB are needed",
        )
    return Check("disk", "ok", detail)


def check_dependencies(settings: Settings) -> Check:
    found, missing = [f"preserve {__version__}"], []
    for dist in KEY_DEPENDENCIES:
        try:
            found.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            missing.append(dist)
    if missing:
        return Check(
            "dependencies",
            "fail",
            "missing: " + ", ".join(missing),
            "reinstall preserve with its dependencies: pip install preserve",
        )
    return Check("dependencies", "ok", ", ".join(found))


CHECKS: tuple[Callable[[Settings], Check], ...] = (
    check_docker,
    check_store,
    check_doi,
    check_runner,
    check_disk,
    check_dependencies,
)


def run_checks(settings: Settings) -> list[Check]:
    return [check(settings) for check in CHECKS]


def healthy(checks: list[Check]) -> bool:
    return all(c.status != "fail" for c in checks if c.required)
