"""The ``local`` target (the embedded default): the function container on this machine.

Deploy starts the function image as a long-running container, hardened (no new
privileges, every capability dropped, a pids limit, the recorded memory limit,
the image's own user), its shim listening on 127.0.0.1 only, and initialises it
with OpenWhisk's ``POST /init``. Invoke drives it exactly as OpenWhisk would:
``POST /run`` with the parameters as ``value`` and the activation context, one
call at a time; a stopped container is started (and initialised) again first,
a running one is reused warm.

Settings (``[targets.local]``): ``network`` is ``host`` (default: the function
reaches the storage this machine reaches, including loopback services) or
``bridge`` (a private network, the shim's port published on 127.0.0.1);
``mounts`` lists host folders shared with the function at the same path, so
that ``file://`` inputs and outputs under them work; ``start_timeout`` bounds
how long a starting shim may take. Storage credentials (``data_token``) and
values the analysis declared withheld reach the shim through ``/init``, never
the container's configuration, the record or the output.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from preserve import net
from preserve.engine import docker_client
from preserve.errors import TargetError
from preserve.progress import Progress
from preserve.runners.base import PIDS_LIMIT
from preserve.runners.docker import image_user
from preserve.settings import Settings
from preserve.targets import http
from preserve.targets.base import (
    Call,
    Deployed,
    Deployment,
    FunctionImage,
    Outcome,
    TargetOptions,
    shim_environment,
)
from preserve.targets.remote import shim_secrets

PREFIX = "preserve-fn"
MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
PORT_LABEL = "org.preserve.function.port"
# The data directory whose deployment this container is: a test session (or a user)
# finds and removes what it started, and never another home's containers.
HOME_LABEL = "org.preserve.function.home"


class LocalOptions(TargetOptions):
    network: Literal["host", "bridge"] = Field(
        "host", description="host: the function reaches what this machine reaches; bridge: private"
    )
    mounts: list[str] = Field(
        default_factory=list,
        description="host folders shared with the function at the same path (file:// data)",
    )
    start_timeout: float = Field(30.0, gt=0, description="seconds a starting shim may take")


class LocalTarget:
    name: ClassVar[str] = "local"
    needs_registry: ClassVar[bool] = False
    options: ClassVar[type[TargetOptions]] = LocalOptions

    def __init__(
        self, options: LocalOptions, settings: Settings, environ: Mapping[str, str]
    ) -> None:
        self.opts = options
        self.settings = settings
        self.environ = environ
        self.session = net.session(settings.network, error=TargetError)

    @classmethod
    def from_settings(
        cls, options: LocalOptions, settings: Settings, /, *, address: str = ""
    ) -> LocalTarget:
        if address:
            raise TargetError(
                f"the local target takes no address (got {address!r})", hint="use --to local"
            )
        return cls(options, settings, os.environ)

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        spec = image.spec
        self._remove(self._container_name(image.name))
        progress.step(f"starting the function container of {image.function} on 127.0.0.1")
        container, port = self._start(
            image.name, image.function, image.image_id, spec, image.local_tag
        )
        self._init(image.function, port, spec, container)
        sent = {
            "image": image.image_id,
            "image_tag": image.local_tag,
            "container": container.name,
            "network": self.opts.network,
            "mounts": list(self.opts.mounts),
            "port": port,
            "init_env": sorted(self._secrets(spec)),  # names only, never values
        }
        return Deployed(
            endpoint_id=container.name, image_ref=image.local_tag or image.image_id, sent=sent
        )

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        port = self._ready(deployment, progress)
        limit = call.timeout or (deployment.spec.get("resources") or {}).get("timeout") or 3600.0
        message = {
            "value": dict(call.parameters),
            "namespace": "local",
            "action_name": deployment.name,
            "activation_id": call.invocation_id,
            "transaction_id": uuid.uuid4().hex,
            "deadline": str(int((time.time() + float(limit)) * 1000)),
            "api_host": "",
        }
        endpoint = http.Endpoint("local", deployment.function)
        try:
            answer = http.call(
                self.session,
                endpoint,
                "POST",
                f"http://127.0.0.1:{port}/run",
                body=message,
                timeout=float(limit) + 60.0,
                ok=(200, 502),
            )
        except TargetError as exc:
            raise self._explained(deployment, exc) from exc
        if not isinstance(answer.document, dict) or "status" not in answer.document:
            raise endpoint.error(
                f"the shim answered /run with no result ({answer.document!r:.200})"
            )
        return Outcome(call.invocation_id, answer.document, platform_id=call.invocation_id)

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        return [self.invoke(deployment, c, progress=progress) for c in calls]

    def status(self, deployment: Deployment) -> str:
        container = self._container(deployment.endpoint_id)
        if container is None:
            return "absent"
        return "ready" if container.status == "running" else "stopped"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        container = self._container(deployment.endpoint_id)
        if container is None:
            return ""
        text = bytes(container.logs(stdout=True, stderr=True)).decode("utf-8", "replace")
        return text if invocation_id is None else invocation_section(text, invocation_id)

    def undeploy(self, deployment: Deployment) -> None:
        """Remove the container, and the function image unless another container uses it
        (a function image keeps its analysis image from being removed)."""
        from docker.errors import APIError, ImageNotFound

        self._remove(deployment.endpoint_id)
        for image in dict.fromkeys([deployment.image_ref, deployment.function_image_id]):
            try:
                if image:
                    docker_client().images.remove(image)
            except ImageNotFound:
                pass  # the tag went first, or someone removed it: nothing left to do
            except APIError as exc:
                if exc.status_code != 409:  # 409: in use by another deployment's container
                    raise

    # -- the container ------------------------------------------------------------------

    def _container_name(self, name: str) -> str:
        """Unique per data directory: deployments of two users (or test runs) sharing one
        Docker Engine never take each other's containers."""
        return f"{PREFIX}-{name}-{home_key(self.settings)}"

    def _start(
        self, name: str, function: str, image_id: str, spec: Mapping[str, Any], tag: str | None
    ) -> tuple[Any, int]:
        from docker.errors import APIError
        from docker.types import Mount

        host = self.opts.network == "host"
        port = _free_port() if host else 8080
        memory = (spec.get("resources") or {}).get("memory")
        try:
            container = docker_client().containers.run(
                image_id,
                name=self._container_name(name),
                detach=True,
                environment={
                    "PORT": str(port),
                    "PRESERVE_SHIM_HOST": "127.0.0.1" if host else "0.0.0.0",
                    **shim_environment("local", tag, image_id, self.opts.mounts),
                },
                network_mode=self.opts.network,
                ports=None if host else {"8080/tcp": ("127.0.0.1", None)},
                mounts=[Mount(p, p, type="bind") for p in self.opts.mounts],
                # The runners' policy: no new privileges, no capabilities, bounded
                # processes, the image's user named explicitly.
                user=image_user(docker_client().images.get(image_id).attrs),
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],
                pids_limit=PIDS_LIMIT,
                mem_limit=memory,
                memswap_limit=memory,
                labels={
                    "org.preserve.function": function,
                    PORT_LABEL: str(port),
                    HOME_LABEL: str(self.settings.data_dir.resolve()),
                },
            )
        except APIError as exc:
            raise TargetError(
                f"local: function {function}: the Docker Engine refused to start it: "
                f"{exc.explanation or exc}"
            ) from exc
        try:
            if not host:
                container.reload()
                port = _port(container)
            self._wait(container, port, function)
        except BaseException:
            container.remove(force=True)  # no deployment records it: nothing may keep it
            raise
        return container, port

    def _wait(self, container: Any, port: int, function: str) -> None:
        deadline = time.monotonic() + self.opts.start_timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                container.reload()
                if container.status not in ("created", "running"):
                    break
                time.sleep(0.05)
        tail = bytes(container.logs(tail=20)).decode("utf-8", "replace").strip()
        raise TargetError(
            f"local: function {function}: the shim did not start listening on 127.0.0.1:{port}"
            + (f"; its last lines:\n{tail}" if tail else ""),
            hint="its last lines say why (the container is removed); deploy again once fixed",
        )

    def _secrets(self, spec: Mapping[str, Any]) -> dict[str, str]:
        """What the shim gets through /init: storage credentials, withheld variables."""
        return shim_secrets(self.settings, spec, self.environ)

    def _init(self, function: str, port: int, spec: Mapping[str, Any], container: Any) -> None:
        """Initialise the started container; one that refuses is removed, not left warm."""
        value = {"name": spec["name"], "main": "main", "code": "", "binary": False}
        try:
            http.call(
                self.session,
                http.Endpoint("local", function),
                "POST",
                f"http://127.0.0.1:{port}/init",
                body={"value": {**value, "env": self._secrets(spec)}},
                timeout=self.opts.start_timeout,
            )
        except BaseException:
            container.remove(force=True)
            raise

    def _ready(self, deployment: Deployment, progress: Progress) -> int:
        """The port of the running container, started (and initialised) again if needed."""
        container = self._container(deployment.endpoint_id)
        if container is not None and container.status == "running":
            return _port(container)
        image = deployment.function_image_id or deployment.image_ref
        progress.step(f"starting the function container of {deployment.function} again")
        self._remove(deployment.endpoint_id)
        container, port = self._start(
            deployment.name, deployment.function, image, deployment.spec, deployment.image_ref
        )
        self._init(deployment.function, port, deployment.spec, container)
        return port

    def _container(self, name: str) -> Any | None:
        from docker.errors import NotFound

        try:
            return docker_client().containers.get(name)
        except NotFound:
            return None

    def _remove(self, name: str) -> None:
        container = self._container(name)
        if container is not None:
            container.remove(force=True)

    def _explained(self, deployment: Deployment, exc: TargetError) -> TargetError:
        """A failed call, with what happened to the container (it crashed, it is gone)."""
        container = self._container(deployment.endpoint_id)
        if container is None:
            return TargetError(
                exc.message + "; the function container is gone", hint="deploy again"
            )
        deadline = time.monotonic() + 5  # a killed container is "running" a moment longer
        container.reload()
        while container.status == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            container.reload()
        if container.status != "running":
            code = container.attrs["State"].get("ExitCode")
            tail = bytes(container.logs(tail=20)).decode("utf-8", "replace").strip()
            return TargetError(
                f"{exc.message}; the function container stopped (exit code {code})"
                + (f"; its last lines:\n{tail}" if tail else ""),
                hint="the next invoke starts it again",
            )
        return exc


def home_key(settings: Settings) -> str:
    """A short stable key of the data directory that records the deployments."""
    return hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:8]


def _port(container: Any) -> int:
    """Where the shim listens: the published port (bridge), else the one it was given."""
    bindings = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get("8080/tcp")
    if bindings:
        return int(bindings[0]["HostPort"])
    return int(container.labels[PORT_LABEL])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def invocation_section(text: str, invocation_id: str) -> str:
    """The lines of one invocation: from its start line to the activation markers."""
    out, inside = [], False
    for line in text.splitlines():
        if f"invocation {invocation_id} started" in line:
            inside = True
        if inside:
            if line.strip() == MARKER:
                break
            out.append(line)
    return "\n".join(out) + ("\n" if out else "")
