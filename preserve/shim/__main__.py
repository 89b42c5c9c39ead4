"""The shim's command line: ``python3 -I -S shim.pyz [serve|oscar|run|probe]``.

``serve`` (the default) answers HTTP (:mod:`preserve.shim.server`). ``oscar``
runs one call the way OSCAR starts a job: the parameters (or a storage event)
in ``$EVENT``, else in the file ``$INPUT_FILE_PATH``; without an ``output_to``
the outputs and the crate go to ``$TMP_OUTPUT_DIR``, which OSCAR's supervisor
uploads. ``run --input NAME=URI ... [--output-to URI] [--config FILE]`` runs one
call from a plain command line (SLURM jobs); ``--parameters FILE`` reads the
document from a file. Each prints the result document on stdout and exits 0,
or 1 when the call failed. ``probe`` says whether this Python can run the shim.

Environment: ``PORT`` (8080), ``PRESERVE_SHIM_HOST`` (every address),
``PRESERVE_SHIM_HOME`` (``/opt/preserve-shim``), ``PRESERVE_SHIM_ROOT``
(``/preserve``), ``PRESERVE_TARGET``, ``PRESERVE_FUNCTION_IMAGE`` and
``PRESERVE_FUNCTION_IMAGE_ID`` (the function image, for the crate),
``PRESERVE_DATA_TOKEN`` and ``PRESERVE_DATA_TOKEN_HOSTS`` (storage credentials),
``PRESERVE_SHIM_SECRET_FILES`` (``NAME=PATH,...``: secrets the platform mounted as
files, read into the environment). ``run --calls FILE`` runs the calls of a JSON
Lines file one after the other (a SLURM task's share of a job array).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping

from preserve.shim.documents import FAILED, Parameters, ShimError, Trigger, parameters, parse_json
from preserve.shim.documents import invocation_id as new_id
from preserve.shim.http import Client
from preserve.shim.invoke import Context, call, load_spec

HOME = "/opt/preserve-shim"
MAX_SECRET = 64 << 10
# What the shim needs from the interpreter's standard library (ssl: https inputs).
NEEDED = (
    "ssl",
    "json",
    "hashlib",
    "zlib",
    "http.server",
    "urllib.request",
    "subprocess",
    "resource",
)


def secret_files(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the secrets the platform mounted as files read in:
    ``PRESERVE_SHIM_SECRET_FILES=NAME=PATH,...`` (OpenFaaS, Kubernetes secret volumes)."""
    out = dict(environ)
    for pair in environ.get("PRESERVE_SHIM_SECRET_FILES", "").split(","):
        name, sep, path = pair.strip().partition("=")
        if not sep or not name:
            continue
        try:
            with open(path, "rb") as fh:
                out[name] = fh.read(MAX_SECRET).decode("utf-8", "replace").strip()
        except OSError as exc:
            print(f"preserve-shim: secret {name} unreadable: {exc.strerror}", file=sys.stderr)
    return out


def context(environ: Mapping[str, str]) -> Context:
    environ = secret_files(environ)
    home = environ.get("PRESERVE_SHIM_HOME", HOME)
    spec = load_spec(os.path.join(home, "function", "function.json"))
    image = environ.get("PRESERVE_FUNCTION_IMAGE", "")
    name, _, digest = image.partition("@")
    head, _, last = name.rpartition("/")
    repository, _, tag = last.partition(":")
    name = f"{head}/{repository}" if head else repository
    first = name.split("/", 1)[0]
    registry = first if "/" in name and ("." in first or ":" in first) else None
    return Context(
        spec=spec,
        files=os.path.join(home, "function", "files"),
        root=environ.get("PRESERVE_SHIM_ROOT", "/preserve"),
        client=Client.from_environ(environ),
        environ=dict(environ),
        target=environ.get("PRESERVE_TARGET") or None,
        function_image={
            "id": environ.get("PRESERVE_FUNCTION_IMAGE_ID") or None,
            "name": name or None,
            "registry": registry,
            "tag": tag or None,
            "digest": digest or None,
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="preserve-shim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    sub.add_parser("serve")
    sub.add_parser("oscar")
    sub.add_parser("probe")
    run = sub.add_parser("run")
    run.add_argument("--input", action="append", default=[], metavar="NAME=URI")
    run.add_argument("--output-to", metavar="URI")
    run.add_argument("--config", metavar="FILE", help="JSON object of configuration overrides")
    run.add_argument("--parameters", metavar="FILE", help="the parameters document")
    run.add_argument("--invocation-id")
    run.add_argument(
        "--calls",
        metavar="FILE",
        help='many calls, one after the other: JSON Lines of {"invocation_id", "parameters"}; '
        "one result document per line",
    )
    args = parser.parse_args(argv)
    if args.mode == "probe":
        return probe()
    environ = dict(os.environ)
    try:
        ctx = context(environ)
    except (OSError, ValueError) as exc:
        print(f"preserve-shim: no function definition: {exc}", file=sys.stderr)
        return 2
    if args.mode in (None, "serve"):
        from preserve.shim.server import serve

        serve(ctx, environ.get("PRESERVE_SHIM_HOST", "0.0.0.0"), int(environ.get("PORT", "8080")))
        return 0
    if args.mode == "run" and args.calls:
        return run_calls(ctx, args.calls)
    try:
        if args.mode == "oscar":
            params, trigger = oscar(ctx, environ)
            invocation_id = new_id(environ.get("JOB_UUID"))
        else:
            params, trigger = command_line(ctx, args)
            invocation_id = new_id(args.invocation_id, environ.get("SLURM_JOB_ID"))
        result = call(ctx, params, invocation_id=invocation_id, trigger=trigger)
    except ShimError as exc:
        print(json.dumps({"status": FAILED, "error": exc.message, "hint": exc.hint}))
        return 1
    print(json.dumps(result))
    return 1 if result["status"] == FAILED else 0


def run_calls(ctx: Context, path: str) -> int:
    """Each call of a JSON Lines file in turn (a batch job's share of a job array): one
    result document per line on stdout, as soon as the call ends; 1 if any failed."""
    failed = False
    with open(path, "rb") as fh:
        lines = [line for line in fh.read(64 << 20).splitlines() if line.strip()]
    for line in lines:
        invocation_id = None
        try:
            entry = parse_json(line, "a line of " + path)
            if not isinstance(entry, dict):
                raise ShimError(f"a line of {path} is not a JSON object", status=400)
            invocation_id = new_id(entry.get("invocation_id"))
            params = parameters(entry.get("parameters"), ctx.spec)
            result = call(ctx, params, invocation_id=invocation_id, trigger=Trigger("command-line"))
        except ShimError as exc:
            result = {"status": FAILED, "error": exc.message, "hint": exc.hint}
            result["invocation_id"] = invocation_id
        failed = failed or result["status"] == FAILED
        print(json.dumps(result), flush=True)
    return 1 if failed else 0


def oscar(ctx: Context, environ: Mapping[str, str]) -> tuple[Parameters, Trigger]:
    """OSCAR's job: ``$EVENT``, or the event file faas-supervisor saved."""
    text = environ.get("EVENT", "").strip()
    if not text and environ.get("INPUT_FILE_PATH"):
        with open(environ["INPUT_FILE_PATH"], "rb") as fh:
            text = fh.read(1 << 20).decode("utf-8", "replace").strip()
    document = parse_json(text.encode(), "the OSCAR event")
    params = parameters(document, ctx.spec)
    kind = "storage-event" if isinstance(document, dict) and "inputs" not in document else "oscar"
    default = (ctx.spec.get("events") or {}).get("output_to")
    if params.output_to is None and environ.get("TMP_OUTPUT_DIR") and not default:
        folder = os.path.abspath(environ["TMP_OUTPUT_DIR"])
        params = Parameters(params.inputs, "file://" + folder + "/", params.config)
        ctx.client.file_roots = (*(ctx.client.file_roots or ()), folder)
    attrs = {"id": environ["JOB_UUID"]} if environ.get("JOB_UUID") else {}
    return params, Trigger(kind, attrs)


def command_line(ctx: Context, args: argparse.Namespace) -> tuple[Parameters, Trigger]:
    document: dict[str, Any] = {}
    if args.parameters:
        with open(args.parameters, "rb") as fh:
            document = parse_json(fh.read(), args.parameters)
    inputs = dict(document.get("inputs") or {})
    for pair in args.input:
        name, sep, uri = pair.partition("=")
        if not sep:
            raise ShimError(f"--input {pair!r} is not NAME=URI", status=400)
        inputs[name] = uri
    document["inputs"] = inputs
    if args.output_to:
        document["output_to"] = args.output_to
    if args.config:
        with open(args.config, "rb") as fh:
            document["config"] = parse_json(fh.read(), args.config)
    return parameters(document, ctx.spec), Trigger("command-line")


def probe() -> int:
    """Can this interpreter run the shim? JSON on stdout; exit 0 if so."""
    import importlib

    missing = []
    for module in NEEDED:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    version = list(sys.version_info[:3])
    ok = not missing and tuple(version) >= (3, 8)
    print(
        json.dumps({"ok": ok, "python": version, "executable": sys.executable, "missing": missing})
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
