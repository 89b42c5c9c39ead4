"""The ``knative:DIR`` target: a Knative Service and Trigger, written for an administrator.

Deploy writes ``DIR/NAME.yaml``: a ``serving.knative.dev/v1`` Service running the
function image pinned by digest (the shim answers HTTP and CloudEvents on
``$PORT``), and an ``eventing.knative.dev/v1`` Trigger that sends the broker's
events of one type to it (``functions-and-events.md`` §4). ``kubectl apply -f``
makes it live. Storage credentials are never written: the Service reads them
from a Kubernetes Secret (``data_token_secret``, created by the administrator),
mounted as files the shim reads (``PRESERVE_SHIM_SECRET_FILES``). Knative
delivers events at least once; the invocation key makes a duplicate find its
call's crate instead of running again.

Invoke needs the Service's address once it is applied: ``[targets.knative] url``
(``{name}`` is replaced by the function's name); calls are JSON POSTs to it, as to
any HTTP function. Without it, invoke says how to call the function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field

from preserve.errors import ConfigError, TargetError
from preserve.progress import Progress
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
from preserve.targets.remote import (
    DATA_TOKEN,
    memory_mib,
    pinned,
    secret_file_env,
    session,
    timeout_seconds,
)

SECRET_MOUNT = "/var/run/secrets/preserve"


class KnativeOptions(TargetOptions):
    namespace: str | None = Field(None, description="the Kubernetes namespace of both objects")
    broker: str = Field("default", description="the Eventing broker the Trigger listens to")
    event_type: str = Field(
        "org.dcache.storage.closewrite",
        description="the CloudEvents type the Trigger passes to the function",
    )
    data_token_secret: str | None = Field(
        None,
        description="a Kubernetes Secret (key 'token') holding the storage token, if any",
    )
    retry: int = Field(2, ge=0, description="delivery retries of the Trigger")
    url: str | None = Field(
        None, description="the Service's URL once applied ({name}: the function's name)"
    )


class KnativeTarget:
    name: ClassVar[str] = "knative"
    needs_registry: ClassVar[bool] = True
    options: ClassVar[type[TargetOptions]] = KnativeOptions

    def __init__(self, options: KnativeOptions, settings: Settings, folder: Path) -> None:
        self.opts = options
        self.settings = settings
        self.folder = folder
        self.label = f"knative:{folder}"
        self.session = session(settings)

    @classmethod
    def from_settings(
        cls, options: KnativeOptions, settings: Settings, /, *, address: str = ""
    ) -> KnativeTarget:
        if not address or "://" in address:
            raise ConfigError(
                f"knative:{address} names no folder",
                hint="name it as knative:DIR, the folder the manifests are written to",
            )
        return cls(options, settings, Path(address).expanduser().resolve())

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        service, trigger = self.service(image), self.trigger(image.name)
        path = self.folder / f"{image.name}.yaml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".yaml.part")
            partial.write_text(yaml.safe_dump_all([service, trigger], sort_keys=False))
            partial.replace(path)
        except OSError as exc:
            raise TargetError(
                f"{self.label}: function {image.function}: cannot write {path}: {exc.strerror}"
            ) from exc
        progress.step(f"wrote {path}: apply it with kubectl apply -f {path}")
        return Deployed(
            endpoint_id=str(path),
            image_ref=service["spec"]["template"]["spec"]["containers"][0]["image"],
            sent={"manifest": str(path), "service": service, "trigger": trigger},
        )

    def service(self, image: FunctionImage) -> dict[str, Any]:
        """The Knative Service: one container, the image by digest, HTTP on 8080."""
        ref = pinned(image, self.label)
        env = dict(shim_environment(self.label, ref, image.image_id))
        container: dict[str, Any] = {
            "name": "function",
            "image": ref,
            "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/_/health"}},
        }
        volumes = []
        if self.opts.data_token_secret:
            files = {DATA_TOKEN: f"{SECRET_MOUNT}/token"}
            env |= secret_file_env(files)
            env["PRESERVE_DATA_TOKEN_HOSTS"] = ",".join(self.settings.data_token_hosts)
            container["volumeMounts"] = [
                {"name": "preserve-secrets", "mountPath": SECRET_MOUNT, "readOnly": True}
            ]
            volumes = [
                {"name": "preserve-secrets", "secret": {"secretName": self.opts.data_token_secret}}
            ]
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
        memory = memory_mib(image.spec)
        if memory:
            container["resources"] = {"limits": {"memory": f"{memory}Mi"}}
        spec: dict[str, Any] = {
            "containers": [container],
            "timeoutSeconds": int(timeout_seconds(image.spec, 300.0)),
            "containerConcurrency": 1,  # the shim runs one call at a time
        }
        if volumes:
            spec["volumes"] = volumes
        return {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": self._metadata(
                image.name,
                image.name,
                {
                    "org.preserve.function": image.function,
                    "org.preserve.image.digest": image.digest or "",
                    "org.opencontainers.image.base.digest": image.base_image_digest or "",
                },
            ),
            "spec": {"template": {"spec": spec}},
        }

    def trigger(self, name: str) -> dict[str, Any]:
        """The Trigger: the broker's events of ``event_type`` to the Service."""
        return {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": self._metadata(f"{name}-trigger", name, {}),
            "spec": {
                "broker": self.opts.broker,
                "filter": {"attributes": {"type": self.opts.event_type}},
                "subscriber": {
                    "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name}
                },
                "delivery": {
                    "retry": self.opts.retry,
                    "backoffPolicy": "exponential",
                    "backoffDelay": "PT2S",
                },
            },
        }

    def _metadata(self, name: str, function: str, annotations: Mapping[str, str]) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": {"org.preserve.function.name": function}}
        if self.opts.namespace:
            meta["namespace"] = self.opts.namespace
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        endpoint = http.Endpoint(self.label, deployment.function)
        if not self.opts.url:
            raise endpoint.error(
                "this target wrote manifests; it calls the function only once it is applied "
                "and its URL is known",
                hint=f"kubectl apply -f {deployment.endpoint_id}, then set [targets.knative] "
                "url (e.g. https://{name}.NAMESPACE.example.org)",
            )
        url = self.opts.url.replace("{name}", deployment.name)
        answer = http.call(
            self.session,
            endpoint,
            "POST",
            url,
            body=dict(call.parameters),
            headers={"X-Call-Id": call.invocation_id},
            ok=(200, 500),
            timeout=timeout_seconds(deployment.spec) + 60,
        )
        document = answer.document
        if isinstance(document, dict) and "status" in document:
            return Outcome(call.invocation_id, document, platform_id=call.invocation_id)
        return Outcome(call.invocation_id, None, error=f"no result: {json.dumps(document)[:300]}")

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        return [self.invoke(deployment, c, progress=progress) for c in calls]

    def status(self, deployment: Deployment) -> str:
        return "written" if Path(deployment.endpoint_id).is_file() else "absent"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        return (
            f"# preserve keeps no logs of {deployment.name} on Knative; the cluster does:\n"
            f"kubectl logs -l serving.knative.dev/service={deployment.name} -c function\n"
        )

    def undeploy(self, deployment: Deployment) -> None:
        Path(deployment.endpoint_id).unlink(missing_ok=True)
