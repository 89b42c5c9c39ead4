"""``preserve deploy``, ``undeploy``, ``functions`` and ``logs``: deployments on targets.

Deploy resolves the published analysis, builds its function image (never the
analysis: only the shim layer on the pinned image), pushes it to the configured
registry when the target pulls images by reference, has the target make it
callable, and records what was sent where, when, with which digests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from preserve.errors import ConfigError, PreserveError
from preserve.functions import records
from preserve.functions.definition import EventBinding, define
from preserve.functions.image import build, forget_pushed
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET, Progress
from preserve.settings import Settings
from preserve.targets.base import Deployment, FunctionImage, open_target, parse_target


class FunctionNotFound(PreserveError):
    """No deployment has that name."""


@dataclass(frozen=True)
class DeployResult:
    deployment: Deployment

    def to_json(self) -> dict[str, Any]:
        d = self.deployment
        return {
            "function": d.function,
            "target": d.target,
            "image_ref": d.image_ref,
            "image_digest": d.image_digest,
            "base_image_digest": d.base_image_digest,
            "endpoint_id": d.endpoint_id,
            "name": d.name,
        }


def deploy(
    published: str,
    *,
    to: str = "local",
    settings: Settings,
    name: str | None = None,
    events: EventBinding | None = None,
    progress: Progress = QUIET,
) -> DeployResult:
    """Make the analysis published as ``published`` (DOI or OCI reference) a function on
    the target ``to``; deploying the same function again under its name updates it."""
    where = parse_target(to)
    target = open_target(where, settings)
    definition = define(published, settings, progress, name=name, events=events or EventBinding())
    spec = definition.spec
    existing = records.deployment(settings, spec["name"])
    if existing is not None and (
        existing.deployment.function != spec["function"] or existing.deployment.target != str(where)
    ):
        d = existing.deployment
        raise ConfigError(
            f"a function named {spec['name']} is already deployed ({d.function} on {d.target})",
            hint="undeploy it first (preserve undeploy NAME), or choose another --name",
        )
    image = build(definition, settings, progress)
    if not target.needs_registry:
        deployed = target.deploy(image, progress=progress)
    else:
        try:
            image = push_function_image(image, settings, progress)
            deployed = target.deploy(image, progress=progress)
        except BaseException:
            if existing is None:  # a redeploy's image may still be the running one's
                forget_pushed(image.image_id, image.name, pushed_repository(settings, image.name))
            raise
    deployment = Deployment(
        name=spec["name"],
        function=spec["function"],
        target=str(where),
        image_ref=deployed.image_ref,
        image_digest=image.digest or image.image_id,
        base_image_digest=image.base_image_digest,
        endpoint_id=deployed.endpoint_id,
        spec=image.spec,
        sent=deployed.sent,
        function_image_id=image.image_id,
    )
    records.save_deployment(settings, deployment)
    return DeployResult(deployment)


def push_function_image(
    image: FunctionImage, settings: Settings, progress: Progress
) -> FunctionImage:
    """Push the function image to the configured registry, pinned by digest, and under an
    immutable per-digest tag (``sha256-HEX``) for platforms that drop digests (OpenWhisk)."""
    if not settings.registry:
        raise ConfigError(
            f"the target pulls the function image of {image.function} from a registry, "
            "and no registry is configured",
            hint="set registry in the config file (or PRESERVE_REGISTRY)",
        )
    repository = pushed_repository(settings, image.name)
    tag = (image.local_tag or "x:latest").rsplit(":", 1)[1]
    ref = OciRef.parse(f"{repository}:{tag}")
    store = open_store(settings, ref)
    pinned = store.push_image(image.image_id, ref, progress=progress)
    assert pinned.digest is not None
    per_digest = OciRef.parse(f"{repository}:{pinned.digest.replace(':', '-')}")
    store.push_image(image.image_id, per_digest, progress=progress)
    return replace(
        image, reference=str(pinned.pinned()), digest=pinned.digest, tag_reference=str(per_digest)
    )


def pushed_repository(settings: Settings, name: str) -> str:
    return f"{(settings.registry or '').rstrip('/')}/preserve-functions/{name}"


def find(settings: Settings, name: str) -> Deployment:
    found = records.deployment(settings, name)
    if found is None:
        known = ", ".join(r.deployment.name for r in records.deployments(settings)) or "none"
        raise FunctionNotFound(
            f"no function named {name!r} is deployed (deployed: {known})",
            hint="see `preserve functions`, or deploy it with `preserve deploy DOI --to TARGET`",
        )
    return found.deployment


def undeploy(name: str, *, settings: Settings) -> Deployment:
    """Remove the function from its target, then its record."""
    deployment = find(settings, name)
    target = open_target(deployment.target, settings)
    target.undeploy(deployment)
    if target.needs_registry:  # the platform had it from the registry: no copy stays here
        repository = deployment.image_ref.split("@", 1)[0]
        forget_pushed(deployment.function_image_id, deployment.name, repository)
    records.remove_deployment(settings, name)
    return deployment


def functions(settings: Settings) -> list[dict[str, Any]]:
    """Every recorded deployment, with its state as the target reports it now."""
    out = []
    for recorded in records.deployments(settings):
        entry = recorded.to_json()
        try:
            entry["state"] = open_target(recorded.deployment.target, settings).status(
                recorded.deployment
            )
        except PreserveError as exc:
            entry["state"] = f"unknown ({exc.message})"
        out.append(entry)
    return out


def logs(name: str, invocation: str | None = None, *, settings: Settings) -> str:
    """What the target kept of the function, or of one of its invocations."""
    deployment = find(settings, name)
    target = open_target(deployment.target, settings)
    text = target.logs(deployment, invocation)
    if invocation is not None and not text:  # the platform may know it by its own id
        platform_id = records.platform_id(settings, invocation)
        if platform_id and platform_id != invocation:
            text = target.logs(deployment, platform_id)
    return text
