"""An OpenFaaS gateway + provider for tests, on 127.0.0.1; functions run in Docker.

Follows openfaas/faas @8d803bf (``functions-and-events.md`` §4): ``api-docs/spec.openapi.yml``
and ``gateway/main.go``, ``gateway/handlers/{queue_proxy,callid_middleware}.go``,
``gateway/README.md``; the callback headers of the async docs
(https://docs.openfaas.com/reference/async/).

* Basic auth guards ``/system/*`` only (``DecorateWithBasicAuth`` in ``main.go``);
  ``/function/`` and ``/async-function/`` are open, as on a real gateway. No or wrong
  credentials -> ``401``.
* ``POST /system/functions`` ``{"service","image","envProcess","envVars","labels",
  "annotations","limits","requests",...}`` -> ``202``; ``service`` and ``image`` are
  required and the name must be a DNS-1123 label (``400``); an existing name ``400``
  (inferred). The function's container starts (``docker run -p 127.0.0.1::8080``,
  ``envVars`` as environment, ``envProcess`` as ``fprocess``, ``limits.memory``).
  ``PUT`` replaces it (``200``, the spec's code; unknown ``404``). ``DELETE
  {"functionName"}`` -> ``200`` (unknown ``404``, no name ``400``). ``GET
  /system/functions`` and ``GET /system/function/NAME`` give ``FunctionStatus``.
* ``/function/NAME[/PATH]`` (any method) is proxied to the container's port 8080 with
  method, path, query, headers and body, adding ``X-Call-Id`` and ``X-Start-Time``
  (request and response) and ``X-Duration-Seconds``; the function's status and body
  come back as they are. Unknown function ``404``. With ``max_inflight`` set on a
  function, concurrent calls beyond it get ``429`` (of-watchdog ``max_inflight``).
* ``/async-function/NAME`` -> ``202`` + ``X-Call-Id`` at once, even for an unknown
  function (the gateway only queues, faas#1298); a queue worker then calls the
  function and, if ``X-Callback-Url`` was given, POSTs the result there with
  ``X-Call-Id``, ``X-Function-Name``, ``X-Function-Status`` and ``X-Duration-Seconds``.
  A malformed ``X-Callback-Url`` -> ``400``.
* ``/system/secrets`` (spec ``Secret``): ``GET`` lists ``[{"name"}]`` (never values);
  ``POST {"name","value"}`` -> ``201`` (a taken name ``409``, inferred from faas-netes);
  ``PUT`` -> ``200`` (unknown ``404``); ``DELETE {"name"}`` -> ``200`` (unknown ``404``).
  A function's ``secrets`` must exist (``400`` otherwise) and are mounted read-only at
  ``/var/openfaas/secrets/NAME``, as faas-netes mounts them.
* ``GET /system/logs?name=NAME[&tail=N]`` -> ``application/x-ndjson``, one ``{"name",
  "namespace","instance","timestamp","text"}`` per line of the function's container log
  (unknown function ``404``).

Test switch: ``network="host"`` runs functions on this machine's network (so that they
reach loopback test servers), each on a free port given as ``PORT`` (an OpenFaaS
function's watchdog listens on 8080 of its own network).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from tests.servers import containers
from tests.servers.base import Handler, LoopbackServer, Recorded, handler_for

DNS_LABEL = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
HOP |= {"content-length", "proxy-authorization", "proxy-authenticate"}


@dataclass
class Function:
    spec: dict[str, Any]
    container: Any = None
    port: int = 0
    invocations: int = 0
    max_inflight: int | None = None
    inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec["service"],
            "image": spec["image"],
            "namespace": spec.get("namespace") or "openfaas-fn",
            "envProcess": spec.get("envProcess", ""),
            "envVars": spec.get("envVars") or {},
            "labels": spec.get("labels") or {},
            "annotations": spec.get("annotations") or {},
            "limits": spec.get("limits"),
            "requests": spec.get("requests"),
            "invocationCount": self.invocations,
            "replicas": 1,
            "availableReplicas": 1 if self.container is not None else 0,
        }


class OpenFaasServer:
    """Gateway on a loopback port; ``user``/``password`` guard ``/system``."""

    def __init__(self, user: str = "admin", network: str | None = None) -> None:
        self.user = user
        self.network = network
        self.secrets: dict[str, str] = {}
        self._secret_dir = Path(tempfile.mkdtemp(prefix="preserve-test-infra-openfaas-"))
        self.password = secrets.token_urlsafe(16)
        self.functions: dict[str, Function] = {}
        self.callbacks: list[dict[str, Any]] = []  # what the queue worker POSTed, for tests
        self.log: list[Recorded] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._all: list[Any] = []
        self.http = LoopbackServer(handler_for(_Gateway, self, "gateway"), self.errors)

    @property
    def url(self) -> str:
        return self.http.url

    def close(self) -> None:
        self.http.close()
        for container in self._all:
            containers.remove(container)
        shutil.rmtree(self._secret_dir, ignore_errors=True)

    def deploy(self, spec: dict[str, Any]) -> Function:
        containers.ensure_image(spec["image"])
        env = {str(k): str(v) for k, v in (spec.get("envVars") or {}).items()}
        if spec.get("envProcess"):
            env["fprocess"] = spec["envProcess"]
        run: dict[str, Any] = {
            "detach": True,
            "name": f"{containers.PREFIX}-faas-{spec['service']}-{uuid.uuid4().hex[:8]}",
            "environment": env,
            "labels": {"preserve-test-infra": "openfaas", **(spec.get("labels") or {})},
            "volumes": self._secret_volumes(spec.get("secrets") or []),
        }
        port = 0
        if self.network == "host":
            port = containers.free_port()
            run["network_mode"] = "host"
            env["PORT"] = str(port)
        else:
            run["ports"] = {"8080/tcp": ("127.0.0.1", None)}
        memory = (spec.get("limits") or {}).get("memory")
        if memory:
            run["mem_limit"] = containers.memory_limit(memory)
        container = containers.client().containers.run(spec["image"], **run)
        self._all.append(container)
        function = Function(spec, container, port or containers.host_port(container))
        max_inflight = env.get("max_inflight")
        function.max_inflight = int(max_inflight) if max_inflight else None
        return function

    def _secret_volumes(self, names: list[str]) -> dict[str, dict[str, str]]:
        volumes = {}
        for name in names:
            path = self._secret_dir / uuid.uuid4().hex
            path.write_text(self.secrets[name])
            path.chmod(0o444)
            volumes[str(path)] = {"bind": f"/var/openfaas/secrets/{name}", "mode": "ro"}
        return volumes

    def logs(self, name: str, tail: int | None) -> list[dict[str, str]] | None:
        function = self.functions.get(name)
        if function is None:
            return None
        raw = function.container.logs(stdout=True, stderr=True, timestamps=True)
        entries = []
        for line in raw.decode("utf-8", "replace").splitlines()[-(tail or 0) :]:
            stamp, _, text = line.partition(" ")
            entries.append(
                {
                    "name": name,
                    "namespace": "openfaas-fn",
                    "instance": function.container.name,
                    "timestamp": stamp,
                    "text": text,
                }
            )
        return entries

    def invoke(
        self, name: str, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        function = self.functions.get(name)
        if function is None:
            return 404, {}, f"Cannot find service: {name}.".encode()
        with function.lock:
            if function.max_inflight is not None and function.inflight >= function.max_inflight:
                return 429, {}, b"Concurrent request limit exceeded. Max concurrent requests: "
            function.inflight += 1
            function.invocations += 1
        try:
            if not containers.wait_for_port(function.port, 30):
                return 502, {}, b"function not ready"
            url = f"http://127.0.0.1:{function.port}{path or '/'}" + (f"?{query}" if query else "")
            forwarded = {k: v for k, v in headers.items() if k.lower() not in HOP}
            deadline = time.monotonic() + 30
            while True:
                try:
                    resp = requests.request(method, url, headers=forwarded, data=body, timeout=300)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        return 502, {}, b"Can't reach service for: " + name.encode()
                    time.sleep(0.05)
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            return resp.status_code, out, resp.content
        finally:
            with function.lock:
                function.inflight -= 1

    def run_async(
        self, name: str, call_id: str, callback: str | None, request: dict[str, Any]
    ) -> None:
        started = time.time()
        status, headers, body = self.invoke(name, **request)
        if callback is None:
            return
        callback_headers = {
            "X-Call-Id": call_id,
            "X-Function-Name": name,
            "X-Function-Status": str(status),
            "X-Duration-Seconds": f"{time.time() - started:.6f}",
            "X-Start-Time": str(int(started * 1e9)),
            "Content-Type": headers.get("Content-Type", "text/plain"),
        }
        try:
            resp = requests.post(callback, data=body, headers=callback_headers, timeout=30)
            delivered = resp.status_code
        except requests.RequestException as exc:
            delivered = -1
            callback_headers["error"] = str(exc)
        with self.lock:
            self.callbacks.append({"url": callback, "status": delivered, **callback_headers})


class _Gateway(Handler):
    server_version = "openfaas-gateway-test"
    owner: OpenFaasServer

    def _start(self) -> bool:
        self.body()
        self.record(self.owner.log, self.owner.lock, with_body=True)
        return True

    def _system_auth(self) -> bool:
        given = self.basic()
        expected = (self.owner.user, self.owner.password)
        if given is None or not (
            secrets.compare_digest(given[0], expected[0])
            and secrets.compare_digest(given[1], expected[1])
        ):
            self.reply(401, b"Unauthorized\n", {"WWW-Authenticate": 'Basic realm="Restricted"'})
            return False
        return True

    def _handle(self) -> None:
        self._start()
        parts = self.url_path.split("/")
        if len(parts) > 2 and parts[1] == "function":
            return self._function(parts[2], "/" + "/".join(parts[3:]))
        if len(parts) > 2 and parts[1] == "async-function" and self.command == "POST":
            return self._async(parts[2], "/" + "/".join(parts[3:]))
        if parts[1:2] == ["system"]:
            if not self._system_auth():
                return
            return self._system(parts[2:])
        self.reply(404, b"404 page not found\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    def _function(self, name: str, path: str) -> None:
        call_id = self.headers.get("X-Call-Id") or str(uuid.uuid4())
        started = time.time()
        headers = {k: v for k, v in self.headers.items()}
        headers |= {"X-Call-Id": call_id, "X-Start-Time": str(int(started * 1e9))}
        headers["X-Forwarded-For"] = self.client_address[0]
        status, out, body = self.owner.invoke(
            name, self.command, path, urlsplit(self.path).query, headers, self.body()
        )
        out |= {"X-Call-Id": call_id, "X-Start-Time": headers["X-Start-Time"]}
        out["X-Duration-Seconds"] = f"{time.time() - started:.6f}"
        self.reply(status, body, out)

    def _async(self, name: str, path: str) -> None:
        callback = self.headers.get("X-Callback-Url")
        if callback is not None and not urlsplit(callback).scheme:
            return self.reply(400, f'parse "{callback}": invalid URI for request\n'.encode())
        call_id = self.headers.get("X-Call-Id") or str(uuid.uuid4())
        request = {
            "method": "POST",
            "path": path,
            "query": urlsplit(self.path).query,
            "headers": {**dict(self.headers.items()), "X-Call-Id": call_id},
            "body": self.body(),
        }
        threading.Thread(
            target=self.owner.run_async, args=(name, call_id, callback, request), daemon=True
        ).start()
        self.reply(202, b"", {"X-Call-Id": call_id})

    def _system(self, rest: list[str]) -> None:
        owner = self.owner
        if rest == ["secrets"]:
            return self._secrets()
        if rest == ["logs"] and self.command == "GET":
            entries = owner.logs(self.param("name") or "", int(self.param("tail") or 0) or None)
            if entries is None:
                return self.reply(404, b"function not found\n")
            body = "".join(json.dumps(e) + "\n" for e in entries).encode()
            return self.reply(200, body, {"Content-Type": "application/x-ndjson"})
        if rest == ["functions"]:
            if self.command == "GET":
                return self.reply_json(200, [f.status() for f in owner.functions.values()])
            if self.command in ("POST", "PUT"):
                return self._deploy(self.command == "PUT")
            if self.command == "DELETE":
                return self._delete()
        if len(rest) == 2 and rest[0] == "function" and self.command == "GET":
            function = owner.functions.get(rest[1])
            if function is None:
                return self.reply(404, b"Not Found\n")
            return self.reply_json(200, function.status())
        self.reply(404, b"404 page not found\n")

    def _deploy(self, update: bool) -> None:
        try:
            spec = self.json_body()
        except ValueError:
            return self.reply(400, b"Unable to unmarshal request\n")
        if not isinstance(spec, dict) or not spec.get("service") or not spec.get("image"):
            return self.reply(400, b"service and image are required\n")
        name = str(spec["service"])
        unknown = [s for s in spec.get("secrets") or [] if s not in self.owner.secrets]
        if unknown:
            return self.reply(400, f"unable to find secret: {unknown[0]}\n".encode())
        if not DNS_LABEL.match(name) or len(name) > 63:
            message = f"(Invalid service name {name}) must be a valid DNS entry\n"
            return self.reply(400, message.encode())
        owner = self.owner
        with owner.lock:
            old = owner.functions.get(name)
        if update and old is None:
            return self.reply(404, f"deployment not found: {name}\n".encode())
        if not update and old is not None:
            return self.reply(400, f"function {name} already exists\n".encode())
        try:
            function = owner.deploy(spec)
        except Exception as exc:  # pull/run failures are the provider's 500
            return self.reply(500, f"Unable to deploy function: {exc}\n".encode())
        with owner.lock:
            owner.functions[name] = function
        if old is not None:
            containers.remove(old.container)
        self.reply(200 if update else 202, b"")

    def _secrets(self) -> None:
        owner = self.owner
        if self.command == "GET":
            return self.reply_json(200, [{"name": n} for n in sorted(owner.secrets)])
        try:
            request = self.json_body()
        except ValueError:
            return self.reply(400, b"Unable to unmarshal request\n")
        name = request.get("name") if isinstance(request, dict) else None
        if not isinstance(name, str) or not DNS_LABEL.match(name):
            return self.reply(400, b"secret name is required and must be a DNS label\n")
        with owner.lock:
            known = name in owner.secrets
            if self.command == "POST" and known:
                return self.reply(409, f"secret {name} already exists\n".encode())
            if self.command in ("PUT", "DELETE") and not known:
                return self.reply(404, f"secret {name} not found\n".encode())
            if self.command == "DELETE":
                del owner.secrets[name]
                return self.reply(200, b"")
            if self.command not in ("POST", "PUT"):
                return self.reply(405, b"")
            owner.secrets[name] = str(request.get("value", ""))
        self.reply(201 if self.command == "POST" else 200, b"")

    def _delete(self) -> None:
        try:
            request = self.json_body()
        except ValueError:
            return self.reply(400, b"Unable to unmarshal request\n")
        name = request.get("functionName") if isinstance(request, dict) else None
        if not name:
            return self.reply(400, b"No function provided\n")
        with self.owner.lock:
            function = self.owner.functions.pop(name, None)
        if function is None:
            return self.reply(404, f"Function: {name} not found\n".encode())
        containers.remove(function.container)
        self.reply(200, b"")
