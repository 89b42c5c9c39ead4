"""The shim as an HTTP function: OpenWhisk's action protocol, plain HTTP and CloudEvents.

* OpenWhisk (apache/openwhisk ``docs/actions-new.md``): ``POST /init`` once
  (``value.env`` becomes the environment, e.g. storage credentials; a second
  ``/init`` is refused with 403), ``POST /run`` with ``{"value": PARAMETERS,
  "activation_id", "deadline", ...}`` answers 200 with the result document, or
  502 with ``{"error": ...}`` and the result of a failed call. Runs never
  overlap, and after each one stdout and stderr end with the activation marker.
* OpenFaaS and Knative: ``POST`` on any other path with a JSON parameters
  document, a raw storage event, or a CloudEvent (binary: ``ce-*`` headers and
  the data as body; structured: ``application/cloudevents+json``) answers 200
  with the result, or the failure's status with the result of a failed call.
  ``GET /_/health`` (the OpenFaaS watchdog's) and ``GET /`` answer 200.

It listens on ``$PORT`` (8080) on every address, or on ``PRESERVE_SHIM_HOST``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from preserve.shim.documents import (
    FAILED,
    ShimError,
    Trigger,
    bad_request,
    cloudevent,
    parameters,
    parse_json,
)
from preserve.shim.documents import (
    invocation_id as new_id,
)
from preserve.shim.http import Client
from preserve.shim.invoke import Context, call

MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"


class Function:
    """The one function this container serves; calls are serialised."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.initialised = False
        self.lock = threading.Lock()

    def init(self, message: Any) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.initialised:
                return 403, {"error": "Cannot initialize the action more than once."}
            value = message.get("value") if isinstance(message, dict) else None
            env = (value or {}).get("env") or {}
            if isinstance(env, dict):
                environ = dict(self.ctx.environ)
                environ.update({str(k): str(v) for k, v in env.items()})
                self.ctx.environ = environ
                self.ctx.client = Client.from_environ(environ)
            self.initialised = True
            return 200, {"ok": True}

    def run(self, message: Any) -> tuple[int, dict[str, Any]]:
        """OpenWhisk ``/run``."""
        if not isinstance(message, dict):
            raise bad_request("the /run message is not a JSON object")
        trigger = Trigger("openwhisk", {"id": str(message.get("activation_id") or "")})
        invocation_id = new_id(message.get("activation_id"))
        status, result = self.call(
            message.get("value") or {}, trigger, invocation_id, _deadline(message)
        )
        if status != 200:
            return 502, {"error": result.get("error") or "the function failed", **result}
        return 200, result

    def call(
        self, document: Any, trigger: Trigger, invocation_id: str, timeout: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            params = parameters(document, self.ctx.spec)
            result = call(
                self.ctx, params, invocation_id=invocation_id, trigger=trigger, timeout=timeout
            )
        return (500 if result["status"] == FAILED else 200), result


def _deadline(message: dict[str, Any]) -> float | None:
    """Seconds left until OpenWhisk's ``deadline`` (milliseconds since the epoch)."""
    try:
        return max(1.0, int(message["deadline"]) / 1000.0 - time.time())
    except (KeyError, TypeError, ValueError):
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    function: Function

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > (1 << 20):
            raise ShimError("the request is larger than 1 MiB", hint="pass data by URI", status=413)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._answer(200, {"ok": True, "function": self.function.ctx.spec["function"]})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        whisk = path in ("/init", "/run")
        try:
            body = self._body()
            if path == "/init":
                status, document = self.function.init(parse_json(body, "the /init message"))
            elif path == "/run":
                status, document = self.function.run(parse_json(body, "the /run message"))
            else:
                status, document = self._http(body)
        except ShimError as exc:
            status, document = exc.status, {"error": exc.message, "hint": exc.hint}
        except Exception as exc:  # a bug: say so instead of hanging up
            status, document = 500, {"error": f"the shim failed: {type(exc).__name__}: {exc}"}
        try:
            self._answer(status, document)
        finally:
            if whisk and path == "/run":
                for stream in (sys.stdout, sys.stderr):
                    print(MARKER, file=stream, flush=True)

    def _http(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """OpenFaaS / Knative: parameters, a storage event, or a CloudEvent carrying either."""
        event = cloudevent(dict(self.headers), body)
        if event is not None:
            data, trigger = event
        else:
            data, trigger = parse_json(body, "the request body"), Trigger("http")
        if isinstance(data, dict) and "subscription" in data and trigger.kind == "http":
            trigger = Trigger("storage-event")
        # OpenFaaS' gateway names each call (X-Call-Id); the caller may have chosen it.
        return self.function.call(data, trigger, new_id(self.headers.get("X-Call-Id")))


def serve(ctx: Context, host: str, port: int) -> None:
    handler = type("BoundHandler", (Handler,), {"function": Function(ctx)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    ctx.log(f"serving {ctx.spec['function']} on {host}:{port}")
    server.serve_forever()
