"""The ``openfaas+https://HOST[:PORT]`` target: an OpenFaaS function.

Follows openfaas/faas (``functions-and-events.md`` §4). Deploy creates
(``POST /system/functions``, ``202``) or updates (``PUT``) a function whose image
is the function image pinned by digest; the shim serves HTTP on the watchdog's
port (8080) itself. Storage credentials become OpenFaaS secrets
(``/system/secrets``), mounted in the function at ``/var/openfaas/secrets/NAME``
and named to the shim by ``PRESERVE_SHIM_SECRET_FILES``: the function's
definition and the record hold only their names.

Invoke is ``POST /function/NAME`` (synchronous) with the parameters as JSON and
``X-Call-Id`` set to the invocation's id (the gateway keeps it; the shim uses it,
so logs and crate name the same call); or, with ``mode = "async"``, ``POST
/async-function/NAME`` with ``X-Callback-Url``: the gateway answers ``202`` at once
and its queue worker later POSTs the result to a receiver this target listens
with (``callback_listen``; ``callback_url`` is how the gateway reaches it, when
that is not the listening address). Logs come from ``GET /system/logs``.

Credentials: ``[targets.openfaas] user`` (``admin``) and ``password``
(``PRESERVE_TARGETS_OPENFAAS_PASSWORD``), for ``/system`` only.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

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
    Platform,
    invocation_lines,
    memory_mib,
    pinned,
    secret_file_env,
    session,
    shim_secrets,
    timeout_seconds,
)

SECRETS_DIR = "/var/openfaas/secrets"
MAX_CALLBACK = 2 << 20


class OpenFaasOptions(TargetOptions):
    user: str = Field("admin", description="the gateway's user (HTTP Basic, /system only)")
    password: SecretStr | None = Field(None, description="the gateway's password")
    namespace: str | None = Field(None, description="the functions' namespace (openfaas-fn)")
    memory: str | None = Field(
        None, description="memory limit, e.g. 512Mi (default: the recorded limit)"
    )
    mode: Literal["sync", "async"] = Field(
        "sync", description="sync: /function/NAME; async: /async-function/NAME + callback"
    )
    callback_listen: str = Field(
        "127.0.0.1:0", description="HOST:PORT the async callback receiver listens on"
    )
    callback_url: str | None = Field(
        None, description="the receiver's URL as the gateway reaches it (default: listened)"
    )


class OpenFaasTarget(Platform[OpenFaasOptions]):
    name: ClassVar[str] = "openfaas"
    needs_registry: ClassVar[bool] = True
    options: ClassVar[type[TargetOptions]] = OpenFaasOptions

    def __init__(
        self, options: OpenFaasOptions, settings: Settings, address: str, environ: Mapping[str, str]
    ) -> None:
        super().__init__(options, settings, address, environ)
        if options.password is not None:
            self.admin.auth = (options.user, options.password.get_secret_value())
        self.calls = session(settings)  # /function/ is open on a gateway: no credentials

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        endpoint = http.Endpoint(self.label, image.function)
        secrets = shim_secrets(self.settings, image.spec, self.environ)
        names = {var: secret_name(image.name, var) for var in secrets}
        for var, value in secrets.items():
            self._secret(endpoint, names[var], value)
        spec = self.function(image, names)
        exists = self._function(endpoint, image.name) is not None
        progress.step(f"{'updating' if exists else 'creating'} the OpenFaaS function {image.name}")
        url = f"{self.base}/system/functions"
        http.call(self.admin, endpoint, "PUT" if exists else "POST", url, body=spec)
        return Deployed(endpoint_id=image.name, image_ref=spec["image"], sent=spec)

    def function(self, image: FunctionImage, secrets: Mapping[str, str]) -> dict[str, Any]:
        """The function's definition: the pinned image, its secrets by name."""
        ref = pinned(image, self.label)
        env = {
            **shim_environment(self.label, ref, image.image_id),
            **secret_file_env({var: f"{SECRETS_DIR}/{name}" for var, name in secrets.items()}),
        }
        spec: dict[str, Any] = {
            "service": image.name,
            "image": ref,
            "envProcess": "",
            "envVars": env,
            "labels": {"org.preserve.function.name": image.name},
            "annotations": {
                "org.preserve.function": image.function,
                "org.preserve.image.digest": image.digest or "",
                "org.opencontainers.image.base.digest": image.base_image_digest or "",
            },
            "secrets": sorted(secrets.values()),
            "readOnlyRootFilesystem": False,  # the shim stages inputs under /preserve
        }
        if self.opts.namespace:
            spec["namespace"] = self.opts.namespace
        memory = self.opts.memory or (
            f"{memory_mib(image.spec)}Mi" if memory_mib(image.spec) else None
        )
        if memory:
            spec["limits"] = {"memory": memory}
        return spec

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        endpoint = http.Endpoint(self.label, deployment.function)
        limit = call.timeout or timeout_seconds(deployment.spec)
        headers = {"X-Call-Id": call.invocation_id, "Content-Type": "application/json"}
        if self.opts.mode == "async":
            return self._invoke_async(endpoint, deployment, call, headers, limit, progress)
        url = f"{self.base}/function/{quote(deployment.name)}"
        answer = http.call(
            self.calls,
            endpoint,
            "POST",
            url,
            body=dict(call.parameters),
            headers=headers,
            ok=(200, 500, 502),
            timeout=limit + 60,
            expect_json=False,
        )
        return self._outcome(call, answer.status, str(answer.document))

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        return [self.invoke(deployment, c, progress=progress) for c in calls]

    def status(self, deployment: Deployment) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        found = self._function(endpoint, deployment.name)
        if found is None:
            return "absent"
        if found.get("image") != deployment.image_ref:
            return "changed"
        return "ready" if found.get("availableReplicas") else "starting"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        url = f"{self.base}/system/logs?name={quote(deployment.name)}"
        answer = http.call(self.admin, endpoint, "GET", url, expect_json=False)
        lines = []
        for line in str(answer.document).splitlines():  # NDJSON: {"text": ..., ...}
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                lines.append(str(entry.get("text", "")).rstrip("\n"))
        text = "".join(f"{line}\n" for line in lines)
        return text if invocation_id is None else invocation_lines(text, invocation_id)

    def undeploy(self, deployment: Deployment) -> None:
        endpoint = http.Endpoint(self.label, deployment.function)
        body = {"functionName": deployment.name}
        http.call(
            self.admin,
            endpoint,
            "DELETE",
            f"{self.base}/system/functions",
            body=body,
            ok=(200, 202, 404),
        )
        for name in deployment.sent.get("secrets") or []:
            http.call(
                self.admin,
                endpoint,
                "DELETE",
                f"{self.base}/system/secrets",
                body={"name": name},
                ok=(200, 202, 204, 404),
            )

    # -- the API -----------------------------------------------------------------------

    def _function(self, endpoint: http.Endpoint, name: str) -> dict[str, Any] | None:
        url = f"{self.base}/system/function/{quote(name)}"
        answer = http.call(self.admin, endpoint, "GET", url, ok=(200, 404), expect_json=False)
        if answer.status == 404:
            return None
        try:
            found = json.loads(str(answer.document))
        except ValueError as exc:
            raise endpoint.error(f"GET {url} answered something that is not JSON") from exc
        return found if isinstance(found, dict) else None

    def _secret(self, endpoint: http.Endpoint, name: str, value: str) -> None:
        """Create the secret, or replace its value (never recorded)."""
        url = f"{self.base}/system/secrets"
        body = {"name": name, "value": value}
        answer = http.call(
            self.admin, endpoint, "POST", url, body=body, ok=(200, 201, 202, 409), expect_json=False
        )
        if answer.status == 409:
            http.call(self.admin, endpoint, "PUT", url, body=body, expect_json=False)

    def _outcome(self, call: Call, status: int, text: str) -> Outcome:
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict) and "status" in document and "function" in document:
            return Outcome(call.invocation_id, document, platform_id=call.invocation_id)
        return Outcome(
            call.invocation_id,
            None,
            platform_id=call.invocation_id,
            error=f"the function answered HTTP {status} without a result: {text.strip()[:300]}",
        )

    def _invoke_async(
        self,
        endpoint: http.Endpoint,
        deployment: Deployment,
        call: Call,
        headers: dict[str, str],
        limit: float,
        progress: Progress,
    ) -> Outcome:
        with CallbackReceiver(self.opts.callback_listen) as receiver:
            url = self.opts.callback_url or receiver.url
            async_url = f"{self.base}/async-function/{quote(deployment.name)}"
            http.call(
                self.calls,
                endpoint,
                "POST",
                async_url,
                body=dict(call.parameters),
                headers={**headers, "X-Callback-Url": url},
                ok=(202,),
                expect_json=False,
            )
            progress.step(f"queued at the gateway; waiting for its callback ({call.invocation_id})")
            try:
                status, body = receiver.wait(call.invocation_id, limit + 60)
            except queue.Empty:
                raise endpoint.error(
                    f"no callback for call {call.invocation_id} within {limit + 60:g} s",
                    hint="check that the gateway reaches callback_url; see `preserve logs NAME`",
                ) from None
        return self._outcome(call, status, body)


def secret_name(function: str, variable: str) -> str:
    """An OpenFaaS secret name (a DNS label) for one variable of one function."""
    return f"{function}-{variable.lower().replace('_', '-')}"[:63].strip("-")


class CallbackReceiver:
    """A one-call HTTP receiver for the gateway's queue worker: ``X-Call-Id`` + result."""

    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self.results: queue.Queue[tuple[str, int, str]] = queue.Queue()
        received = self.results

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_CALLBACK)
                body = self.rfile.read(length).decode("utf-8", "replace")
                status = self.headers.get("X-Function-Status") or "0"
                received.put(
                    (
                        self.headers.get("X-Call-Id") or "",
                        int(status) if status.isdigit() else 0,
                        body,
                    )
                )
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer((host or "127.0.0.1", int(port or 0)), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, call_id: str, timeout: float) -> tuple[int, str]:
        """The status and body of the callback for ``call_id`` (others are ignored)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise queue.Empty
            got, status, body = self.results.get(timeout=left)
            if got == call_id:
                return status, body
