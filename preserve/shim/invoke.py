"""One call of a function, start to end, whatever protocol brought it.

1. Describe every input (the storage's size and checksums, before any byte moves)
   and compute the invocation key; a completed crate with that key at the output
   folder is the answer, and nothing runs.
2. Stage and verify each input; a mismatch is refused.
3. Run the recorded command with the recorded environment policy.
4. Upload the outputs, each with its SHA-256, then the logs and configuration,
   then the crate's metadata last: a folder with ``ro-crate-metadata.json`` is
   complete. An output that did not arrive whole is not reported.
5. Answer with the result document. A failure still leaves a crate, marked
   ``FailedActionStatus``, at the output folder when it can be written there.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from preserve.shim import command, crate, storage
from preserve.shim.digests import checksum_token
from preserve.shim.documents import (
    COMPLETED,
    FAILED,
    Parameters,
    ShimError,
    Trigger,
    bad_request,
    result_document,
)
from preserve.shim.http import Client
from preserve.shim.jsonld import iso
from preserve.shim.key import invocation_key
from preserve.shim.mediatypes import guess
from preserve.shim.redact import redact_uri, scrub

DEFAULT_TIMEOUT = 3600.0
MAX_CRATE_METADATA = 32 << 20


@dataclass
class Context:
    """Where a function lives in its container, and what it may use."""

    spec: Mapping[str, Any]  # function.json
    files: str  # the published crate's files the function carries (config, local inputs)
    root: str = "/preserve"  # inputs/, outputs/, config/, cache/, work/
    client: Client = field(default_factory=Client)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    target: str | None = None
    function_image: Mapping[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda line: print(f"preserve-shim: {line}", file=sys.stderr)

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)


@dataclass
class _State:
    """What a call has done so far (for its crate, whether it completes or fails)."""

    invocation_id: str
    start: Any
    key: str | None = None
    output_to: str | None = None
    inputs: list[crate.InputFact] = field(default_factory=list)
    config: crate.FileFact | None = None
    outputs: list[crate.FileFact] = field(default_factory=list)
    logs: list[crate.FileFact] = field(default_factory=list)
    ran: command.Ran | None = None
    uploads: list[tuple[str, str]] = field(default_factory=list)  # (crate path, local path)


def call(
    ctx: Context,
    params: Parameters,
    *,
    invocation_id: str,
    trigger: Trigger | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run one call; the result document (``status`` says whether it failed)."""
    spec = ctx.spec
    trigger = params.trigger(trigger)
    limit = timeout or (spec.get("resources") or {}).get("timeout") or DEFAULT_TIMEOUT
    deadline = time.monotonic() + float(limit)
    state = _State(invocation_id, crate.now())
    ctx.log(f"invocation {invocation_id} started")
    try:
        cached = _prepare(ctx, params, state, deadline)
        if cached is not None:
            return cached
        _run(ctx, state, params, deadline)
        _upload_all(ctx, state, trigger, deadline)
    except ShimError as exc:
        return _failed(ctx, state, trigger, exc, deadline)
    except OSError as exc:  # the function's own disk: full, read-only, gone
        why = f"the function's disk failed: {exc.strerror or exc} ({exc.filename or ''})"
        return _failed(ctx, state, trigger, ShimError(why.replace(" ()", "")), deadline)
    return _result(ctx, state, COMPLETED)


# -- 1. inputs described, the key, the output folder ------------------------------------


def _prepare(
    ctx: Context, params: Parameters, state: _State, deadline: float
) -> dict[str, Any] | None:
    spec = ctx.spec
    for path in ("inputs", "outputs", "config"):
        shutil.rmtree(ctx.path(path), ignore_errors=True)
    os.makedirs(ctx.path("outputs"))
    os.chmod(ctx.path("outputs"), 0o777)
    state.output_to = params.output_to
    cache = storage.Cache(ctx.path("cache"))
    described = {
        name: _describe(ctx, name, item, params.inputs.get(name), deadline)
        for name, item in spec["inputs"].items()
    }
    material: dict[str, dict[str, Any]] = {}
    for name, found in described.items():
        token = _token(found)
        if token is None:  # the storage keeps no checksum: the content's SHA-256 is the key's
            state.inputs.append(_stage(ctx, name, spec["inputs"][name], found, cache, deadline))
            token = f"sha256:{state.inputs[-1].file.sha256}"
        uri = found.uri if isinstance(found, storage.Described) else found["bundled"]
        size = found.size if isinstance(found, storage.Described) else found["size"]
        material[name] = {"uri": redact_uri(uri), "size": size, "checksum": token}
    state.key = invocation_key(spec["function"], material, params.config)
    state.output_to = _output_folder(ctx, params, state.key)
    existing = _existing(ctx, state, deadline)
    if existing is not None:
        return existing
    done = {i.name for i in state.inputs}
    for name, found in described.items():
        if name not in done:
            state.inputs.append(_stage(ctx, name, spec["inputs"][name], found, cache, deadline))
    state.inputs.sort(key=lambda i: list(spec["inputs"]).index(i.name))
    state.config = _config(ctx, params.config)
    return None


Found = Any  # storage.Described for a URI, the recorded item for an input the function carries


def _describe(
    ctx: Context, name: str, item: Mapping[str, Any], given: str | None, deadline: float
) -> Found:
    if given is None and not item.get("remote"):
        return item
    uri = given or item["uri"]
    ctx.log(f"describing input {redact_uri(uri)}")
    found = storage.describe(ctx.client, uri, deadline)
    if given is None:  # the recorded input: it must still be what the published run read
        storage.check_expected(uri, found, item.get("sha256"), item.get("size"), name)
    return found


def _token(found: Found) -> str | None:
    if isinstance(found, storage.Described):
        return checksum_token(found.checksums)
    return f"sha256:{found['sha256']}"


def _stage(
    ctx: Context,
    name: str,
    item: Mapping[str, Any],
    found: Found,
    cache: storage.Cache,
    deadline: float,
) -> crate.InputFact:
    """Stage input ``name`` at its recorded mount, verified."""
    mount = item["mount"]
    os.makedirs(os.path.dirname(mount), exist_ok=True)
    if not isinstance(found, storage.Described):
        source = os.path.join(ctx.files, item["bundled"])
        digest = storage.hash_file(source, ("sha256",))["sha256"]
        if digest != item["sha256"]:
            raise ShimError(f"the function's copy of input {name!r} is damaged", status=500)
        os.symlink(source, mount)
        file = crate.FileFact(item["bundled"], item["size"], digest, item["media_type"])
        return crate.InputFact(name, file, mount, remote=False)
    recorded = found.uri == item.get("uri")
    staged = storage.stage(
        ctx.client,
        name,
        found,
        cache,
        expected_sha256=item.get("sha256") if recorded else None,
        expected_size=item.get("size") if recorded else None,
        deadline=deadline,
    )
    os.symlink(staged.path, mount)
    media = staged.media_type or guess(found.uri.split("?", 1)[0])
    if media in ("application/octet-stream", "text/plain") and item.get("media_type"):
        media = item["media_type"]
    file = crate.FileFact(redact_uri(found.uri), staged.size, staged.sha256, media)
    checksums = {k: v for k, v in staged.checksums.items() if k != "sha256"}
    return crate.InputFact(name, file, mount, True, checksums, iso(crate.now()))


def _output_folder(ctx: Context, params: Parameters, key: str) -> str:
    if params.output_to:
        return params.output_to
    default = (ctx.spec.get("events") or {}).get("output_to")
    if not default:
        raise bad_request(
            "no output_to was given, and the function has no default output folder",
            hint='give "output_to": URI (or deploy with --output-to URI)',
        )
    return storage.join(default, key[:20]) + "/"


def _existing(ctx: Context, state: _State, deadline: float) -> dict[str, Any] | None:
    """The result of a completed call with the same key at the output folder, if any."""
    assert state.output_to is not None
    data = storage.read_small(
        ctx.client,
        storage.join(state.output_to, crate.CRATE_METADATA),
        MAX_CRATE_METADATA,
        deadline,
    )
    if data is None:
        return None
    try:
        graph = json.loads(data.decode("utf-8"))["@graph"]
        action = next(e for e in graph if e.get("@type") == "CreateAction")
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ShimError(
            f"{redact_uri(state.output_to)} holds something that is not an invocation crate",
            hint="choose an empty output folder",
            status=409,
        ) from exc
    if action.get("identifier") != state.key:
        raise ShimError(
            f"{redact_uri(state.output_to)} already holds the crate of another invocation",
            hint="choose an empty output folder for each invocation",
            status=409,
        )
    if action.get("actionStatus") != crate.COMPLETED:
        return None  # a failed call with the same key: try again, over it
    ctx.log(f"invocation {state.key} completed before: answering from its crate")
    by_id = {e.get("@id"): e for e in graph}
    results = action.get("result") or []
    outputs = {}
    for ref in results if isinstance(results, list) else [results]:
        entity = by_id.get(ref.get("@id"), {})
        path = str(entity.get("@id", "")).split("/", 1)[-1]
        outputs[path] = {
            "uri": redact_uri(storage.join(state.output_to, entity["@id"])),
            "sha256": entity.get("sha256"),
            "size": int(entity.get("contentSize") or 0),
        }
    return result_document(
        status=COMPLETED,
        key=state.key,
        function=ctx.spec["function"],
        outputs=outputs,
        crate=redact_uri(state.output_to),
        target=ctx.target,
        invocation_id=state.invocation_id,
        cached=True,
    )


def _config(ctx: Context, overrides: Mapping[str, Any]) -> crate.FileFact | None:
    """The recorded configuration at its mount, with the call's overrides merged in."""
    config = ctx.spec.get("config")
    if not config:
        if overrides:
            raise bad_request("the function has no configuration to override")
        return None
    os.makedirs(os.path.dirname(config["mount"]), exist_ok=True)
    source = os.path.join(ctx.files, config["bundled"])
    if not overrides:
        shutil.copyfile(source, config["mount"])
    else:
        try:
            with open(source, encoding="utf-8") as fh:
                recorded = json.load(fh)
        except ValueError as exc:
            raise bad_request(
                "config overrides need a JSON configuration; this function's is not JSON",
            ) from exc
        with open(config["mount"], "w", encoding="utf-8") as fh:
            json.dump(merge(recorded, overrides), fh, indent=2)
            fh.write("\n")
    digest = storage.hash_file(config["mount"], ("sha256",))["sha256"]
    size = os.path.getsize(config["mount"])
    return crate.FileFact(
        config["bundled"],
        size,
        digest,
        config["media_type"],
        description=f"Configuration of this invocation, at {config['mount']}"
        + (" (the published one with the call's overrides)." if overrides else "."),
    )


def merge(base: Any, overrides: Mapping[str, Any]) -> Any:
    """``base`` with ``overrides`` merged in, objects key by key."""
    if not isinstance(base, dict):
        return dict(overrides)
    out = dict(base)
    for key, value in overrides.items():
        out[key] = (
            merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


# -- 3. the command -----------------------------------------------------------------------


def _run(ctx: Context, state: _State, params: Parameters, deadline: float) -> None:
    spec = ctx.spec
    values = {f"inputs.{i.name}": i.mount for i in state.inputs}
    values["outdir"] = ctx.path("outputs")  # /preserve/outputs, as the published run had it
    if spec.get("config"):
        values["config"] = spec["config"]["mount"]
    argv = command.substitute(spec["command"], values)
    work = ctx.path("work", state.invocation_id)
    os.makedirs(os.path.join(work, "logs"))
    out, err = os.path.join(work, "logs", "stdout.txt"), os.path.join(work, "logs", "stderr.txt")
    env = command.environment(spec, ctx.environ)
    ctx.log(f"running {' '.join(argv)}")
    ran = command.run(
        argv,
        env=env,
        cwd=spec.get("workdir") or spec.get("image_workdir") or "/",
        stdout_path=out,
        stderr_path=err,
        timeout=max(1.0, deadline - time.monotonic()),
    )
    state.ran = ran
    secrets = [env[e["name"]] for e in spec.get("env") or [] if e.get("withheld")]
    for path, what in ((out, "Standard output"), (err, "Standard error")):
        _scrub(path, secrets)
        digest = storage.hash_file(path, ("sha256",))["sha256"]
        rel = f"logs/{os.path.basename(path)}"
        fact = crate.FileFact(
            rel, os.path.getsize(path), digest, "text/plain", description=f"{what} of the command."
        )
        state.logs.append(fact)
        state.uploads.append((rel, path))
    if ran.error:
        raise ShimError(f"the command failed: {ran.error}", status=500)
    state.outputs = _outputs(spec, ctx.path("outputs"))


def _scrub(path: str, secrets: list[str]) -> None:
    if not secrets:
        return
    with open(path, "rb") as fh:
        data, replaced = scrub(fh.read(), secrets)
    if replaced:
        with open(path, "wb") as fh:
            fh.write(data)


def _outputs(spec: Mapping[str, Any], outdir: str) -> list[crate.FileFact]:
    facts, missing = [], []
    for rel in spec["outputs"]:
        path = os.path.join(outdir, rel)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            missing.append(rel)
            continue
        if not stat.S_ISREG(info.st_mode):
            raise ShimError(f"output {rel} is not a regular file (a link or a device?)", status=500)
        digests = storage.hash_file(path)
        facts.append(
            crate.FileFact(f"outputs/{rel}", info.st_size, digests["sha256"], guess(rel), name=rel)
        )
    if missing:
        raise ShimError("the command wrote no " + ", ".join(missing), status=500)
    return facts


# -- 4. uploads, the crate last ---------------------------------------------------------------


def _upload_all(ctx: Context, state: _State, trigger: Trigger | None, deadline: float) -> None:
    assert state.output_to is not None
    verified = []
    for fact in state.outputs:
        local = os.path.join(ctx.path("outputs"), fact.id.split("/", 1)[1])
        _upload(ctx, state.output_to, fact.id, local, deadline)
        verified.append(fact)
    state.outputs = verified
    _finish(ctx, state, trigger, None, deadline)


def _upload(ctx: Context, folder: str, rel: str, local: str, deadline: float) -> None:
    digests = storage.hash_file(local)
    storage.upload(ctx.client, local, storage.join(folder, rel), digests, guess(rel), deadline)


def _finish(
    ctx: Context, state: _State, trigger: Trigger | None, error: str | None, deadline: float
) -> str:
    """Upload logs, configuration, carried inputs, then the crate's recipe and metadata."""
    assert state.output_to is not None
    spec = ctx.spec
    for rel, local in state.uploads:
        _upload(ctx, state.output_to, rel, local, deadline)
    if state.config is not None:
        _upload(ctx, state.output_to, state.config.id, spec["config"]["mount"], deadline)
    for fact in state.inputs:
        if not fact.remote:
            _upload(
                ctx, state.output_to, fact.file.id, os.path.join(ctx.files, fact.file.id), deadline
            )
    work = ctx.path("work", state.invocation_id)
    os.makedirs(work, exist_ok=True)
    ran = state.ran
    record = crate.Invocation(
        invocation_id=state.invocation_id,
        key=state.key,
        inputs=state.inputs,
        config=state.config,
        outputs=state.outputs,
        logs=state.logs,
        command=ran.command if ran else (),
        start=ran.start if ran else state.start,
        end=ran.end if ran else crate.now(),
        error=error,
        trigger=trigger,
        function_image=ctx.function_image,
        target=ctx.target,
        cpu_seconds=ran.cpu_seconds if ran else None,
        peak_memory=ran.peak_memory if ran else None,
    )
    for rel in crate.write(work, spec, record):
        _upload(ctx, state.output_to, rel, os.path.join(work, rel), deadline)
    shutil.rmtree(work, ignore_errors=True)
    return state.output_to


def _failed(
    ctx: Context, state: _State, trigger: Trigger | None, exc: ShimError, deadline: float
) -> dict[str, Any]:
    """The failure's crate at the output folder (when it can be written there) and result."""
    error = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    ctx.log(f"invocation {state.invocation_id} failed: {error}")
    written = None
    if state.output_to is not None and exc.status != 409:
        try:
            written = _finish(ctx, replace(state, outputs=[]), trigger, error, deadline + 60)
        except (ShimError, OSError) as again:
            why = getattr(again, "message", again)
            ctx.log(f"the failure's crate could not be written there: {why}")
    result = _result(ctx, state, FAILED, error)
    result["crate"] = redact_uri(written) if written else None
    result["outputs"] = {}
    return result


def _result(ctx: Context, state: _State, status: str, error: str | None = None) -> dict[str, Any]:
    folder = state.output_to or ""
    return result_document(
        status=status,
        key=state.key,
        function=ctx.spec["function"],
        outputs={
            o.name or o.id: {
                "uri": redact_uri(storage.join(folder, o.id)),
                "sha256": o.sha256,
                "size": o.size,
            }
            for o in state.outputs
        },
        crate=redact_uri(folder) if folder else None,
        target=ctx.target,
        invocation_id=state.invocation_id,
        error=error,
    )


def load_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec
