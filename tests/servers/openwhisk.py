"""An Apache OpenWhisk controller + invoker for tests, on 127.0.0.1; actions run in Docker.

Follows apache/openwhisk @1fae641 (``functions-and-events.md`` §3): ``docs/rest_api.md``,
``docs/reference.md`` (limits), ``docs/actions-new.md`` (action interface),
``core/controller/.../Actions.scala`` (status codes), ``ExecManifest.ImageName``,
``ContainerProxy.scala`` (what ``/init`` and ``/run`` receive), ``ErrorResponse.scala``
(messages). Errors are ``{"error": MESSAGE, "code": TRANSACTION_ID}``.

* Auth: HTTP Basic ``UUID:KEY`` as ``wsk`` sends it; none or a wrong key -> ``401``;
  another subject's namespace -> ``403``. ``_`` is the caller's namespace.
* ``PUT .../actions/NAME[?overwrite=true]`` with ``{"exec":{"kind":"blackbox","image"},
  "limits","parameters","annotations"}`` -> ``200`` + the action. Only ``blackbox`` is a
  known kind here (else ``400`` "The specified runtime ... is not supported"). The image
  is parsed like ``ImageName.fromString`` and stored *without its digest*; no tag means
  ``latest`` (``repo@sha256:...`` becomes ``repo:latest``). Refused: an existing action
  without ``overwrite`` (``409`` "resource already exists"); limits outside timeout
  100..300000 ms, memory 128..512 MB, logs 0..10 MB, concurrency 1 (``400``); a body
  over 1 MB (``413``); an image that does not parse (``400``).
* ``POST .../actions/NAME?blocking=true[&result=true][&timeout=MS]``: parameters (the
  body, at most 1 MB, else ``413``) merged over the action's. A container per action
  is started on first use (``docker run -p 127.0.0.1::8080``; images that name a
  registry are pulled first, as the invoker does; others must be local, as with
  ``bypassPullForLocalImages``), ``/init`` once with ``{"value":{"name","binary","main",
  "env":{__OW_*}}}``, then ``/run`` with ``{"value", "namespace", "action_name",
  "action_version", "activation_id", "transaction_id", "deadline" (a string),
  "api_key"}`` (no ``api_key`` with annotation ``provide-api-key: false``); warm
  containers are reused, runs never overlap in one container. Action parameters marked
  ``"init": true`` go to ``/init`` in ``env`` instead of into each run's parameters
  (inferred from ``ContainerProxy``'s init arguments, not from the docs). Logs are read from the
  container up to the end-of-activation markers as ``"<time> stdout: line"``.
  Answers: success ``200``; application error (non-200 with ``{"error"}``) and developer
  error (bad JSON, crash, time limit, failed init) ``502``, with the activation and the
  ``x-openwhisk-activation-id`` header; ``result=true`` gives only the result. A
  blocking call that outlives ``timeout`` (default 60 s), or a non-blocking one, gets
  ``202 {"activationId"}``. ``GET .../activations/ID`` returns the record.
* Throttling: more than ``concurrency_limit`` activations in flight in a namespace, or
  more than ``minute_rate`` per minute, -> ``429`` ("Too many concurrent requests in
  flight (count: N, allowed: M)." / "Too many requests in the last minute ...").

Test switches: ``concurrency_limit``, ``minute_rate``, ``overloaded`` (``503`` "System is
overloaded, try again later."; ``retry_after`` adds that header to 429 and 503),
``network="host"`` (containers on this machine's network, so that they reach loopback
test servers; each then listens on a free port given as ``PORT``, where OpenWhisk's
own containers always listen on 8080 of their own network). ``log`` records every
request with its body.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests

from tests.servers import containers
from tests.servers.base import Handler, LoopbackServer, Recorded, handler_for

MB = 1024 * 1024
MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
LIMITS = {"timeout": (100, 300000, 60000), "memory": (128, 512, 256), "logs": (0, 10, 10)}
LIMITS["concurrency"] = (1, 1, 1)
ENTITY_NAME = re.compile(r"\A([\w]|[\w][\w@ .-]{0,254}[\w@.-])\Z")
# ImageName.fromString (ExecManifest.scala), as a regular expression.
_COMPONENT = r"[a-z0-9]+(?:(?:_|\.|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?|[A-Za-z0-9-]+:\d+)"
IMAGE = re.compile(
    rf"\A(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?\Z"
)


def resolve_image(image: str) -> str:
    """The image OpenWhisk runs for ``image``: the digest dropped, ``latest`` if no tag."""
    match = IMAGE.match(image)
    if match is None:
        raise ValueError("could not parse image name")
    domain = f"{match['domain']}/" if match["domain"] else ""
    return f"{domain}{match['path']}:{match['tag'] or 'latest'}"


class WhiskError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Action:
    namespace: str
    name: str
    image: str
    limits: dict[str, int]
    parameters: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    version: str = "0.0.1"
    updated: int = 0

    def document(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "exec": {"kind": "blackbox", "image": self.image, "binary": False},
            "annotations": [*self.annotations, {"key": "exec", "value": "blackbox"}],
            "parameters": self.parameters,
            "limits": dict(self.limits),
            "publish": False,
            "updated": self.updated,
        }

    def annotation(self, key: str, default: Any = None) -> Any:
        return next((a["value"] for a in self.annotations if a.get("key") == key), default)


@dataclass
class WarmContainer:
    container: Any
    port: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    log_since: float = 0.0


class OpenWhiskServer:
    """Controller and invoker; ``auth`` is ``"UUID:KEY"`` of the ``guest`` namespace."""

    def __init__(self, namespace: str = "guest", network: str | None = None) -> None:
        self.auth = f"{uuid.uuid4()}:{secrets.token_urlsafe(48)}"
        self.subjects = {self.auth: namespace}  # "uuid:key" -> namespace
        self.network = network  # None: the default bridge with a loopback port mapping
        self.actions: dict[tuple[str, str], Action] = {}
        self.activations: dict[str, dict[str, Any]] = {}
        self.concurrency_limit = 100
        self.minute_rate = 120
        self.overloaded = False
        self.retry_after: int | None = None
        self.log: list[Recorded] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}
        self._warm: dict[tuple[str, str], list[WarmContainer]] = {}
        self._all: list[Any] = []
        self.http = LoopbackServer(handler_for(_Controller, self, "controller"), self.errors)

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def namespace(self) -> str:
        return self.subjects[self.auth]

    def add_subject(self, namespace: str) -> str:
        """Another subject with its own namespace; its ``UUID:KEY``."""
        auth = f"{uuid.uuid4()}:{secrets.token_urlsafe(48)}"
        self.subjects[auth] = namespace
        return auth

    def containers(self) -> list[Any]:
        return list(self._all)

    def close(self) -> None:
        self.http.close()
        for container in self._all:
            containers.remove(container)

    # -- entities -----------------------------------------------------------------------

    def put_action(
        self, namespace: str, name: str, content: Any, overwrite: bool
    ) -> dict[str, Any]:
        if not ENTITY_NAME.match(name):
            raise WhiskError(400, "The name of the entity contains illegal characters.")
        if not isinstance(content, dict):
            raise WhiskError(400, "The request content was malformed:\nexpected a JSON object")
        exec_ = content.get("exec")
        if not isinstance(exec_, dict):
            raise WhiskError(400, "exec undefined")
        if exec_.get("kind") != "blackbox":
            message = f"The specified runtime '{exec_.get('kind')}' is not supported by this"
            raise WhiskError(400, f"{message} platform. Valid values are: 'blackbox'.")
        try:
            image = resolve_image(str(exec_.get("image", "")))
            limits = _limits(content.get("limits") or {})
        except ValueError as exc:
            raise WhiskError(400, f"The request content was malformed:\n{exc}") from exc
        with self.lock:
            old = self.actions.get((namespace, name))
            if old is not None and not overwrite:
                raise WhiskError(409, "resource already exists")
            version = "0.0.1" if old is None else _bump(old.version)
            action = Action(
                namespace,
                name,
                image,
                limits,
                list(content.get("parameters") or []),
                list(content.get("annotations") or []),
                version,
                int(time.time() * 1000),
            )
            self.actions[(namespace, name)] = action
            for warm in self._warm.pop((namespace, name), []):  # stale code: new containers
                containers.remove(warm.container)
        return action.document()

    def admit(self, namespace: str) -> None:
        """Throttle like the load balancer: in-flight and per-minute limits."""
        now = time.monotonic()
        with self.lock:
            if self.overloaded:
                raise WhiskError(503, "System is overloaded, try again later.")
            recent = self._recent.setdefault(namespace, deque())
            while recent and now - recent[0] > 60:
                recent.popleft()
            if len(recent) >= self.minute_rate:
                raise WhiskError(
                    429,
                    f"Too many requests in the last minute (count: {len(recent)}, "
                    f"allowed: {self.minute_rate}).",
                )
            count = self._in_flight.get(namespace, 0)
            if count >= self.concurrency_limit:
                raise WhiskError(
                    429,
                    f"Too many concurrent requests in flight (count: {count}, "
                    f"allowed: {self.concurrency_limit}).",
                )
            recent.append(now)
            self._in_flight[namespace] = count + 1

    # -- invoker ----------------------------------------------------------------------

    def activate(
        self, subject: str, action: Action, params: dict[str, Any], activation_id: str
    ) -> dict[str, Any]:
        """Run one activation (the caller already passed :meth:`admit`); its record."""
        started = time.time()
        try:
            response, logs, init_ms = self._run(subject, action, params, activation_id)
        except Exception as exc:  # the invoker itself failed
            response, logs, init_ms = _response("whisk internal error", {"error": str(exc)}), [], 0
        finally:
            with self.lock:
                self._in_flight[action.namespace] -= 1
        end = time.time()
        annotations = [
            {"key": "path", "value": f"{action.namespace}/{action.name}"},
            {"key": "kind", "value": "blackbox"},
            {"key": "limits", "value": action.limits},
            {
                "key": "timeout",
                "value": response["status"] == "action developer error"
                and "time limits" in str(response["result"]),
            },
        ]
        if init_ms:
            annotations.append({"key": "initTime", "value": init_ms})
        record = {
            "namespace": action.namespace,
            "name": action.name,
            "subject": action.namespace,
            "version": action.version,
            "activationId": activation_id,
            "start": int(started * 1000),
            "end": int(end * 1000),
            "duration": int((end - started) * 1000),
            "statusCode": response["statusCode"],
            "response": response,
            "logs": logs,
            "annotations": annotations,
            "publish": False,
        }
        with self.lock:
            self.activations[activation_id] = record
        return record

    def _run(
        self, subject: str, action: Action, params: dict[str, Any], activation_id: str
    ) -> tuple[dict[str, Any], list[str], int]:
        timeout_s = action.limits["timeout"] / 1000
        try:
            warm, fresh = self._container(action)
        except docker.errors.DockerException:
            message = f"Failed to pull container image '{action.image}'."
            return _response("action developer error", {"error": message}), [], 0
        try:
            init_ms = 0
            if fresh:
                begun = time.monotonic()
                problem = self._init(warm, action, activation_id, timeout_s)
                init_ms = int((time.monotonic() - begun) * 1000)
                if problem is not None:
                    self._destroy(action, warm)
                    return problem, self._logs(warm), init_ms
            context = {
                "namespace": action.namespace,
                "action_name": f"/{action.namespace}/{action.name}",
                "action_version": action.version,
                "activation_id": activation_id,
                "transaction_id": uuid.uuid4().hex,
                "deadline": str(int((time.time() + timeout_s) * 1000)),
            }
            if action.annotation("provide-api-key", True) is not False:
                context["api_key"] = subject
            warm.log_since = time.time()
            response = self._post_run(warm, {"value": params, **context}, timeout_s)
            logs = self._logs(warm)
            if response["status"] == "action developer error":
                self._destroy(action, warm)
            return response, logs, init_ms
        finally:
            if warm.lock.locked():
                warm.lock.release()

    def _container(self, action: Action) -> tuple[WarmContainer, bool]:
        key = (action.namespace, action.name)
        with self.lock:
            for warm in self._warm.get(key, []):
                if warm.lock.acquire(blocking=False):
                    return warm, False
        containers.ensure_image(action.image)
        engine = containers.client()
        run: dict[str, Any] = {
            "detach": True,
            "name": f"{containers.PREFIX}-ow-{uuid.uuid4().hex[:12]}",
            "environment": {"__OW_API_HOST": self.url},
            "mem_limit": f"{action.limits['memory']}m",
            "labels": {"preserve-test-infra": "openwhisk"},
        }
        port = 0
        if self.network == "host":  # containers share this machine's ports: one each
            port = containers.free_port()
            run["network_mode"] = "host"
            run["environment"]["PORT"] = str(port)
        else:
            run["ports"] = {"8080/tcp": ("127.0.0.1", None)}
        container = engine.containers.run(action.image, **run)
        self._all.append(container)
        port = port or containers.host_port(container)
        warm = WarmContainer(container, port)
        warm.lock.acquire()
        warm.log_since = time.time() - 1
        with self.lock:
            self._warm.setdefault(key, []).append(warm)
        return warm, True

    def _destroy(self, action: Action, warm: WarmContainer) -> None:
        with self.lock:
            pool = self._warm.get((action.namespace, action.name), [])
            if warm in pool:
                pool.remove(warm)
        containers.remove(warm.container)

    def _init(
        self, warm: WarmContainer, action: Action, activation_id: str, timeout_s: float
    ) -> dict[str, Any] | None:
        env = {
            "__OW_NAMESPACE": action.namespace,
            "__OW_ACTION_NAME": f"/{action.namespace}/{action.name}",
            "__OW_ACTION_VERSION": action.version,
            "__OW_ACTIVATION_ID": activation_id,
            "__OW_DEADLINE": str(int((time.time() + timeout_s) * 1000)),
        }
        env |= {p["key"]: p["value"] for p in action.parameters if p.get("init") is True}
        value = {"name": action.name, "binary": False, "main": "main", "env": env}
        if not containers.wait_for_port(warm.port, timeout_s):
            return _response("action developer error", {"error": _timed_out(action, init=True)})
        url = f"http://127.0.0.1:{warm.port}/init"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                resp = requests.post(url, json={"value": value}, timeout=timeout_s)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    message = "The action did not initialize and exited unexpectedly."
                    return _response("action developer error", {"error": message})
                time.sleep(0.05)
            except requests.Timeout:
                return _response("action developer error", {"error": _timed_out(action, True)})
        if resp.status_code != 200:
            message = "The action failed during initialization" + (
                f": {resp.text}" if resp.text else "."
            )
            return _response("action developer error", {"error": message})
        return None

    def _post_run(
        self, warm: WarmContainer, message: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        action_limit = int(timeout_s * 1000)
        try:
            resp = requests.post(
                f"http://127.0.0.1:{warm.port}/run", json=message, timeout=timeout_s
            )
        except requests.Timeout:
            error = f"The action exceeded its time limits of {action_limit} milliseconds."
            return _response("action developer error", {"error": error})
        except requests.ConnectionError:
            error = "The action did not produce a valid response and exited unexpectedly."
            return _response("action developer error", {"error": error})
        if len(resp.content) > MB:
            error = "The action produced a response that exceeded the allowed length: "
            error += f"{len(resp.content)} > {MB} bytes."
            return _response("application error", {"error": error})
        try:
            result = resp.json()
        except ValueError:
            result = None
        if not isinstance(result, dict):
            error = "The action did not produce a valid JSON or JSON Array response"
            error += f": {resp.text}" if resp.text else "."
            return _response("action developer error", {"error": error})
        if resp.status_code == 200:
            return _response("success", result)
        if "error" in result:
            return _response("application error", result)
        return _response("action developer error", result)

    def _logs(self, warm: WarmContainer) -> list[str]:
        """stdout and stderr since the run started, up to both end markers (or 2 s)."""
        lines: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + 2
        while True:
            lines = []
            markers = 0
            for stream in ("stdout", "stderr"):
                raw = warm.container.logs(
                    stdout=stream == "stdout",
                    stderr=stream == "stderr",
                    timestamps=True,
                    since=int(warm.log_since),
                ).decode("utf-8", "replace")
                for entry in raw.splitlines():
                    stamp, _, text = entry.partition(" ")
                    if _after(stamp, warm.log_since):
                        if text == MARKER:
                            markers += 1
                        else:
                            lines.append((stamp, stream, text))
            if markers >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return [f"{stamp} {stream}: {text}" for stamp, stream, text in sorted(lines)]


def _after(stamp: str, since: float) -> bool:
    try:
        when = datetime.fromisoformat(stamp[:26].rstrip("Z")).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return False
    return when >= since - 0.001


def _response(status: str, result: dict[str, Any]) -> dict[str, Any]:
    code = {"success": 0, "application error": 1, "action developer error": 2}.get(status, 3)
    return {"status": status, "statusCode": code, "success": status == "success", "result": result}


def _timed_out(action: Action, init: bool) -> str:
    tail = " during initialization." if init else "."
    return f"The action exceeded its time limits of {action.limits['timeout']} milliseconds{tail}"


def _limits(given: dict[str, Any]) -> dict[str, int]:
    names = {"timeout": "Time limit", "memory": "memory", "logs": "log", "concurrency": ""}
    out: dict[str, int] = {}
    for key, (low, high, default) in LIMITS.items():
        value = given.get(key, default)
        if not isinstance(value, int):
            raise ValueError(f"{key} limit must be an integer")
        unit = "milliseconds" if key == "timeout" else "MB"
        if key == "concurrency" and not low <= value <= high:
            raise ValueError(f"concurrency {value} exceeds allowed threshold of {high}")
        if value < low:
            raise ValueError(f"{names[key]} {value} {unit} below allowed threshold of {low} {unit}")
        if value > high:
            raise ValueError(
                f"{names[key]} {value} {unit} exceeds allowed threshold of {high} {unit}"
            )
        out[key] = value
    return out


def _bump(version: str) -> str:
    major, minor, patch = (int(p) for p in version.split("."))
    return f"{major}.{minor}.{patch + 1}"


class _Controller(Handler):
    server_version = "openwhisk-test"
    owner: OpenWhiskServer

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.reply_json(status, {"error": message, "code": uuid.uuid4().hex}, headers)

    def _subject(self) -> str | None:
        basic = self.basic()
        if basic is None:
            message = (
                "The resource requires authentication, which was not supplied with the request"
            )
            self._error(401, message)
            return None
        given = f"{basic[0]}:{basic[1]}"
        for auth in self.owner.subjects:
            if secrets.compare_digest(auth, given):
                return auth
        self._error(401, "The supplied authentication is invalid")
        return None

    def _route(self) -> tuple[str, str, list[str]] | None:
        try:
            self.body()
        except ValueError:
            self._error(413, "Request larger than allowed.")
            return None
        self.record(self.owner.log, self.owner.lock, with_body=True)
        subject = self._subject()
        if subject is None:
            return None
        parts = [p for p in self.url_path.split("/") if p]
        if parts[:2] != ["api", "v1"]:
            self._error(404, "The requested resource does not exist.")
            return None
        if parts[2:] == ["namespaces"]:
            self.reply_json(200, [self.owner.subjects[subject]])
            return None
        if len(parts) < 5 or parts[2] != "namespaces":
            self._error(404, "The requested resource does not exist.")
            return None
        namespace = self.owner.subjects[subject] if parts[3] == "_" else parts[3]
        if namespace != self.owner.subjects[subject]:
            message = f"The supplied authentication is not authorized to access '{namespace}'."
            self._error(403, message)
            return None
        return subject, namespace, parts[4:]

    def do_PUT(self) -> None:
        routed = self._route()
        if routed is None:
            return
        _, namespace, rest = routed
        if len(rest) != 2 or rest[0] != "actions":
            return self._error(404, "The requested resource does not exist.")
        if len(self.body()) > MB:
            message = f"Request larger than allowed: {len(self.body())} > {MB} bytes."
            return self._error(413, message)
        try:
            content = self.json_body()
            overwrite = (self.param("overwrite") or "false").lower() == "true"
            document = self.owner.put_action(namespace, rest[1], content, overwrite)
        except ValueError:
            return self._error(400, "The request content was malformed:\nnot JSON")
        except WhiskError as exc:
            return self._error(exc.status, str(exc))
        self.reply_json(200, document)

    def do_GET(self) -> None:
        routed = self._route()
        if routed is None:
            return
        _, namespace, rest = routed
        if rest[0] == "actions" and len(rest) == 1:
            listed = [a.document() for (ns, _), a in self.owner.actions.items() if ns == namespace]
            return self.reply_json(200, listed)
        if rest[0] == "actions" and len(rest) == 2:
            action = self.owner.actions.get((namespace, rest[1]))
            if action is None:
                return self._error(404, "The requested resource does not exist.")
            return self.reply_json(200, action.document())
        if rest[0] == "activations" and len(rest) == 2:
            record = self.owner.activations.get(rest[1])
            if record is None or record["namespace"] != namespace:
                return self._error(404, "The requested resource does not exist.")
            return self.reply_json(200, record)
        if rest[0] == "activations" and len(rest) == 1:
            wanted = self.param("name")
            records = [
                r
                for r in self.owner.activations.values()
                if r["namespace"] == namespace and (wanted is None or r["name"] == wanted)
            ]
            return self.reply_json(200, sorted(records, key=lambda r: -r["start"]))
        self._error(404, "The requested resource does not exist.")

    def do_DELETE(self) -> None:
        routed = self._route()
        if routed is None:
            return
        _, namespace, rest = routed
        if rest[0] != "actions" or len(rest) != 2:
            return self._error(404, "The requested resource does not exist.")
        with self.owner.lock:
            action = self.owner.actions.pop((namespace, rest[1]), None)
        if action is None:
            return self._error(404, "The requested resource does not exist.")
        self.reply_json(200, action.document())

    def do_POST(self) -> None:
        routed = self._route()
        if routed is None:
            return
        subject, namespace, rest = routed
        if rest[0] != "actions" or len(rest) != 2:
            return self._error(404, "The requested resource does not exist.")
        action = self.owner.actions.get((namespace, rest[1]))
        if action is None:
            return self._error(404, "The requested resource does not exist.")
        if len(self.body()) > MB:
            message = f"Request larger than allowed: {len(self.body())} > {MB} bytes."
            return self._error(413, message)
        try:
            payload = self.json_body() or {}
        except ValueError:
            return self._error(400, "The request content was malformed:\nnot JSON")
        if not isinstance(payload, dict):
            return self._error(400, "The request content was malformed:\nnot a JSON object")
        params = {p["key"]: p["value"] for p in action.parameters if not p.get("init")} | payload
        try:
            self.owner.admit(namespace)
        except WhiskError as exc:
            asked = self.owner.retry_after
            headers = {"Retry-After": str(asked)} if asked else None
            return self._error(exc.status, str(exc), headers)
        blocking = (self.param("blocking") or "false").lower() == "true"
        wait = int(self.param("timeout") or 60000) / 1000 if blocking else 0
        done: dict[str, Any] = {}
        activation_id = uuid.uuid4().hex
        thread = threading.Thread(
            target=lambda: done.update(self.owner.activate(subject, action, params, activation_id)),
            daemon=True,
        )
        thread.start()
        thread.join(wait)
        if not done:  # non-blocking, or it outlived the wait: 202 with the id to poll
            headers = {"x-openwhisk-activation-id": activation_id}
            return self.reply_json(202, {"activationId": activation_id}, headers)
        headers = {"x-openwhisk-activation-id": done["activationId"]}
        response = done["response"]
        body = response["result"] if (self.param("result") or "") == "true" else done
        status = {"success": 200, "application error": 502, "action developer error": 502}
        self.reply_json(status.get(response["status"], 500), body, headers)
