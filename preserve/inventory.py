"""The software inventory inside an image: OS, Debian, Python and conda packages.

Recorded as a file in the crate so a reader can see exactly what ran, even
without pulling the image. Cached by image ID: an image never changes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from preserve.crate.io import write_atomic
from preserve.errors import RunError
from preserve.progress import QUIET
from preserve.runners.base import Runner, RunSpec

SCRIPT = r"""
echo '### os'; cat /etc/os-release 2>/dev/null
echo '### dpkg'; dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n' 2>/dev/null
echo '### python'
for py in python3 python; do
  if command -v "$py" >/dev/null 2>&1; then
    "$py" -c 'import importlib.metadata as m, sys
print(sys.version.split()[0] + "\t" + sys.executable)
for d in sorted(m.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
    print((d.metadata["Name"] or "?") + "\t" + d.version)' 2>/dev/null && break
  fi
done
echo '### conda'
for c in conda mamba micromamba; do
  if command -v "$c" >/dev/null 2>&1; then "$c" list --export 2>/dev/null; break; fi
done
"""


def software_inventory(
    image_id: str, runnable: str, cache_dir: Path, runner: Runner
) -> dict[str, Any]:
    """Packages in ``image_id`` (``runnable`` as the runner names it); an image without
    /bin/sh yields an explanatory note."""
    cached = cache_dir / "inventory" / f"{image_id.replace(':', '-')}.json"
    if cached.is_file():
        data: dict[str, Any] = json.loads(cached.read_text())
        return data
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp, "out"), Path(tmp, "err")
        spec = RunSpec(image=runnable, command=("/bin/sh", "-c", SCRIPT), network=False)
        try:
            result = runner.run(spec, stdout=out, stderr=err, progress=QUIET)
            text = out.read_text(errors="replace") if result.exit_code == 0 else ""
        except RunError:
            text = ""
    inventory = parse_inventory(text, image_id)
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cached, json.dumps(inventory, indent=2))  # concurrent captures read it
    return inventory


def parse_inventory(text: str, image_id: str) -> dict[str, Any]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif current and line.strip():
            sections[current].append(line)
    os_release = dict(
        (k, v.strip('"')) for k, _, v in (ln.partition("=") for ln in sections.get("os", []))
    )
    python = sections.get("python", [])
    inventory: dict[str, Any] = {
        "image": image_id,
        "os": {k: os_release[k] for k in ("PRETTY_NAME", "ID", "VERSION_ID") if k in os_release},
        "dpkg": [
            dict(zip(("name", "version", "architecture"), ln.split("\t"), strict=False))
            for ln in sections.get("dpkg", [])
        ],
        "python": None,
        "conda": [ln for ln in sections.get("conda", []) if not ln.startswith("#")],
    }
    if python:
        version, _, exe = python[0].partition("\t")
        inventory["python"] = {
            "version": version,
            "executable": exe,
            "packages": [
                dict(zip(("name", "version"), ln.split("\t"), strict=False)) for ln in python[1:]
            ],
        }
    if not text:
        inventory["note"] = "no /bin/sh in the image (or it failed): inventory not available"
    return inventory
