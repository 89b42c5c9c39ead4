"""The target interface (entry-point group ``preserve.targets``): where functions run.

A target makes a function callable on a platform (:meth:`Target.deploy`), calls
it (:meth:`Target.invoke`, and :meth:`Target.invoke_many` for job arrays), says
how a deployment is (:meth:`Target.status`), returns what the platform kept
(:meth:`Target.logs`) and removes it (:meth:`Target.undeploy`).

Every target runs the same *function image*: the analysis image pinned by
digest plus a thin layer with the shim (``preserve/shim``), built once by
``preserve deploy``. A target whose platform pulls images by reference itself
says so with :attr:`Target.needs_registry`; deploy then pushes the function
image to the configured registry first and hands over its pinned reference.
What a target sends is recorded (:attr:`Deployed.sent`): it must hold no
credential. What a call returns is the shim's result document
(``preserve.shim.documents``), or a :class:`~preserve.errors.TargetError` naming
the target, the function and the cause.

Targets are named on the command line as ``NAME`` (``local``, ``slurm``),
``NAME+URL`` (``oscar+https://host``, ``openwhisk+https://host/NAMESPACE``) or
``NAME:ADDRESS`` (``knative:DIR``); :func:`parse_target` splits them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from preserve import plugins
from preserve.errors import ConfigError
from preserve.progress import Progress

if TYPE_CHECKING:
    from preserve.settings import Settings

_TARGET = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)(?:(?P<sep>\+|:)(?P<address>.+))?$")


@dataclass(frozen=True)
class TargetAddress:
    """A parsed ``--to``: the plug-in name and what follows it."""

    name: str
    address: str  # "" for targets named alone

    def __str__(self) -> str:
        if not self.address:
            return self.name
        sep = "+" if "://" in self.address else ":"
        return f"{self.name}{sep}{self.address}"


def parse_target(text: str) -> TargetAddress:
    """``local`` -> (local, ""); ``oscar+https://h`` -> (oscar, https://h); ``knative:d``."""
    match = _TARGET.match(text.strip())
    if match is None:
        raise ConfigError(
            f"{text!r} is not a target",
            hint="name one as local, slurm, oscar+https://HOST, "
            "openwhisk+https://HOST/NAMESPACE, openfaas+https://HOST or knative:DIR",
        )
    return TargetAddress(match["name"], match["address"] or "")


@dataclass(frozen=True)
class FunctionImage:
    """The function image deploy built: the pinned analysis image plus the shim layer."""

    name: str  # the deployment's name
    function: str  # the DOI, else the crate's pinned reference
    image_id: str  # the function image's ID in the local Docker Engine (config digest)
    base_image_id: str  # the analysis image's ID
    base_image_digest: str | None  # the analysis image's manifest digest (from the crate)
    spec: Mapping[str, Any]  # the function definition baked into the image (function.json)
    reference: str | None = None  # REGISTRY/REPO@sha256:..., once pushed for the target
    tag_reference: str | None = None  # REGISTRY/REPO:sha256-HEX, an immutable per-digest tag
    digest: str | None = None  # the function image's manifest digest, once pushed
    local_tag: str | None = None  # its tag in the local Docker Engine

    @property
    def runnable(self) -> str:
        """What a platform is told to run: the pinned reference, else the local image ID."""
        return self.reference or self.image_id


@dataclass(frozen=True)
class Deployed:
    """What a target made of a function image."""

    endpoint_id: str  # the target's handle: a container, a service URL, an action name
    image_ref: str  # the image the platform runs
    sent: Mapping[str, Any]  # the definition as sent, without credentials


@dataclass(frozen=True)
class Deployment:
    """A recorded deployment, as targets get it back for calls, logs and undeploy."""

    name: str
    function: str
    target: str  # as given to --to
    image_ref: str
    image_digest: str | None
    base_image_digest: str | None
    endpoint_id: str
    spec: Mapping[str, Any]
    sent: Mapping[str, Any] = field(default_factory=dict)
    function_image_id: str | None = None


@dataclass(frozen=True)
class Call:
    """One invocation: the parameters document and the host's identity for it."""

    invocation_id: str
    parameters: Mapping[str, Any]  # {"inputs", "output_to", "config"}
    timeout: float | None = None  # seconds; None: the function's recorded limit


@dataclass(frozen=True)
class Outcome:
    """What came back from one call."""

    invocation_id: str
    result: Mapping[str, Any] | None  # the shim's result document; None if none came back
    platform_id: str | None = None  # activation, job or container id on the platform
    error: str | None = None  # the platform's failure when there is no result


class Target(Protocol):
    """One kind of platform; constructed by :func:`open_target`."""

    name: ClassVar[str]
    needs_registry: ClassVar[bool]  # the platform pulls the function image by reference
    options: ClassVar[type[BaseModel]]

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        """Make the function callable; return the endpoint and what was sent."""

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        """Run one call and wait for its result (TargetError when the platform fails)."""

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        """Run many calls (a job array where the platform has one); one outcome per call."""

    def status(self, deployment: Deployment) -> str:
        """``ready``, ``stopped``, ``absent`` or the platform's own word."""

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        """What the platform kept: the deployment's logs, or one invocation's."""

    def undeploy(self, deployment: Deployment) -> None:
        """Remove the function from the platform (nothing left running)."""


class TargetOptions(plugins.PluginOptions):
    """Base of a target's ``[targets.NAME]`` table (unknown keys are errors)."""


def open_target(address: TargetAddress | str, settings: Settings) -> Target:
    """The target plug-in for ``address``, built from its ``[targets.NAME]`` table."""
    where = parse_target(address) if isinstance(address, str) else address
    target: Target = plugins.create(plugins.TARGETS, where.name, settings, address=where.address)
    return target


def shim_environment(
    target: str, image_ref: str | None, image_id: str | None, files: Sequence[str] = ()
) -> dict[str, str]:
    """What every target tells the shim about where it runs (never a credential):
    the target, the function image (for the invocation crate), the folders ``file://``
    data may be in. Credentials go through the platform's secrets or OpenWhisk's /init."""
    return {
        "PRESERVE_TARGET": target,
        "PRESERVE_FUNCTION_IMAGE": image_ref or "",
        "PRESERVE_FUNCTION_IMAGE_ID": image_id or "",
        "PRESERVE_SHIM_FILES": os.pathsep.join(files),
    }
