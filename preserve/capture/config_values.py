"""A config file as the crate records it: values that look like credentials withheld.

JSON and YAML are parsed and rewritten (only when something is withheld, so a
clean file is kept byte for byte); other formats are scanned line by line for
``KEY=VALUE`` / ``KEY: VALUE`` pairs. What counts as a credential is
:mod:`preserve.secrets`' policy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from preserve.errors import ManifestError
from preserve.manifest import load_yaml
from preserve.secrets import WITHHELD, is_secret, looks_like_token, uri_secrets


def redact_config(path: Path) -> tuple[bytes, list[str], list[str]]:
    """The config file's bytes with credential-looking values withheld.

    Returns (content, withheld key paths, withheld values). JSON and YAML are
    parsed (YAML with the manifest's alias and size limits) and rewritten only
    when something is withheld; other formats are scanned line by line for
    KEY=VALUE / KEY: VALUE pairs.
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    data: Any = None
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = load_yaml(raw, source=str(path))
    except (ValueError, RecursionError, ManifestError):
        data = None
    if isinstance(data, dict | list):
        keys: list[str] = []
        values: list[str] = []
        cleaned = _walk(data, "", keys, values)
        if not keys:
            return raw, [], []
        if suffix == ".json":
            return (json.dumps(cleaned, indent=2) + "\n").encode(), keys, values
        return yaml.safe_dump(cleaned, sort_keys=False).encode(), keys, values
    return _redact_lines(text)


def _walk(node: Any, where: str, keys: list[str], values: list[str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            path = f"{where}.{k}" if where else str(k)
            if (
                isinstance(v, str | int | float)
                and not isinstance(v, bool)
                and is_secret(str(k), str(v))
            ):
                keys.append(path)
                values.append(str(v))
                out[k] = WITHHELD
            else:
                out[k] = _walk(v, path, keys, values)
        return out
    if isinstance(node, list):
        return [_walk(v, f"{where}[{i}]", keys, values) for i, v in enumerate(node)]
    if isinstance(node, str) and (looks_like_token(node) or uri_secrets(node)):
        keys.append(where)
        values.append(node)
        values.extend(uri_secrets(node))
        return WITHHELD
    return node


_PAIR = re.compile(r"^(\s*[\"']?)([A-Za-z_][\w.-]*)([\"']?\s*[:=]\s*)(.+?)\s*$")


def _redact_lines(text: str) -> tuple[bytes, list[str], list[str]]:
    keys: list[str] = []
    values: list[str] = []
    lines = []
    for line in text.splitlines(keepends=True):
        m = _PAIR.match(line.rstrip("\r\n"))
        if m and is_secret(m.group(2), m.group(4).strip("\"'")):
            keys.append(m.group(2))
            values.append(m.group(4).strip("\"'"))
            ending = line[len(line.rstrip("\r\n")) :]
            line = f'{m.group(1)}{m.group(2)}{m.group(3)}"{WITHHELD}"{ending}'
        lines.append(line)
    return "".join(lines).encode(), keys, values
