"""``preserve invoke``: run a deployed function once on new data and wait for it.

The parameters are checked against the function first (names of inputs,
config overrides as a JSON object). When every input's storage reports a
checksum (or the input is a local file, hashed in place), the invocation key is
computed here exactly as the shim computes it (the shim's own code, the same
storage answers), and a completed invocation with that key is answered from the
record without running. Otherwise the target runs the call; its result document
is recorded. A failure ends with :class:`~preserve.errors.InvocationFailed` (the
function ran and failed: its crate says why) or
:class:`~preserve.errors.TargetError` (the platform failed); both name the
target, the function and the cause, and both leave a crate marked failed: the
shim's at the output folder, or, when the call never reached the shim, one
written here in ``<data_dir>/functions/invocations/ID``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.data.base import resolver_for, scheme_of
from preserve.data.file import local_path
from preserve.errors import ConfigError, InvocationFailed, PreserveError, TargetError
from preserve.functions import records
from preserve.functions.deploy import deploy, find
from preserve.hashing import sha256_file
from preserve.progress import QUIET, Progress
from preserve.rerun.locate import is_doi
from preserve.settings import Settings
from preserve.shim import crate
from preserve.shim.digests import checksum_token
from preserve.shim.documents import (
    COMPLETED,
    FAILED,
    Parameters,
    ShimError,
    parameters,
    result_document,
)
from preserve.shim.key import invocation_key
from preserve.shim.redact import redact_uri
from preserve.targets.base import Call, Deployment, Outcome, open_target


def invoke(
    what: str,
    *,
    inputs: Mapping[str, str],
    settings: Settings,
    config: Mapping[str, Any] | None = None,
    output_to: str | None = None,
    target: str | None = None,
    timeout: float | None = None,
    event: Mapping[str, str] | None = None,
    progress: Progress = QUIET,
) -> dict[str, Any]:
    """Call the function ``what`` (a deployment's name, or a DOI or reference: deployed
    to ``target``, by default the local one, if it is not yet) and wait for its result.
    ``event``: the storage event that started the call, for its crate (a watcher's)."""
    deployment = resolve(what, target, settings, progress)
    document: dict[str, Any] = {"inputs": dict(inputs)}
    if output_to is not None:
        document["output_to"] = output_to
    if config:
        document["config"] = dict(config)
    if event:
        document["event"] = dict(event)
    params = _checked(deployment, [document])[0]
    key = host_key(deployment.spec, params, settings)
    prepared = _prepare(deployment, params, settings, timeout, progress, key)
    if isinstance(prepared, dict):
        return prepared
    progress.step(f"invoking {deployment.function} on {deployment.target}")
    try:
        outcome = open_target(deployment.target, settings).invoke(
            deployment, prepared.call, progress=progress
        )
    except TargetError as exc:
        path = _never_ran(settings, deployment, prepared, exc.message)
        raise TargetError(
            exc.message,
            hint=f"{exc.hint or ''} (crate: {path})".strip(),
            retry_after=exc.retry_after,
        ) from exc
    result = _finish(settings, deployment, prepared, outcome)
    if result["status"] != COMPLETED:
        raise InvocationFailed(
            f"{deployment.target}: function {deployment.function}: {result['error']}",
            hint=f"the crate at {result['crate']} records the failed invocation",
            result=result,
        )
    return result


def invoke_batch(
    what: str,
    documents: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    target: str | None = None,
    timeout: float | None = None,
    progress: Progress = QUIET,
) -> list[dict[str, Any]]:
    """Many calls of one function, submitted together (one job array on SLURM); their
    results in the order of ``documents``. A failed call does not stop the others: its
    result says ``failed``, with its error and crate. A call made before (or twice in
    the batch) is answered by its key and does not run again."""
    deployment = resolve(what, target, settings, progress)
    prepared: list[dict[str, Any] | _Pending] = []
    first: dict[str, int] = {}  # key -> the call that runs it: a repeated call runs once
    for params in _checked(deployment, documents):
        key = host_key(deployment.spec, params, settings)
        if key is not None and key in first:
            prepared.append({"same_as": first[key]})
            continue
        prepared.append(_prepare(deployment, params, settings, timeout, progress, key))
        if key is not None:
            first[key] = len(prepared) - 1
    pending = [p for p in prepared if isinstance(p, _Pending)]
    outcomes: dict[str, Outcome] = {}
    if pending:
        progress.step(f"invoking {deployment.function} {len(pending)} times on {deployment.target}")
        try:
            ran = open_target(deployment.target, settings).invoke_many(
                deployment, [p.call for p in pending], progress=progress
            )
            outcomes = {o.invocation_id: o for o in ran}
        except TargetError as exc:  # the whole submission failed: every call says why
            outcomes = {
                p.call.invocation_id: Outcome(p.call.invocation_id, None, error=exc.message)
                for p in pending
            }
    results: list[dict[str, Any]] = []
    for p in prepared:
        if isinstance(p, _Pending):
            lost = Outcome(p.call.invocation_id, None, error="the target gave no outcome")
            results.append(
                _finish(settings, deployment, p, outcomes.get(p.call.invocation_id, lost))
            )
        elif "same_as" in p:
            results.append({**results[p["same_as"]], "cached": True})
        else:
            results.append(p)
    return results


@dataclass(frozen=True)
class _Pending:
    """A call about to be sent, recorded as running."""

    call: Call
    key: str | None


def _checked(deployment: Deployment, documents: Sequence[Mapping[str, Any]]) -> list[Parameters]:
    """Every document against the function, before anything is sent."""
    out = []
    for number, document in enumerate(documents, 1):
        try:
            out.append(parameters(dict(document), deployment.spec))
        except ShimError as exc:
            where = f"call {number}: " if len(documents) > 1 else ""
            raise ConfigError(
                f"function {deployment.function}: {where}{exc.message}", hint=exc.hint
            ) from exc
    return out


def _prepare(
    deployment: Deployment,
    params: Parameters,
    settings: Settings,
    timeout: float | None,
    progress: Progress,
    key: str | None,
) -> dict[str, Any] | _Pending:
    """The recorded result of a completed call with the same key, else the call to send."""
    if key is not None:
        done = records.completed(settings, key)
        if done is not None:
            progress.step(f"invocation {key[:16]} completed before: its crate is {done['crate']}")
            return {**done, "cached": True}
    invocation_id = str(uuid.uuid4())
    records.start_invocation(settings, invocation_id, deployment, key, params.to_json())
    return _Pending(Call(invocation_id, params.to_json(), timeout), key)


def _never_ran(
    settings: Settings,
    deployment: Deployment,
    pending: _Pending,
    error: str,
    platform_id: str | None = None,
) -> Path:
    """A call the platform failed before the shim answered: its crate, here."""
    invocation_id = pending.call.invocation_id
    path = failed_crate(settings, deployment, invocation_id, pending.key, error)
    records.end_invocation(settings, invocation_id, FAILED, None, error, platform_id)
    return path


def _finish(
    settings: Settings, deployment: Deployment, pending: _Pending, outcome: Outcome
) -> dict[str, Any]:
    """The call's result document, recorded; a failed one names its error and crate."""
    invocation_id = pending.call.invocation_id
    if outcome.result is None:
        error = outcome.error or "the function gave no result"
        path = _never_ran(settings, deployment, pending, error, outcome.platform_id)
        return result_document(
            status=FAILED,
            key=pending.key,
            function=deployment.function,
            outputs={},
            crate=str(path),
            target=deployment.target,
            invocation_id=invocation_id,
            error=error,
        )
    result = dict(outcome.result)
    result.update(target=deployment.target, invocation_id=invocation_id)
    if result.get("status") != COMPLETED:
        error = str(result.get("error") or outcome.error or "the function failed")
        result.update(status=FAILED, error=error)
        if not result.get("crate"):
            result["crate"] = str(
                failed_crate(settings, deployment, invocation_id, pending.key, error)
            )
        records.end_invocation(settings, invocation_id, FAILED, result, error, outcome.platform_id)
        return result
    records.end_invocation(settings, invocation_id, COMPLETED, result, None, outcome.platform_id)
    return result


def resolve(what: str, target: str | None, settings: Settings, progress: Progress) -> Deployment:
    """A deployment by name; else the deployment of a published function (on ``target``),
    deployed to ``target`` (default: local) if there is none."""
    named = records.deployment(settings, what)
    if named is not None:
        if target and named.deployment.target != target:
            raise ConfigError(
                f"the function {what} is deployed on {named.deployment.target}, not {target}"
            )
        return named.deployment
    if not (is_doi(what) or "@" in what or ":" in what):
        return find(settings, what)  # FunctionNotFound, listing what is deployed
    wanted = target or "local"
    for recorded in records.deployments(settings):
        d = recorded.deployment
        if what in (d.function, d.spec.get("doi"), d.spec.get("crate_ref")) and d.target == wanted:
            return d
    progress.step(f"{what} is not deployed on {wanted}: deploying it")
    return deploy(what, to=wanted, settings=settings, progress=progress).deployment


Material = dict[str, Any]  # what the key knows of one input: uri, size, checksum


def host_key(
    spec: Mapping[str, Any],
    params: Parameters,
    settings: Settings,
    known: Mapping[str, Material] | None = None,
) -> str | None:
    """The invocation key as the shim will compute it (the same storage answers, the same
    choice of checksum), if the storage tells enough; None when only the shim can.
    ``known``: inputs already described (a watcher's source did), by name."""
    material = {}
    for name, item in spec["inputs"].items():
        given = params.inputs.get(name)
        if known and name in known:
            material[name] = dict(known[name])
        elif given is None and not item.get("remote"):
            material[name] = {
                "uri": item["bundled"],
                "size": item["size"],
                "checksum": f"sha256:{item['sha256']}",
            }
        else:
            found = input_material(settings, given or item["uri"])
            if found is None:
                return None
            material[name] = found
    return invocation_key(spec["function"], material, params.config)


def input_material(settings: Settings, uri: str) -> Material | None:
    """An input's part of the key (the storage's strongest checksum; a local file's
    SHA-256), or None when the storage tells too little (the shim will say why)."""
    try:
        found = resolver_for(uri, settings).stat(uri)
        checksum = checksum_token(found.checksums)
        if checksum is None and scheme_of(uri) == "file":
            checksum = "sha256:" + sha256_file(local_path(uri)).sha256
    except PreserveError:
        return None
    if checksum is None:
        return None
    return {"uri": redact_uri(uri), "size": found.size, "checksum": checksum}


def failed_crate(
    settings: Settings, deployment: Deployment, invocation_id: str, key: str | None, error: str
) -> Path:
    """The crate of a call that never reached the shim (or whose shim could not write one)."""
    folder = settings.data_dir / "functions" / "invocations" / invocation_id
    folder.mkdir(parents=True, exist_ok=True)
    moment = crate.now()
    record = crate.Invocation(
        invocation_id=invocation_id,
        key=key,
        inputs=(),
        config=None,
        outputs=(),
        logs=(),
        command=(),
        start=moment,
        end=moment,
        error=error,
        function_image={"id": deployment.function_image_id},
        target=deployment.target,
    )
    crate.write(str(folder), deployment.spec, record)
    return folder
