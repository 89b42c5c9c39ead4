"""Hostile crates: a genuine crate, edited the way an attacker would edit it.

The base analysis reads a local input and a config and writes one output, so
each part a crate names (inputs, config, outputs, environment, network, limits,
mounts, command) can be turned against the reader's machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import git_commit_all

SCRIPT = """
import json, os, sys
data, config, out = sys.argv[1:4]
factor = json.load(open(config))["factor"]
size = len(open(data).read()) * factor
open(os.path.join(out, "result.txt"), "w").write(f"{size} {os.environ.get('MODE')}\\n")
"""

HOST_FILE = Path("/etc/hostname")  # a file of the reader's machine no crate may reach


def make_base(root: Path) -> Path:
    analysis = root / "hostile-base"
    analysis.mkdir()
    (analysis / "run.py").write_text(SCRIPT)
    (analysis / "config.json").write_text('{"factor": 3}\n')
    (analysis / "data.txt").write_text("hello\n")
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n")
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent("""\
        name: hostile-base
        title: Base of the hostile crates
        license: MIT
        authors: [{name: Test Author, affiliation: {name: Test Lab}}]
        command: [python3, /app/run.py, "{inputs.data}", "{config}", "{outdir}"]
        config: config.json
        inputs:
          data: {path: data.txt}
        env: [MODE=fast]
        outputs: [result.txt]
        """)
    )
    git_commit_all(analysis)
    return analysis


def edit(crate: Path, name: str, change: Callable[[Any], None]) -> None:
    path = crate / name
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2))


def spec(crate: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the recipe, and re-pin it in the JSON-LD as an attacker would."""
    edit(crate, "preserve-run.json", change)
    data = (crate / "preserve-run.json").read_bytes()

    def pin(document: Any) -> None:
        for entity in document["@graph"]:
            if entity["@id"] == "preserve-run.json":
                entity.update(sha256=hashlib.sha256(data).hexdigest(), contentSize=str(len(data)))

    edit(crate, "ro-crate-metadata.json", pin)


def add_entity(crate: Path, entity: dict[str, Any]) -> None:
    edit(crate, "ro-crate-metadata.json", lambda d: d["@graph"].append(entity))


def input_entity(crate: Path, entity_id: str, *, remote: bool, **props: Any) -> None:
    """Point input 'data' at ``entity_id``, described as a File with ``props``."""
    add_entity(crate, {"@id": entity_id, "@type": "File", **props})
    spec(crate, lambda s: s["inputs"]["data"].update(entity=entity_id, remote=remote))


def host_sha256() -> str:
    return hashlib.sha256(HOST_FILE.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Case:
    """One hostile edit, what the refusal must say, and whether it survives a push."""

    name: str
    mutate: Callable[[Path], None]
    says: tuple[str, ...]
    publishable: bool = True
    env: dict[str, str] = field(default_factory=dict)  # the reader's environment


def _symlink(crate: Path, rel: str, target: Path) -> None:
    (crate / rel).unlink(missing_ok=True)
    os.symlink(target, crate / rel)


CASES = [
    Case(
        "input-absolute-path",
        lambda c: input_entity(c, "/run/", remote=False),
        ("the crate names '/run/'", "not a path inside the crate"),
    ),
    Case(
        "input-dotdot-path",
        lambda c: input_entity(c, "analysis/../../../../../etc/hostname", remote=False),
        ("'analysis/../../../../../etc/hostname'", "not a path inside the crate"),
    ),
    Case(
        "config-absolute-path",
        lambda c: (
            add_entity(c, {"@id": "/etc/passwd", "@type": "File"}),
            spec(c, lambda s: s["config"].update(entity="/etc/passwd")),
        ),
        ("'/etc/passwd'", "not a path inside the crate"),
    ),
    Case(
        "config-missing-from-graph",
        lambda c: spec(c, lambda s: s["config"].update(entity="analysis/other.json")),
        ("analysis/other.json as the configuration", "the crate does not describe"),
    ),
    Case(
        "file-uri-input-without-checksum",
        lambda c: input_entity(c, f"file://{HOST_FILE}", remote=True),
        ("input 'data'", "has no recorded checksum", "--allow-unverified-input data"),
    ),
    Case(
        "file-uri-input-with-checksum",
        lambda c: input_entity(
            c, f"file://{HOST_FILE}", remote=True, sha256=host_sha256(), contentSize=1
        ),
        ("input 'data'", "never reads a file a crate names from this machine"),
    ),
    Case(
        "withheld-env-pulls-reader-variable",
        lambda c: spec(c, lambda s: s["env"].append({"name": "HOME_SECRET", "withheld": True})),
        ("HOME_SECRET was withheld", "--env HOME_SECRET"),
        env={"HOME_SECRET": "reader-s3cret-value"},
    ),
    Case(
        "network-without-asking",
        lambda c: spec(c, lambda s: s.update(network=True)),
        ("asks for network access", "--allow-network"),
    ),
    Case(
        "output-escapes-folder",
        lambda c: spec(c, lambda s: s.update(outputs=["../../../../../etc/hostname"])),
        ("'outputs/../../../../../etc/hostname'", "not a path inside the crate"),
    ),
    Case(
        "carried-file-escapes",
        lambda c: add_entity(c, {"@id": "environment/../../../../etc/hostname", "@type": "File"}),
        ("'environment/../../../../etc/hostname'", "not a path inside the crate"),
    ),
    Case(
        "mount-over-host-path",
        lambda c: spec(c, lambda s: s["inputs"]["data"].update(mount="/var/run/docker.sock")),
        ("input 'data' is to be mounted at '/var/run/docker.sock'",),
    ),
    Case(
        "negative-memory-limit",
        lambda c: spec(c, lambda s: s["resources"].update(memory="-1g")),
        ("memory limit '-1g'",),
    ),
    Case(
        "input-symlink-to-host",
        lambda c: _symlink(c, "analysis/data.txt", HOST_FILE),
        ("data.txt is a symbolic link to /etc/hostname", "outside"),
        publishable=False,  # push reads links through: a pulled crate holds files only
    ),
    Case(
        "output-symlink-to-host",
        lambda c: _symlink(c, "outputs/result.txt", HOST_FILE),
        ("result.txt is a symbolic link to /etc/hostname",),
        publishable=False,
    ),
    Case(
        "fifo-in-crate",
        lambda c: os.mkfifo(c / "analysis" / "pipe"),
        ("pipe is not a regular file or folder",),
        publishable=False,
    ),
]
