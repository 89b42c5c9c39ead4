"""``preserve deploy``, ``invoke``, ``functions``, ``undeploy`` and ``logs``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from preserve.cli._context import AppContext
from preserve.cli._options import input_option, json_option
from preserve.cli._render import out_console, print_json, progress_for
from preserve.errors import ConfigError, InvocationFailed


@click.command()
@click.argument("published", metavar="DOI|REF")
@click.option(
    "--to",
    "to",
    default="local",
    show_default=True,
    metavar="TARGET",
    help="local, slurm, oscar+https://HOST, openwhisk+https://HOST/NS, openfaas+https://HOST, "
    "knative:DIR.",
)
@click.option("--name", help="Name of the function (default: the analysis' name).")
@click.option("--event-input", help="The input a raw storage event is bound to.")
@click.option("--event-base", metavar="URI", help="The folder storage event names are in.")
@click.option("--output-to", metavar="URI", help="Default output folder (one sub-folder per call).")
@json_option()
@click.pass_obj
def deploy(
    app: AppContext,
    published: str,
    to: str,
    name: str | None,
    event_input: str | None,
    event_base: str | None,
    output_to: str | None,
    as_json: bool,
) -> None:
    """Make a published analysis a function on TARGET (its image is never rebuilt)."""
    from preserve.functions.definition import EventBinding
    from preserve.functions.deploy import deploy as do_deploy

    result = do_deploy(
        published,
        to=to,
        settings=app.settings(),
        name=name,
        events=EventBinding(event_input, event_base, output_to),
        progress=progress_for(as_json),
    )
    if as_json:
        print_json(result.to_json())
        return
    d = result.deployment
    console = out_console()
    console.print(
        f"[green]deployed[/] {escape(d.name)} ({escape(d.function)}) on {escape(d.target)}"
    )
    console.print(f"image     {escape(d.image_ref)} ({d.image_digest})", highlight=False)
    console.print(f"base      {d.base_image_digest}", highlight=False)
    console.print(f"endpoint  {escape(d.endpoint_id)}", highlight=False)


def _config_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    if value is None:
        return None
    try:
        data = json.loads(value.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{value}: {exc}") from exc
    if not isinstance(data, dict):
        raise click.BadParameter(f"{value} is not a JSON object of configuration overrides")
    return data


def _batch_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    """JSON Lines: one parameters document per line (blank lines skipped)."""
    if value is None:
        return None
    documents = []
    try:
        lines = value.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{value}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            documents.append(json.loads(line))
        except ValueError as exc:
            raise click.BadParameter(f"{value}, line {number}: not JSON ({exc})") from exc
    if not documents:
        raise click.BadParameter(f"{value} holds no call")
    return documents


@click.command()
@click.argument("what", metavar="NAME|DOI|REF")
@click.option("--target", help="The target of the deployment to call (default: local).")
@input_option("New data for input NAME, by URI. Repeatable.")
@click.option(
    "--batch",
    "batch",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    callback=_batch_file,
    help='Many calls at once (one job array on SLURM): a JSON Lines file, one {"inputs": '
    '{NAME: URI}, "output_to": URI, "config": {...}} per line.',
)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    callback=_config_file,
    help="JSON file of overrides of the recorded configuration.",
)
@click.option("--output-to", metavar="URI", help="Folder for the outputs and the crate.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds.")
@json_option()
@click.pass_obj
def invoke(
    app: AppContext,
    what: str,
    target: str | None,
    inputs: dict[str, str],
    config: dict[str, Any] | None,
    output_to: str | None,
    timeout: float | None,
    as_json: bool,
    batch: list[Any] | None = None,
) -> None:
    """Run a function once on new data and wait for it (or many times: --batch)."""
    from preserve.functions.invoke import invoke as do_invoke

    if batch is not None:
        if inputs or config or output_to:
            raise click.UsageError("--batch gives every call's inputs, config and output_to")
        return _invoke_batch(app, what, batch, target, timeout, as_json)
    try:
        result = do_invoke(
            what,
            inputs=inputs,
            settings=app.settings(),
            config=config,
            output_to=output_to,
            target=target,
            timeout=timeout,
            progress=progress_for(as_json),
        )
    except InvocationFailed as exc:
        if as_json and isinstance(exc.result, dict):
            print_json(exc.result)
        raise
    if as_json:
        print_json(result)
        return
    console = out_console()
    word = "completed (answered from an earlier call)" if result.get("cached") else "completed"
    console.print(f"[green]{word}[/]: {escape(result['function'])} on {escape(result['target'])}")
    for path, out in result["outputs"].items():
        console.print(
            f"  {escape(path)}  {escape(out['uri'])}  sha256 {out['sha256']}", highlight=False
        )
    console.print(f"crate  {escape(str(result['crate']))}", highlight=False)
    console.print(f"key    {result['key']}", highlight=False)


def _invoke_batch(
    app: AppContext,
    what: str,
    documents: list[Any],
    target: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    from preserve.functions.invoke import invoke_batch

    results = invoke_batch(
        what,
        documents,
        settings=app.settings(),
        target=target,
        timeout=timeout,
        progress=progress_for(as_json),
    )
    failed = [r for r in results if r.get("status") != "completed"]
    if as_json:
        print_json(results)
    else:
        console = out_console()
        for r in results:
            word = "[green]completed[/]" if r.get("status") == "completed" else "[red]failed[/]"
            console.print(f"{word} {escape(str(r.get('crate')))}", highlight=False)
    if failed:
        raise InvocationFailed(
            f"{len(failed)} of {len(results)} calls failed; the first: {failed[0].get('error')}",
            hint="each failed call's crate records why",
            result=results,
        )


@click.command(name="functions")
@json_option()
@click.pass_obj
def functions_(app: AppContext, as_json: bool) -> None:
    """The deployed functions: name, DOI, target, image digest, state."""
    from preserve.functions.deploy import functions

    found = functions(app.settings())
    if as_json:
        print_json(found)
        return
    table = Table(title_justify="left")
    for col in ("name", "function", "target", "image digest", "state"):
        table.add_column(col)
    for f in found:
        digest = str(f["image_digest"] or "")
        table.add_row(
            *(
                escape(str(x))
                for x in (f["name"], f["function"], f["target"], digest[:19], f["state"])
            )
        )
    out_console().print(table)


@click.command()
@click.argument("name")
@json_option()
@click.pass_obj
def undeploy(app: AppContext, name: str, as_json: bool) -> None:
    """Remove a function from its target."""
    from preserve.functions.deploy import undeploy as do_undeploy

    d = do_undeploy(name, settings=app.settings())
    if as_json:
        print_json({"name": d.name, "function": d.function, "target": d.target, "state": "removed"})
        return
    out_console().print(f"undeployed {escape(d.name)} from {escape(d.target)}", highlight=False)


@click.command()
@click.argument("name")
@click.argument("invocation", required=False)
@json_option()
@click.pass_obj
def logs(app: AppContext, name: str, invocation: str | None, as_json: bool) -> None:
    """What the target kept of a function, or of one invocation."""
    from preserve.functions.deploy import logs as do_logs

    text = do_logs(name, invocation, settings=app.settings())
    if invocation and not text:
        raise ConfigError(
            f"the target kept no logs of invocation {invocation} of {name}",
            hint="see `preserve logs NAME` for everything it kept",
        )
    if as_json:
        print_json({"name": name, "invocation": invocation, "logs": text})
        return
    click.echo(text, nl=False)
