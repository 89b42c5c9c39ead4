"""The ``openwhisk+https://HOST[:PORT]/NAMESPACE`` target: an Apache OpenWhisk action.

Follows apache/openwhisk (``functions-and-events.md`` §3). Deploy puts an action of
kind ``blackbox`` (``PUT .../actions/NAME?overwrite=true``). OpenWhisk drops
``@sha256:...`` from image names (``ImageName.fromString``: a digest reference
silently becomes ``:latest``), so the action names the function image by its
immutable per-digest tag (``REPO:sha256-HEX``, pushed by deploy) and records the
digest in the annotation ``preserve-image-digest``; deploy checks that the
platform kept the tag. The shim's context and the storage credentials are
*init parameters* (``"init": true``: given to the container's ``/init`` as its
environment, not to each run); only their names are recorded. Invoke is a
blocking activation (``POST .../actions/NAME?blocking=true``) whose result is
the shim's result document; an activation that outlives the blocking wait
(``202``) is fetched from ``GET .../activations/ID``. A ``429`` (throttled: the
activation was not admitted) or ``503`` is sent again as ``Retry-After`` asks,
within the call's deadline.

Credentials: ``[targets.openwhisk] auth`` (``UUID:KEY``), else as the ``wsk`` CLI
finds them: ``AUTH`` in ``$WSK_CONFIG_FILE``, else in ``~/.wskprops``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr

from preserve.errors import ConfigError
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
    memory_mib,
    platform_url,
    session,
    shim_secrets,
    timeout_seconds,
)

DIGEST_ANNOTATION = "preserve-image-digest"
BLOCKING_WAIT_MS = 60000  # the longest blocking wait OpenWhisk grants


class OpenWhiskOptions(TargetOptions):
    auth: SecretStr | None = Field(
        None, description="UUID:KEY (default: AUTH of $WSK_CONFIG_FILE or ~/.wskprops)"
    )
    memory: int | None = Field(None, gt=0, description="MB (default: the recorded limit)")
    timeout: float | None = Field(
        None, gt=0, description="seconds an activation may run (default: the recorded limit)"
    )
    poll_interval: float = Field(1.0, gt=0, description="seconds between looks at an activation")


class OpenWhiskTarget:
    name: ClassVar[str] = "openwhisk"
    needs_registry: ClassVar[bool] = True
    options: ClassVar[type[TargetOptions]] = OpenWhiskOptions

    def __init__(
        self,
        options: OpenWhiskOptions,
        settings: Settings,
        address: str,
        environ: Mapping[str, str],
    ) -> None:
        parts = platform_url("openwhisk", address, "https://HOST[:PORT]/NAMESPACE")
        namespace = parts.path.strip("/")
        if "/" in namespace:
            raise ConfigError(f"openwhisk+{address}: a namespace has no '/'")
        self.opts = options
        self.settings = settings
        self.environ = environ
        self.namespace = namespace or "_"
        self.base = f"{parts.scheme}://{parts.netloc}/api/v1/namespaces/{quote(self.namespace)}"
        self.label = f"openwhisk+{parts.scheme}://{parts.netloc}/{self.namespace}"
        self.session = session(settings)
        auth = options.auth.get_secret_value() if options.auth else wsk_auth(environ)
        if auth:
            user, _, key = auth.partition(":")
            self.session.auth = (user, key)

    @classmethod
    def from_settings(
        cls, options: OpenWhiskOptions, settings: Settings, /, *, address: str = ""
    ) -> OpenWhiskTarget:
        return cls(options, settings, address, os.environ)

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        endpoint = http.Endpoint(self.label, image.function)
        if image.tag_reference is None or image.digest is None:
            raise endpoint.error("the function image was not pushed under a per-digest tag")
        secrets = shim_secrets(self.settings, image.spec, self.environ)
        plain = shim_environment(self.label, image.reference or image.tag_reference, image.image_id)
        action = self.action(image, plain, secrets)
        progress.step(f"putting the OpenWhisk action {image.name} ({image.tag_reference})")
        url = f"{self.base}/actions/{quote(image.name)}?overwrite=true"
        answer = http.call(self.session, endpoint, "PUT", url, body=action)
        kept = ((answer.document or {}).get("exec") or {}).get("image")
        if kept != image.tag_reference:
            raise endpoint.error(
                f"the platform stored the image as {kept!r}, not {image.tag_reference!r}",
                hint="the action would not run the pinned function image; it was left in place",
            )
        withheld = [
            {**p, "value": "<withheld>"} if p["key"] in secrets else p for p in action["parameters"]
        ]
        return Deployed(
            endpoint_id=f"/{self.namespace}/{image.name}",
            image_ref=image.tag_reference,
            sent={**action, "parameters": withheld},
        )

    def action(
        self, image: FunctionImage, plain: Mapping[str, str], secrets: Mapping[str, str]
    ) -> dict[str, Any]:
        """The action: a blackbox of the per-digest tag, the digest in an annotation."""
        limits: dict[str, int] = {}
        timeout = self.opts.timeout or (image.spec.get("resources") or {}).get("timeout")
        if timeout:
            limits["timeout"] = int(float(timeout) * 1000)
        memory = self.opts.memory or memory_mib(image.spec)
        if memory:
            limits["memory"] = memory
        parameters = [
            {"key": k, "value": v, "init": True} for k, v in sorted({**plain, **secrets}.items())
        ]
        return {
            "exec": {"kind": "blackbox", "image": image.tag_reference},
            "limits": limits,
            "parameters": parameters,
            "annotations": [
                {"key": DIGEST_ANNOTATION, "value": image.digest},
                {"key": "preserve-image", "value": image.reference},
                {"key": "preserve-function", "value": image.function},
                {"key": "preserve-base-image-digest", "value": image.base_image_digest},
                {"key": "provide-api-key", "value": False},
            ],
        }

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        endpoint = http.Endpoint(self.label, deployment.function)
        limit = call.timeout or self.opts.timeout or timeout_seconds(deployment.spec, 60.0)
        deadline = time.monotonic() + limit + 60
        wait = min(BLOCKING_WAIT_MS, int(limit * 1000) + 5000)
        url = f"{self.base}/actions/{quote(deployment.name)}?blocking=true&timeout={wait}"
        answer = http.call(
            self.session,
            endpoint,
            "POST",
            url,
            body=dict(call.parameters),
            ok=(200, 202, 502),
            timeout=wait / 1000 + 30,
            deadline=deadline,
        )
        activation = answer.document if isinstance(answer.document, dict) else {}
        activation_id = str(activation.get("activationId") or "")
        if answer.status == 202:
            progress.step(f"activation {activation_id} outlived the blocking wait: polling it")
            activation = self._activation(endpoint, activation_id, deadline)
        return outcome(call, activation, activation_id)

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        return [self.invoke(deployment, c, progress=progress) for c in calls]

    def status(self, deployment: Deployment) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        url = f"{self.base}/actions/{quote(deployment.name)}"
        answer = http.call(self.session, endpoint, "GET", url, ok=(200, 404))
        if answer.status == 404:
            return "absent"
        notes = {a.get("key"): a.get("value") for a in answer.document.get("annotations") or []}
        return "ready" if notes.get(DIGEST_ANNOTATION) == deployment.image_digest else "changed"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        if invocation_id is not None:
            url = f"{self.base}/activations/{quote(invocation_id)}"
            answer = http.call(self.session, endpoint, "GET", url, ok=(200, 404))
            records = [answer.document] if answer.status == 200 else []
        else:
            url = f"{self.base}/activations?name={quote(deployment.name)}&docs=true&limit=50"
            records = http.call(self.session, endpoint, "GET", url).document or []
        texts = []
        for record in reversed(records):
            if invocation_id is None:
                texts.append(f"== activation {record.get('activationId')}\n")
            texts.extend(f"{line}\n" for line in record.get("logs") or [])
        return "".join(texts)

    def undeploy(self, deployment: Deployment) -> None:
        endpoint = http.Endpoint(self.label, deployment.function)
        url = f"{self.base}/actions/{quote(deployment.name)}"
        http.call(self.session, endpoint, "DELETE", url, ok=(200, 404))

    def _activation(
        self, endpoint: http.Endpoint, activation_id: str, deadline: float
    ) -> dict[str, Any]:
        url = f"{self.base}/activations/{quote(activation_id)}"
        while True:
            answer = http.call(self.session, endpoint, "GET", url, ok=(200, 404), deadline=deadline)
            if answer.status == 200 and isinstance(answer.document, dict):
                return answer.document
            if time.monotonic() > deadline:
                raise endpoint.error(
                    f"activation {activation_id} did not end in time",
                    hint="see `preserve logs NAME` later",
                )
            time.sleep(self.opts.poll_interval)


def outcome(call: Call, activation: Mapping[str, Any], activation_id: str) -> Outcome:
    """The shim's result from an activation record, or why there is none."""
    response = activation.get("response") or {}
    result = response.get("result")
    if isinstance(result, dict) and "status" in result and "function" in result:
        return Outcome(call.invocation_id, result, platform_id=activation_id or None)
    error = (result or {}).get("error") if isinstance(result, dict) else None
    why = f"activation {activation_id}: {response.get('status') or 'no response'}"
    return Outcome(
        call.invocation_id,
        None,
        platform_id=activation_id or None,
        error=f"{why}: {error}" if error else why,
    )


def wsk_auth(environ: Mapping[str, str]) -> str | None:
    """``AUTH`` as the wsk CLI reads it: ``$WSK_CONFIG_FILE``, else ``~/.wskprops``."""
    path = Path(environ["WSK_CONFIG_FILE"]) if environ.get("WSK_CONFIG_FILE") else None
    path = path or Path(environ.get("HOME", str(Path.home()))) / ".wskprops"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "AUTH":
            return value.strip() or None
    return None
