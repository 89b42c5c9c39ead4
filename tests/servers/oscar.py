"""An OSCAR cluster (grycap/oscar) for tests, on 127.0.0.1; jobs run in Docker.

Follows grycap/oscar @7ade09e and grycap/faas-supervisor @97b91f2
(``functions-and-events.md`` §2): ``pkg/types/service.go`` (FDL fields and binding
rules), ``pkg/handlers/{create,update,read,delete,job,logs}.go``, ``main.go`` (routes),
``faassupervisor/{supervisor,events/unknown,faas/binary/supervisor}.py``.

* ``/system/*`` wants HTTP Basic (the cluster's user and password) or ``Bearer`` with an
  OIDC token of a known user (:meth:`OscarServer.add_user`); none or wrong -> ``401``.
  An OIDC user may only touch services it owns (``403``); Basic is the admin
  (``cluster_admin`` owns what it creates).
* ``POST /system/services`` -> ``201`` with no body. Refused with ``400``: ``name``
  missing or longer than 39 characters, ``image`` or ``script`` missing ("The service
  specification is not valid: Key: 'Service.Name' Error:Field validation for 'Name'
  failed on the 'max' tag"); a name already taken ("A service with the provided name
  already exists"). A name that is not a lowercase RFC 1123 label fails in Kubernetes:
  ``500`` "Error creating the service: ...". Defaults: ``cpu`` 0.2, ``memory`` 256Mi,
  ``log_level`` INFO; ``token`` is 64 hex characters. ``PUT /system/services`` -> ``204``
  (unknown ``404``); ``GET /system/services[/NAME]`` (with ``token``); ``DELETE`` -> ``204``.
* ``POST /job/NAME`` (``404`` for an unknown service, checked first): ``Authorization:
  Bearer`` with the service token or the owner's OIDC token, else ``401``. Answers
  ``201`` with NO body, then runs a Kubernetes-like job: ``docker run`` of the image
  (pulled first when it names a registry: ``imagePullPolicy: Always``), env ``EVENT`` =
  the request body, ``JOB_UUID`` (``NAME[:16 if len>=25]-UUID``, or
  ``X-Delegated-Job-ID``), ``OSCAR_SERVICE_NAME``, the service's variables and secrets,
  command ``/bin/sh -c "echo $EVENT | /oscar/bin/supervisor"``, replacing the image's
  entry point as a Kubernetes container's ``command`` does (unquoted ``$EVENT``:
  the shell splits and globs it, as in OSCAR), the script at
  ``/oscar/config/script.sh``, ``--memory``/``--cpus`` from the service, no retries
  (``backoffLimit: 0``). The supervisor is a stand-in
  (``tests/servers/images/oscar/supervisor``) for the UNKNOWN-event path: it does not
  fail the job when the script fails, as faas-supervisor does not; files left in
  ``$TMP_OUTPUT_DIR`` are collected (``Job.outputs``) instead of being uploaded to
  storage providers. Containers run with ``--network none`` unless ``network="host"``.
* ``GET /system/logs/NAME`` -> ``{"jobs":{JOB:{"status","creation_time","start_time",
  "finish_time"}}}`` (status ``Pending``, ``Running``, ``Succeeded``, ``Failed``);
  ``GET /system/logs/NAME/JOB`` -> the job's log as text; ``DELETE`` on either -> ``204``.

A job name already taken (``X-Delegated-Job-ID``) is refused as Kubernetes refuses it:
``500`` "Error creating job: jobs.batch "NAME" already exists" (inferred).

Test switches: ``script_failure_fails_job`` (not OSCAR's behaviour), ``network``,
``job_answers`` (``[(status, created)]``: the next ``POST /job`` calls are answered
``status`` with ``Retry-After: 1``, the job created or not, as a busy ingress would).
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors

from tests.servers import containers
from tests.servers.base import Handler, LoopbackServer, Recorded, handler_for

SUPERVISOR = Path(__file__).parent / "images" / "oscar" / "supervisor"
RFC1123 = re.compile(r"\A[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
ADMIN = "cluster_admin"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    name: str
    service: str
    status: str = "Pending"
    creation_time: str = field(default_factory=_now)
    start_time: str | None = None
    finish_time: str | None = None
    logs: str = ""
    exit_code: int | None = None
    outputs: dict[str, bytes] = field(default_factory=dict)
    event: str = ""

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "creation_time": self.creation_time}
        if self.start_time:
            out["start_time"] = self.start_time
        if self.finish_time:
            out["finish_time"] = self.finish_time
        return out


class OscarServer:
    """OSCAR's API on a loopback port; ``user``/``password`` are the cluster's Basic auth."""

    def __init__(self, network: str | None = None) -> None:
        self.user = "oscar"
        self.password = secrets.token_urlsafe(16)
        self.oidc: dict[str, str] = {}  # token -> user id
        self.services: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Job]] = {}  # service -> job name -> job
        self.network = network
        self.script_failure_fails_job = False
        self.job_answers: list[tuple[int, bool]] = []
        self.log: list[Recorded] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._tmp = Path(tempfile.mkdtemp(prefix="preserve-test-infra-oscar-"))
        self.http = LoopbackServer(handler_for(_Api, self, "oscar"), self.errors)

    @property
    def url(self) -> str:
        return self.http.url

    def add_user(self, uid: str) -> str:
        """An OIDC user; its bearer token."""
        token = secrets.token_urlsafe(32)
        self.oidc[token] = uid
        return token

    def wait(self, timeout: float = 120) -> None:
        """Wait for every job started so far."""
        for thread in list(self._threads):
            thread.join(timeout)

    def close(self) -> None:
        self.wait(60)
        self.http.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # -- services -----------------------------------------------------------------------

    def validate(self, service: Any) -> str | None:
        """Gin binding of ``types.Service`` (``binding:"required,max=39,min=1"`` ...)."""
        if not isinstance(service, dict):
            return "json: cannot unmarshal into Go value of type types.Service"
        for key in ("Name", "Image", "Script"):
            if not service.get(key.lower()):
                return _binding(key, "required")
        if len(str(service["name"])) > 39:
            return _binding("Name", "max")
        return None

    def with_defaults(
        self, service: dict[str, Any], owner: str, token: str | None
    ) -> dict[str, Any]:
        out = dict(service)
        out["memory"] = out.get("memory") or "256Mi"
        out["cpu"] = out.get("cpu") or "0.2"
        out["log_level"] = out.get("log_level") or "INFO"
        out["owner"] = owner
        out["token"] = token or secrets.token_hex(32)
        out.setdefault("environment", {"variables": {}, "secrets": {}})
        return out

    # -- jobs ---------------------------------------------------------------------------

    def start_job(self, service: dict[str, Any], event: bytes, job_name: str | None) -> Job:
        name = service["name"]
        prefix = name[:16] if len(name) >= 25 else name
        job = Job(
            job_name or f"{prefix}-{uuid.uuid4()}", name, event=event.decode("utf-8", "replace")
        )
        with self.lock:
            self.jobs.setdefault(name, {})[job.name] = job
        thread = threading.Thread(target=self._run, args=(service, job), daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def _run(self, service: dict[str, Any], job: Job) -> None:
        work = self._tmp / job.name
        (work / "config").mkdir(parents=True)
        (work / "output").mkdir()
        (work / "config" / "script.sh").write_text(service["script"])
        env_cfg = service.get("environment") or {}
        env = {**(env_cfg.get("variables") or {}), **(env_cfg.get("secrets") or {})}
        env |= {"EVENT": job.event, "JOB_UUID": job.name, "OSCAR_SERVICE_NAME": service["name"]}
        volumes = {
            str(work / "config"): {"bind": "/oscar/config", "mode": "ro"},
            str(SUPERVISOR): {"bind": "/oscar/bin/supervisor", "mode": "ro"},
            str(work / "output"): {"bind": "/oscar/test-output", "mode": "rw"},
        }
        if self.script_failure_fails_job:
            (work / "strict").touch()
            volumes[str(work / "strict")] = {"bind": "/oscar/test-strict", "mode": "ro"}
        try:
            containers.ensure_image(service["image"])
        except docker.errors.DockerException:
            return  # Kubernetes keeps the pod Pending (ImagePullBackOff)
        container = None
        try:
            container = containers.client().containers.create(
                service["image"],
                # A Kubernetes container's command replaces the image's ENTRYPOINT.
                ["-c", "echo $EVENT | /oscar/bin/supervisor"],
                entrypoint=["/bin/sh"],
                name=f"{containers.PREFIX}-oscar-{uuid.uuid4().hex[:12]}",
                environment=env,
                volumes=volumes,
                network_mode=self.network or "none",
                mem_limit=containers.memory_limit(service["memory"]),
                nano_cpus=int(float(service["cpu"]) * 1e9),
                labels={"preserve-test-infra": "oscar"},
            )
            container.start()
            job.status, job.start_time = "Running", _now()
            result = container.wait()
            job.logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            job.exit_code = int(result.get("StatusCode", 1))
            job.status = "Succeeded" if job.exit_code == 0 else "Failed"
            job.outputs = {
                str(p.relative_to(work / "output")): p.read_bytes()
                for p in (work / "output").rglob("*")
                if p.is_file()
            }
        except docker.errors.DockerException as exc:
            job.status, job.logs = "Failed", str(exc)
        finally:
            job.finish_time = _now()
            if container is not None:
                containers.remove(container)


def _binding(field: str, tag: str) -> str:
    return f"Key: 'Service.{field}' Error:Field validation for '{field}' failed on the '{tag}' tag"


class _Api(Handler):
    server_version = "oscar-test"
    owner: OscarServer

    def _start(self) -> None:
        self.body()
        self.record(self.owner.log, self.owner.lock, with_body=True)

    def _caller(self) -> str | None:
        """The admin (Basic) or an OIDC user id; None after answering 401."""
        basic = self.basic()
        if basic is not None:
            user, password = basic
            if secrets.compare_digest(user, self.owner.user) and secrets.compare_digest(
                password, self.owner.password
            ):
                return ADMIN
        token = self.bearer()
        if token is not None and token in self.owner.oidc:
            return self.owner.oidc[token]
        self.reply(401, b"")
        return None

    def _service(self, name: str, caller: str) -> dict[str, Any] | None:
        service = self.owner.services.get(name)
        if service is None:
            self.reply(404, b"")
            return None
        if caller != ADMIN and service["owner"] != caller:
            self.reply_text(403, f"User {caller} doesn't have permision to get this service")
            return None
        return service

    def do_POST(self) -> None:
        self._start()
        parts = [p for p in self.url_path.split("/") if p]
        if len(parts) == 2 and parts[0] == "job":
            return self._job(parts[1])
        caller = self._caller()
        if caller is None:
            return
        if parts == ["system", "services"]:
            return self._create(caller)
        self.reply(404, b"404 page not found")

    def do_PUT(self) -> None:
        self._start()
        caller = self._caller()
        if caller is None:
            return
        if self.url_path.rstrip("/") != "/system/services":
            return self.reply(404, b"404 page not found")
        try:
            new = self.json_body()
        except ValueError as exc:
            return self.reply_text(400, f"The service specification is not valid: {exc}")
        problem = self.owner.validate(new)
        if problem:
            return self.reply_text(400, f"The service specification is not valid: {problem}")
        old = self._service(new["name"], caller)
        if old is None:
            return
        with self.owner.lock:
            self.owner.services[new["name"]] = self.owner.with_defaults(
                new, old["owner"], old["token"]
            )
        self.reply(204)

    def do_GET(self) -> None:
        self._start()
        caller = self._caller()
        if caller is None:
            return
        parts = [p for p in self.url_path.split("/") if p]
        if parts == ["system", "services"]:
            visible = [s for s in self.owner.services.values() if caller in (ADMIN, s["owner"])]
            return self.reply_json(200, visible)
        if len(parts) == 3 and parts[:2] == ["system", "services"]:
            service = self._service(parts[2], caller)
            return None if service is None else self.reply_json(200, service)
        if len(parts) in (3, 4) and parts[:2] == ["system", "logs"]:
            if self._service(parts[2], caller) is None:
                return None
            jobs = self.owner.jobs.get(parts[2], {})
            if len(parts) == 3:
                return self.reply_json(200, {"jobs": {n: j.info() for n, j in jobs.items()}})
            job = jobs.get(parts[3])
            if job is None:
                return self.reply(404, b"")
            return self.reply_text(200, job.logs)
        self.reply(404, b"404 page not found")

    def do_DELETE(self) -> None:
        self._start()
        caller = self._caller()
        if caller is None:
            return
        parts = [p for p in self.url_path.split("/") if p]
        if len(parts) < 3 or parts[0] != "system" or parts[1] not in ("services", "logs"):
            return self.reply(404, b"404 page not found")
        if self._service(parts[2], caller) is None:
            return
        with self.owner.lock:
            if parts[1] == "services":
                del self.owner.services[parts[2]]
            elif len(parts) == 4:
                if self.owner.jobs.get(parts[2], {}).pop(parts[3], None) is None:
                    return self.reply(404, b"")
            else:
                jobs = self.owner.jobs.get(parts[2], {})
                keep_running = (self.param("all") or "false") != "true"
                for name in [n for n, j in jobs.items() if not keep_running or j.finish_time]:
                    del jobs[name]
        self.reply(204)

    def _create(self, caller: str) -> None:
        try:
            service = self.json_body()
        except ValueError as exc:
            return self.reply_text(400, f"The service specification is not valid: {exc}")
        problem = self.owner.validate(service)
        if problem:
            return self.reply_text(400, f"The service specification is not valid: {problem}")
        name = service["name"]
        with self.owner.lock:
            if name in self.owner.services:
                return self.reply_text(400, "A service with the provided name already exists")
            if not RFC1123.match(name):
                message = (
                    f'Error creating the service: ConfigMap "{name}" is invalid: metadata.name: '
                    "Invalid value: a lowercase RFC 1123 subdomain must consist of lower case "
                    "alphanumeric characters, '-' or '.'"
                )
                return self.reply_text(500, message)
            self.owner.services[name] = self.owner.with_defaults(service, caller, None)
        self.reply(201)

    def _job(self, name: str) -> None:
        service = self.owner.services.get(name)
        if service is None:
            return self.reply(404, b"")
        token = self.bearer()
        if token is None:
            return self.reply(401, b"")
        authorised = (len(token) == 64 and secrets.compare_digest(token, service["token"])) or (
            self.owner.oidc.get(token) in (service["owner"],)
        )
        if not authorised:
            return self.reply(401, b"")
        job_name = self.headers.get("X-Delegated-Job-ID")
        if job_name and job_name in self.owner.jobs.get(name, {}):
            message = f'Error creating job: jobs.batch "{job_name}" already exists'
            return self.reply_text(500, message)
        if self.owner.job_answers:
            status, created = self.owner.job_answers.pop(0)
            if created:
                self.owner.start_job(service, self.body(), job_name)
            return self.reply_text(status, "busy", {"Retry-After": "1"})
        self.owner.start_job(service, self.body(), job_name)
        self.reply(201)
