"""Echo function on port 8080 for the test servers' own tests (python3 stdlib only).

* OpenWhisk action protocol (apache/openwhisk ``docs/actions-new.md``): ``POST /init``
  once (a second one is refused with 403), ``POST /run`` answers with the parameters
  and the activation context it received, and ends stdout and stderr with the
  end-of-activation marker. Parameters steer it: ``{"sleep": S}``, ``{"fail": MSG}``
  (``{"error": MSG}`` with 502), ``{"crash": true}`` (the process exits), ``{"log": [..]}``
  (lines to stdout), ``{"size": N}`` (a result of about N bytes).
* Any other path and method (an OpenFaaS function behind its watchdog): answers 200
  with ``{"method","path","query","headers","body"}``; a JSON body ``{"status": N}``
  sets the status, ``{"sleep": S}`` delays the answer.
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MARKER = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
STATE = {"initialized": False}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):
        path = urlsplit(self.path).path
        if path == "/init":
            return self.init(json.loads(self.read() or b"{}"))
        if path == "/run":
            return self.run(json.loads(self.read() or b"{}"))
        return self.echo()

    def init(self, message):
        if STATE["initialized"]:
            return self.answer(403, {"error": "Cannot initialize the action more than once."})
        for key, value in (message.get("value", {}).get("env") or {}).items():
            os.environ[key] = str(value)
        STATE["initialized"] = True
        self.answer(200, {"ok": True})

    def run(self, message):
        value = message.get("value") or {}
        context = {k: v for k, v in message.items() if k != "value"}
        for key, item in context.items():
            os.environ["__OW_" + key.upper()] = str(item)
        print("run", json.dumps(value, sort_keys=True))
        print("context keys", ",".join(sorted(context)), file=sys.stderr)
        for line in value.get("log", []):
            print(line)
        try:
            if value.get("crash"):
                os._exit(1)
            time.sleep(float(value.get("sleep", 0)))
            if "fail" in value:
                return self.answer(502, {"error": value["fail"]})
            result = {
                "echo": value,
                "initialized": STATE["initialized"],
                "context": {k: v for k, v in context.items() if k != "api_key"},
                "api_key_given": "api_key" in context,
                "env": {
                    k: v
                    for k, v in os.environ.items()
                    if k.startswith("__OW_") and k != "__OW_API_KEY"
                },
            }
            if "size" in value:
                result["padding"] = "x" * int(value["size"])
            self.answer(200, result)
        finally:
            for stream in (sys.stdout, sys.stderr):
                print(MARKER, file=stream, flush=True)

    def echo(self):
        body = self.read()
        try:
            steer = json.loads(body) if body else {}
        except ValueError:
            steer = {}
        steer = steer if isinstance(steer, dict) else {}
        time.sleep(float(steer.get("sleep", 0)))
        parts = urlsplit(self.path)
        self.answer(
            int(steer.get("status", 200)),
            {
                "method": self.command,
                "path": parts.path,
                "query": parts.query,
                "headers": dict(self.headers),
                "body": body.decode("utf-8", "replace"),
            },
        )

    do_GET = do_PUT = do_DELETE = do_PATCH = echo


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
