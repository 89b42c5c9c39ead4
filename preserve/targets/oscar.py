"""The ``oscar+https://HOST[:PORT]`` target: OSCAR, the FaaS platform of the EOSC marketplace.

Follows grycap/oscar (``functions-and-events.md`` §2). Deploy creates (``POST
/system/services``, ``201`` with no body) or updates (``PUT``) a service whose
image is the function image pinned by digest and whose script runs the shim in
OSCAR mode with the image's own ``python3``; the shim's context goes in as
service variables, storage credentials as service secrets (only their names are
recorded). Invoke is asynchronous, as OSCAR jobs are: ``POST /job/NAME`` with the
parameters as body answers ``201`` with no body; the job is named after the
invocation (``X-Delegated-Job-ID``), so ``GET /system/logs/NAME`` tells its state
and ``GET /system/logs/NAME/JOB`` its log, whose last JSON line is the shim's
result (OSCAR's supervisor does not fail a job whose script failed). OSCAR runs a
job once (``backoffLimit: 0``), and so does this target: a call the platform
answered busy (``429``/``503``) is sent again only after the job list shows it
was not created.

Settings (``[targets.oscar]``): ``user`` and ``password`` (the cluster's Basic
credentials) or ``token`` (an OIDC access token); ``cpu``, ``memory`` (default:
the analysis' recorded limit), ``poll_interval``, ``pending_timeout``. Outputs
go where the call's ``output_to`` (or deploy's ``--output-to``) says: a job's
``TMP_OUTPUT_DIR`` is uploaded only to storage providers this target does not
configure.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr

from preserve.errors import TargetError
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
    entrypoint,
    memory_mib,
    pinned,
    session,
    shim_secrets,
    timeout_seconds,
)

ENDED = {"Succeeded", "Failed"}
LOG_TAIL = 2000


class OscarOptions(TargetOptions):
    user: str | None = Field(None, description="the cluster's user (HTTP Basic)")
    password: SecretStr | None = Field(None, description="the cluster's password")
    token: SecretStr | None = Field(None, description="an OIDC access token (Bearer)")
    cpu: str | None = Field(None, description="CPU cores of a job (OSCAR's default: 0.2)")
    memory: str | None = Field(
        None, description="memory of a job, e.g. 1Gi (default: the analysis' recorded limit)"
    )
    poll_interval: float = Field(2.0, gt=0, description="seconds between looks at a job")
    pending_timeout: float = Field(
        600.0, gt=0, description="seconds a job may stay Pending (its image cannot be pulled?)"
    )


class OscarTarget(Platform[OscarOptions]):
    name: ClassVar[str] = "oscar"
    needs_registry: ClassVar[bool] = True
    options: ClassVar[type[TargetOptions]] = OscarOptions

    def __init__(
        self, options: OscarOptions, settings: Settings, address: str, environ: Mapping[str, str]
    ) -> None:
        super().__init__(options, settings, address, environ)
        if options.token is not None:
            self.admin.headers["Authorization"] = f"Bearer {options.token.get_secret_value()}"
        elif options.user and options.password is not None:
            self.admin.auth = (options.user, options.password.get_secret_value())
        self.jobs = session(settings)  # job calls carry the service's token, not the admin's

    # -- the Protocol ------------------------------------------------------------------

    def deploy(self, image: FunctionImage, *, progress: Progress) -> Deployed:
        endpoint = http.Endpoint(self.label, image.function)
        secrets = shim_secrets(self.settings, image.spec, self.environ)
        service = self.service(image, secrets)
        exists = self._service(endpoint, image.name) is not None
        progress.step(f"{'updating' if exists else 'creating'} the OSCAR service {image.name}")
        method = "PUT" if exists else "POST"
        http.call(self.admin, endpoint, method, f"{self.base}/system/services", body=service)
        sent = {**service, "environment": {**service["environment"], "secrets": sorted(secrets)}}
        return Deployed(endpoint_id=image.name, image_ref=service["image"], sent=sent)

    def service(self, image: FunctionImage, secrets: Mapping[str, str]) -> dict[str, Any]:
        """The FDL service: the pinned image, a script that runs the shim in OSCAR mode."""
        ref = pinned(image, self.label)
        script = "#!/bin/sh\nexec " + shlex.join([*entrypoint(image.image_id), "oscar"]) + "\n"
        memory = self.opts.memory or _quantity(memory_mib(image.spec))
        service: dict[str, Any] = {
            "name": image.name,
            "image": ref,
            "script": script,
            "log_level": "INFO",
            "environment": {
                "variables": shim_environment(self.label, ref, image.image_id),
                "secrets": dict(secrets),
            },
            "labels": {"org.preserve.function.name": image.name},
            "annotations": {
                "org.preserve.function": image.function,
                "org.preserve.image.digest": image.digest or "",
                "org.opencontainers.image.base.digest": image.base_image_digest or "",
            },
        }
        if self.opts.cpu:
            service["cpu"] = self.opts.cpu
        if memory:
            service["memory"] = memory
        return service

    def invoke(self, deployment: Deployment, call: Call, *, progress: Progress) -> Outcome:
        endpoint = http.Endpoint(self.label, deployment.function)
        events = deployment.spec.get("events") or {}
        if not call.parameters.get("output_to") and not events.get("output_to"):
            raise endpoint.error(
                "no output folder: an OSCAR job keeps what it writes only in its "
                "TMP_OUTPUT_DIR, which this target does not upload anywhere",
                hint="give --output-to URI (or deploy with --output-to URI)",
            )
        job = call.invocation_id
        limit = call.timeout or timeout_seconds(deployment.spec)
        self._submit(endpoint, deployment, call)
        progress.step(f"OSCAR job {job} of {deployment.name} submitted")
        status = self._wait(endpoint, deployment.name, job, limit)
        log = self._log(endpoint, deployment.name, job)
        result = last_result(log)
        if result is not None:
            return Outcome(call.invocation_id, result, platform_id=job)
        tail = log.strip()[-LOG_TAIL:]
        return Outcome(
            call.invocation_id,
            None,
            platform_id=job,
            error=f"the OSCAR job {job} ended {status} without a result"
            + (f"; its log ends:\n{tail}" if tail else ""),
        )

    def invoke_many(
        self, deployment: Deployment, calls: Sequence[Call], *, progress: Progress
    ) -> list[Outcome]:
        return [self.invoke(deployment, c, progress=progress) for c in calls]

    def status(self, deployment: Deployment) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        service = self._service(endpoint, deployment.name)
        if service is None:
            return "absent"
        return "ready" if service.get("image") == deployment.image_ref else "changed"

    def logs(self, deployment: Deployment, invocation_id: str | None = None) -> str:
        endpoint = http.Endpoint(self.label, deployment.function)
        if invocation_id is not None:
            return self._log(endpoint, deployment.name, invocation_id, missing_ok=True)
        jobs = self._jobs(endpoint, deployment.name)
        texts = []
        for name, info in sorted(jobs.items(), key=lambda j: str(j[1].get("creation_time"))):
            texts.append(f"== job {name}: {info.get('status')} ({info.get('creation_time')})\n")
            texts.append(self._log(endpoint, deployment.name, name, missing_ok=True))
        return "".join(texts)

    def undeploy(self, deployment: Deployment) -> None:
        endpoint = http.Endpoint(self.label, deployment.function)
        url = f"{self.base}/system/services/{quote(deployment.name)}"
        http.call(self.admin, endpoint, "DELETE", url, ok=(200, 204, 404))

    # -- the API -----------------------------------------------------------------------

    def _service(self, endpoint: http.Endpoint, name: str) -> dict[str, Any] | None:
        url = f"{self.base}/system/services/{quote(name)}"
        answer = http.call(self.admin, endpoint, "GET", url, ok=(200, 404))
        if answer.status == 404:
            return None
        if not isinstance(answer.document, dict):
            raise endpoint.error(f"GET {url} answered something that is not a service")
        return answer.document

    def _job_token(self, endpoint: http.Endpoint, name: str) -> str:
        """The OIDC token, else the service's own token (read now, never recorded)."""
        if self.opts.token is not None:
            return self.opts.token.get_secret_value()
        service = self._service(endpoint, name)
        if service is None or not service.get("token"):
            raise endpoint.error(
                f"the service {name} is not on the cluster", hint="deploy the function again"
            )
        return str(service["token"])

    def _submit(self, endpoint: http.Endpoint, deployment: Deployment, call: Call) -> None:
        """``POST /job/NAME`` once; again after a busy answer only if no job was created."""
        headers = {
            "Authorization": f"Bearer {self._job_token(endpoint, deployment.name)}",
            "X-Delegated-Job-ID": call.invocation_id,
        }
        url = f"{self.base}/job/{quote(deployment.name)}"
        for attempt in range(1, 5):
            try:
                http.call(
                    self.jobs,
                    endpoint,
                    "POST",
                    url,
                    body=dict(call.parameters),
                    headers=headers,
                    ok=(201,),
                    retries=0,
                )
                return
            except TargetError as exc:
                busy = exc.retry_after is not None or "busy" in exc.message
                if not busy or attempt == 4:
                    raise
                time.sleep(exc.retry_after or 2.0**attempt)
                if call.invocation_id in self._jobs(endpoint, deployment.name):
                    return  # it was created after all: never run it twice

    def _jobs(self, endpoint: http.Endpoint, name: str) -> dict[str, dict[str, Any]]:
        url = f"{self.base}/system/logs/{quote(name)}"
        answer = http.call(self.admin, endpoint, "GET", url)
        jobs = (answer.document or {}).get("jobs") if isinstance(answer.document, dict) else None
        return dict(jobs) if isinstance(jobs, dict) else {}

    def _wait(self, endpoint: http.Endpoint, name: str, job: str, limit: float) -> str:
        """The job's final status; a TargetError if it stays Pending or runs too long."""
        started = time.monotonic()
        running_since: float | None = None
        while True:
            status = str((self._jobs(endpoint, name).get(job) or {}).get("status") or "Pending")
            if status in ENDED:
                return status
            now = time.monotonic()
            if status == "Running" and running_since is None:
                running_since = now
            if running_since is None and now - started > self.opts.pending_timeout:
                raise endpoint.error(
                    f"the OSCAR job {job} is still {status} after {self.opts.pending_timeout:g} s",
                    hint="the cluster may not pull the function image (is the registry "
                    "reachable from it?) or have no room; see `preserve logs NAME`",
                )
            if running_since is not None and now - running_since > limit + 60:
                raise endpoint.error(f"the OSCAR job {job} ran longer than {limit:g} s")
            time.sleep(self.opts.poll_interval)

    def _log(self, endpoint: http.Endpoint, name: str, job: str, missing_ok: bool = False) -> str:
        url = f"{self.base}/system/logs/{quote(name)}/{quote(job)}"
        ok = (200, 404) if missing_ok else (200,)
        answer = http.call(self.admin, endpoint, "GET", url, ok=ok, expect_json=False)
        return "" if answer.status == 404 else str(answer.document)


def last_result(log: str) -> dict[str, Any] | None:
    """The shim's result document: the last line of the log that is one."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if line.startswith("{") and '"status"' in line:
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict) and "status" in document:
                return document
    return None


def _quantity(mib: int | None) -> str | None:
    return f"{mib}Mi" if mib else None
