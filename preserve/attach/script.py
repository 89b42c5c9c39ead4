"""``rerun.sh``: the rerun without preserve, from the crate's recorded recipe.

Only ``docker`` or ``podman`` (``ENGINE=`` chooses), ``curl`` for remote inputs,
``unzip`` (or ``python3 -m zipfile``) for the crate, and ``sha256sum``. It pulls
the image by its pinned digest, verifies every input against its recorded
SHA-256, runs the recorded command with the recorded mounts, environment and
network policy, and checks the outputs with ``sha256sum -c`` against the
published checksums.

Everything here comes from a crate, which is untrusted: every value reaches the
script through :func:`shlex.quote`, and names, mount points and output paths
that could change the meaning of a ``--mount`` option or a checksum line are
refused.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from preserve.crate.model import OUTDIR_MOUNT
from preserve.crate.plan import PlannedInput, RerunPlan
from preserve.errors import CitationError
from preserve.oci.refs import OciRef
from preserve.runners.command import substitute

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]{1,1023}$")  # no comma, colon, space or quote
_SAFE_OUTPUT = re.compile(r"^[A-Za-z0-9._+-][A-Za-z0-9._/+-]{0,1023}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RerunScript:
    script: str
    inputs_sha256: str  # sha256sum lines, relative to the work folder
    outputs_sha256: str  # sha256sum lines, relative to the outputs folder


def _refuse(what: str) -> CitationError:
    return CitationError(
        f"the crate records {what}, which rerun.sh cannot name safely",
        hint="the crate was not written by preserve or was tampered with; "
        "`preserve rerun DOI` still checks it",
    )


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value) or ".." in PurePosixPath(value).parts:
        raise _refuse(f"{what} {value!r}")
    return value


def _fetch_url(uri: str) -> str | None:
    """The URL curl fetches for an input URI (WebDAV doors serve GET), else None."""
    scheme, sep, rest = uri.partition("://")
    scheme = {"dav": "http", "davs": "https"}.get(scheme.lower(), scheme.lower())
    return f"{scheme}{sep}{rest}" if sep and scheme in ("http", "https") else None


def _host_name(item: PlannedInput) -> str:
    """Where an input lies in the work folder: ``inputs/NAME/BASENAME``."""
    name = _checked(_SAFE_NAME, item.name, "an input named")
    base = PurePosixPath(urlsplit(item.entity_id).path).name if item.remote else ""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base or PurePosixPath(item.mount).name or "data")
    return f"inputs/{name}/{base.lstrip('.') or 'data'}"


def _fetch_step(item: PlannedInput, host: str) -> list[str]:
    q = shlex.quote
    if not item.remote:  # in the crate: copied out of the unpacked zip
        source = q("crate/" + item.entity_id)
        return [f"mkdir -p {q(str(PurePosixPath(host).parent))}", f"cp -R {source} {q(host)}"]
    url = _fetch_url(item.entity_id)
    if url is None or item.is_dir:
        return [
            f"if [ ! -e {q(host)} ]; then",
            f"  echo {q(f'error: copy the input {item.name} ({item.entity_id}) to')} "
            f'"$work/"{q(host)} >&2',
            "  exit 1",
            "fi",
        ]
    return [
        f"mkdir -p {q(str(PurePosixPath(host).parent))}",
        f"[ -f {q(host)} ] || curl -fsSL --retry 3 -o {q(host)} {q(url)}",
    ]


def build(plan: RerunPlan, image: OciRef, crate_zip: str) -> RerunScript:
    """The script and its two checksum lists for ``plan``, pulling ``image``."""
    q = shlex.quote
    spec = plan.spec
    mounts: list[tuple[str, str]] = []  # (host path in the work folder, container path)
    values: dict[str, str] = {"outdir": OUTDIR_MOUNT}
    fetch: list[str] = []
    sums: list[str] = []
    for item in plan.inputs:
        host = _host_name(item)
        mount = _checked(_SAFE_PATH, item.mount, "the mount point")
        fetch += _fetch_step(item, host)
        if item.sha256 and _SHA256.match(item.sha256) and not item.is_dir:
            sums.append(f"{item.sha256}  {host}")
        mounts.append((host, mount))
        values[f"inputs.{item.name}"] = mount
    config = spec.get("config")
    if config:
        mount = _checked(_SAFE_PATH, str(config["mount"]), "the configuration mount")
        entity = _checked(_SAFE_OUTPUT, str(config["entity"]), "the configuration file")
        mounts.append(("crate/" + entity, mount))
        values["config"] = mount
    command = substitute(tuple(spec["command"]), values)
    outputs = []
    for out in plan.outputs:
        path = _checked(_SAFE_OUTPUT, out.path, "an output path")
        if not (out.sha256 and _SHA256.match(out.sha256)):
            raise _refuse(f"no SHA-256 for the output {out.path!r}")
        outputs.append(f"{out.sha256}  {path}")
    run = ['"$engine" run --rm' + ("" if spec.get("network") else " --network none")]
    run.append("--security-opt no-new-privileges --cap-drop ALL")
    for host, target in mounts:
        src = f'"$work"/{q(host)}'
        run.append(f"--mount type=bind,src={src},dst={q(target)},readonly")
    run.append(f'--mount type=bind,src="$work"/outputs,dst={q(OUTDIR_MOUNT)}')
    for item in spec.get("env") or []:
        name = _checked(re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"), str(item["name"]), "env")
        if item.get("withheld"):
            fetch.append(f': "${{{name}:?{name} was withheld from the crate: set it to rerun}}"')
            run.append(f"--env {name}")
        elif item.get("value") is not None:
            run.append("--env " + q(f"{name}={item['value']}"))
    resources = spec.get("resources") or {}
    if resources.get("memory"):
        run.append(f"--memory {q(str(resources['memory']))}")
    if resources.get("cpus"):
        run.append(f"--cpus {q(str(resources['cpus']))}")
    if spec.get("workdir"):
        run.append(f"--workdir {q(str(spec['workdir']))}")
    run.append('"$image"')
    run.append(" ".join(q(arg) for arg in command))
    script = TEMPLATE.format(
        title=_comment(plan.view.root.name or "the analysis"),
        doi=_comment(plan.doi or "(no DOI)"),
        image=q(str(image)),
        crate_zip=q(crate_zip),
        fetch="\n".join(fetch) or ":",
        run=" \\\n  ".join(run),
    )
    return RerunScript(script, "".join(s + "\n" for s in sums), "".join(o + "\n" for o in outputs))


def _comment(text: str) -> str:
    return " ".join(text.split())[:200]


TEMPLATE = """\
#!/bin/sh
# Rerun "{title}" (DOI {doi}) without preserve.
# Needs docker or podman (ENGINE=podman to choose), curl, unzip or python3, sha256sum.
# Usage: sh rerun.sh [WORK_DIR]    (default: ./rerun-work beside this script)
# Exit status 0: every output matches its published SHA-256.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${{1:-"$here/rerun-work"}}
image={image}
engine=${{ENGINE:-}}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null 2>&1; then engine=podman
  else echo "error: neither docker nor podman is installed" >&2; exit 1; fi
fi
mkdir -p "$work" && cd "$work" && work=$(pwd)

echo "1/5 unpacking the crate"
rm -rf crate outputs && mkdir crate
if command -v unzip >/dev/null 2>&1; then unzip -q "$here"/{crate_zip} -d crate
else python3 -m zipfile -e "$here"/{crate_zip} crate; fi

echo "2/5 fetching the inputs and verifying their SHA-256"
{fetch}
if [ -s "$here/inputs.sha256" ]; then sha256sum -c "$here/inputs.sha256"; fi

echo "3/5 pulling the image by its digest"
"$engine" pull "$image"

echo "4/5 running the recorded command"
mkdir outputs && chmod 777 outputs
{run}

echo "5/5 verifying the outputs against the published SHA-256"
cd outputs && sha256sum -c "$here/outputs.sha256"
echo "reproduced: every output matches its published checksum"
"""
