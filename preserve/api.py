"""The public Python API: what the ``preserve`` command does, as typed functions.

Every function takes its options as keywords, loads the settings (config file,
``PRESERVE_*`` environment) when none are given, reports progress to an
optional :class:`~preserve.progress.Progress` sink, never prints, and raises a
:class:`~preserve.errors.PreserveError` (``message``, ``hint``, ``exit_code``)
for every expected failure. The command line, a notebook and a FaaS handler
call the same functions::

    from preserve import api

    captured = api.capture("crates/azimuthal-integration", output="crate")
    pushed = api.push("crate", to="127.0.0.1:5000/lab/azint")
    published = api.publish("crate")
    report = api.rerun(published.doi, output="rerun")
    print(report.reproduced, [(c.path, c.verdict) for c in report.comparisons])

    api.deploy(published.doi, to="local", name="azint")
    result = api.invoke("azint", inputs={"frames": "davs://dcache/scan43/frames.h5"},
                        output_to="davs://dcache/results/scan43/")
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from preserve.capture import CaptureResult
from preserve.compare_runs import RunComparison
from preserve.doi.resolve import ResolvedDoi
from preserve.errors import InvocationFailed, NotReproduced, PreserveError, TargetError
from preserve.events.model import WatchResult
from preserve.functions.deploy import DeployResult
from preserve.oci.stores import PulledCrate
from preserve.progress import QUIET, Progress
from preserve.publish import PublishResult
from preserve.push import PushResult
from preserve.rerun import RerunResult
from preserve.settings import Settings

__all__ = [
    "CaptureResult",
    "DeployResult",
    "InvocationFailed",
    "NotReproduced",
    "PreserveError",
    "Progress",
    "PublishResult",
    "PulledCrate",
    "PushResult",
    "RerunResult",
    "ResolvedDoi",
    "RunComparison",
    "Settings",
    "TargetError",
    "WatchResult",
    "capture",
    "compare",
    "deploy",
    "event",
    "events",
    "functions",
    "invoke",
    "invoke_batch",
    "logs",
    "publish",
    "pull",
    "push",
    "rerun",
    "resolve",
    "retry_event",
    "undeploy",
    "watch",
]

PathLike = str | os.PathLike[str]


def _settings(settings: Settings | None, **overrides: str | None) -> Settings:
    """``settings`` (default: loaded as the command line would), with set overrides on top."""
    base = settings if settings is not None else Settings.load()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=changes) if changes else base


def capture(
    directory: PathLike = ".",
    *,
    output: PathLike | None = None,
    allow_dirty: bool = False,
    overwrite: bool = False,
    builder: str | None = None,
    runner: str | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
) -> CaptureResult:
    """Build the environment of the analysis in ``directory`` (its ``preserve.yaml``),
    run it, and record the run as an RO-Crate (default ``./NAME-crate``).

    ``builder`` overrides ``environment.builder``; ``runner`` the configured runner.
    A failed run raises :class:`~preserve.errors.RunError` after writing a crate
    marked failed."""
    from preserve.capture import capture as _capture

    return _capture(
        Path(directory),
        settings=_settings(settings, runner=runner),
        output=Path(output) if output is not None else None,
        allow_dirty=allow_dirty,
        overwrite=overwrite,
        progress=progress,
        environ=environ,
        builder=builder,
    )


def push(
    crate_dir: PathLike,
    *,
    to: str | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> PushResult:
    """Push the image the crate ran in, then the crate as an OCI artifact whose
    ``subject`` is that image, to ``to`` (``REGISTRY/REPOSITORY[:TAG]`` or
    ``local:REPOSITORY``; default: the configured registry, else the local store)."""
    from preserve.push import push as _push

    return _push(Path(crate_dir), settings=_settings(settings), to=to, progress=progress)


def pull(
    ref: str,
    output: PathLike | None = None,
    *,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> PulledCrate:
    """Fetch and verify the crate ``ref`` names (a crate's reference, or the
    reference of the image it ran in) into ``output`` (default ``./NAME-crate``)."""
    from preserve.oci.refs import OciRef
    from preserve.push import pull as _pull

    name = OciRef.parse(ref).repository.rsplit("/", 1)[-1]
    dest = Path(output) if output is not None else Path.cwd() / f"{name}-crate"
    return _pull(ref, dest, settings=_settings(settings), progress=progress)


def publish(
    target: PathLike,
    *,
    provider: str | None = None,
    to: str | None = None,
    supplement_to: Sequence[str] = (),
    cites: Sequence[str] = (),
    settings: Settings | None = None,
    progress: Progress = QUIET,
    allow_failed: bool = False,
) -> PublishResult:
    """Push a crate directory or reference if needed, then register a DOI that
    pins the crate and image digests, with ``provider`` (default: the configured
    one). Safe to run again: the same crate always gets the same DOI. A crate
    whose run failed is refused unless ``allow_failed`` (the DOI then says so)."""
    from preserve.publish import publish as _publish

    return _publish(
        str(target),
        settings=_settings(settings),
        provider_name=provider,
        to=to,
        supplement_to=tuple(supplement_to),
        cites=tuple(cites),
        progress=progress,
        allow_failed=allow_failed,
    )


def resolve(doi: str, *, settings: Settings | None = None) -> ResolvedDoi:
    """The record of ``doi``: state, metadata, and the crate and image it pins."""
    from preserve.doi.resolve import resolve as _resolve

    return _resolve(doi, _settings(settings))


def rerun(
    target: PathLike,
    *,
    output: PathLike | None = None,
    inputs: Mapping[str, str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    runner: str | None = None,
    overwrite: bool = False,
    settings: Settings | None = None,
    progress: Progress = QUIET,
    environ: Mapping[str, str] | None = None,
    env: Mapping[str, str | None] | None = None,
    allow_network: bool = False,
    allow_unverified: Collection[str] = (),
    report: PathLike | None = None,
) -> RerunResult:
    """Fetch, verify and rerun ``target`` (a DOI, an OCI reference or a crate
    directory) and compare every output with the published one.

    A rerun that finishes but does not reproduce *returns* (``reproduced`` is
    False); the command line turns that into :class:`NotReproduced` (exit 3).
    ``inputs`` (``NAME -> URI or path``) runs on new data instead: no comparison,
    unless the data's SHA-256 is the recorded input's. The reader decides what the
    run may use: ``env`` (``NAME -> VALUE``, or None for the value in ``environ``),
    ``allow_network``, and ``allow_unverified`` (inputs without a recorded checksum).
    """
    from preserve.rerun import rerun as _rerun

    return _rerun(
        str(target),
        settings=_settings(settings, runner=runner),
        output=Path(output) if output is not None else None,
        inputs=inputs,
        rtol=rtol,
        atol=atol,
        timeout=timeout,
        overwrite=overwrite,
        progress=progress,
        environ=environ,
        env=env,
        allow_network=allow_network,
        allow_unverified=allow_unverified,
        report=Path(report) if report is not None else None,
    )


def deploy(
    published: str,
    *,
    to: str = "local",
    name: str | None = None,
    event_input: str | None = None,
    event_base: str | None = None,
    output_to: str | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> DeployResult:
    """Make the analysis published as ``published`` (a DOI or an OCI reference) a
    function on the target ``to`` (``local``, ``oscar+https://HOST``, ...). The
    analysis image is never rebuilt: a thin layer adds the shim. ``event_input``,
    ``event_base`` and ``output_to`` say how a raw storage event becomes a call."""
    from preserve.functions.definition import EventBinding
    from preserve.functions.deploy import deploy as _deploy

    return _deploy(
        published,
        to=to,
        settings=_settings(settings),
        name=name,
        events=EventBinding(event_input, event_base, output_to),
        progress=progress,
    )


def invoke(
    function: str,
    *,
    inputs: Mapping[str, str],
    output_to: str | None = None,
    config: Mapping[str, object] | None = None,
    target: str | None = None,
    timeout: float | None = None,
    event: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> dict[str, object]:
    """Run the deployed ``function`` (its name, or a DOI/reference: deployed locally
    first when it is not) once on ``inputs`` (NAME -> URI) and wait; the result
    document (``status``, ``key``, ``outputs``, ``crate``...). A call with the same
    invocation key as a completed one returns that one's result without running.
    A failed call raises :class:`~preserve.errors.InvocationFailed` (its ``result``
    names the crate that records the failure) or :class:`~preserve.errors.TargetError`.
    ``event`` is the storage event that started the call (``kind``, ``source``,
    ``subject``, ``type``, ``time``, ``id``, ``derived_from``), for the crate."""
    from preserve.functions.invoke import invoke as _invoke

    return _invoke(
        function,
        inputs=inputs,
        settings=_settings(settings),
        config=config,
        output_to=output_to,
        target=target,
        timeout=timeout,
        event=event,
        progress=progress,
    )


def invoke_batch(
    function: str,
    calls: Sequence[Mapping[str, object]],
    *,
    target: str | None = None,
    timeout: float | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> list[dict[str, Any]]:
    """Run the deployed ``function`` once per parameters document of ``calls``
    (``{"inputs": {NAME: URI}, "output_to": URI, "config": {...}}``), submitted
    together: one job array on the ``slurm`` target. Returns the result documents in
    order; a failed call does not raise: its result says ``failed``, why, and its crate."""
    from preserve.functions.invoke import invoke_batch as _invoke_batch

    return _invoke_batch(
        function,
        calls,
        settings=_settings(settings),
        target=target,
        timeout=timeout,
        progress=progress,
    )


def functions(*, settings: Settings | None = None) -> list[dict[str, object]]:
    """The deployed functions: name, function, target, digests, endpoint, state."""
    from preserve.functions.deploy import functions as _functions

    return _functions(_settings(settings))


def undeploy(name: str, *, settings: Settings | None = None) -> None:
    """Remove the deployed function ``name`` from its target and from the record."""
    from preserve.functions.deploy import undeploy as _undeploy

    _undeploy(name, settings=_settings(settings))


def logs(name: str, invocation: str | None = None, *, settings: Settings | None = None) -> str:
    """What the target kept of function ``name``, or of one of its invocations."""
    from preserve.functions.deploy import logs as _logs

    return _logs(name, invocation, settings=_settings(settings))


def watch(
    rules: PathLike,
    *,
    once: bool = False,
    settings: Settings | None = None,
    progress: Progress = QUIET,
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    journal: PathLike | None = None,
) -> WatchResult:
    """Watch every source the rules file ``rules`` names and run the matching function for
    every matching event, until ``stop`` is set (running invocations are waited for, or
    handed back to the journal once ``abandon`` is set too). ``once``: process what is
    pending and what a listing of the sources finds, then return. ``stop`` and ``abandon``
    are only read, never waited on, so a signal handler may set them. ``journal``: the
    journal's file (default ``<data_dir>/events.sqlite``)."""
    from preserve.events.watch import watch as _watch

    return _watch(
        Path(rules),
        settings=_settings(settings),
        once=once,
        progress=progress,
        stop=stop,
        abandon=abandon,
        journal_path=Path(journal) if journal is not None else None,
    )


def events(
    state: str | None = None, *, settings: Settings | None = None, journal: PathLike | None = None
) -> list[dict[str, Any]]:
    """The journal's invocations (all, or those in ``state``: received, running,
    succeeded, failed, dead), oldest first."""
    from preserve.events.journal import opened

    with opened(_journal(settings, journal)) as found:
        return found.listing(state)


def event(
    key: str, *, settings: Settings | None = None, journal: PathLike | None = None
) -> dict[str, Any]:
    """One invocation of the journal (its key, or a unique prefix of 8+ characters):
    state, attempts, result, crate, and every event that was delivered for it."""
    from preserve.events.journal import opened

    with opened(_journal(settings, journal)) as found:
        return found.show(key)


def retry_event(
    key: str, *, settings: Settings | None = None, journal: PathLike | None = None
) -> str:
    """Run a failed or dead invocation again (at the watcher's next look); its full key."""
    from preserve.events.journal import opened

    with opened(_journal(settings, journal)) as found:
        return found.retry(key)


def _journal(settings: Settings | None, journal: PathLike | None) -> Path:
    from preserve.events.journal import database

    return Path(journal) if journal is not None else database(_settings(settings).data_dir)


def compare(
    a: PathLike,
    b: PathLike,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    report: PathLike | None = None,
    settings: Settings | None = None,
    progress: Progress = QUIET,
) -> RunComparison:
    """Compare the outputs of two crates (each a DOI, an OCI reference or a crate
    directory) without running anything: A's outputs are the reference.

    Verdicts, tolerances and report are those of :func:`rerun`; ``report`` also
    writes the HTML report there. Not reproduced *returns* (``reproduced`` False).
    """
    from preserve.compare_runs import compare_runs

    return compare_runs(
        str(a),
        str(b),
        settings=_settings(settings),
        rtol=rtol,
        atol=atol,
        report=Path(report) if report is not None else None,
        progress=progress,
    )
