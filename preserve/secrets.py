"""Credentials never enter a crate or a log, even when an analysis declares them.

A value is withheld when its *name* looks like a credential (TOKEN, SECRET,
PASSWORD, KEY, ...) or the *value* has a known token format (GitHub, GitLab,
AWS, Slack, JWT, PEM private keys, dCache macaroons). The crate records that a
value was withheld, never the value. Files are scrubbed of withheld values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

WITHHELD = "<withheld by preserve>"

_NAME = re.compile(
    r"(TOKEN|SECRET|PASSW(OR)?D|PASSPHRASE|(^|_)KEY($|_)|APIKEY|API_KEY|PRIVATE|CREDENTIAL|"
    r"AUTH|COOKIE|SESSION|MACAROON|BEARER)",
    re.IGNORECASE,
)
_VALUE = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|"
    r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|MDAx[A-Za-z0-9+/=_-]{40,})"
)


def is_secret(name: str, value: str | None) -> bool:
    """Whether a named value must be withheld."""
    if _NAME.search(name):
        return True
    return bool(value) and bool(_VALUE.search(value or ""))


def redact_config(path: Path) -> tuple[bytes, list[str], list[str]]:
    """The config file's bytes with credential-looking values withheld.

    Returns (content, withheld key paths, withheld values). JSON, YAML and TOML
    are parsed and rewritten only when something is withheld; other formats are
    scanned line by line for KEY=VALUE / KEY: VALUE pairs.
    """
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    data: Any = None
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
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
    if isinstance(node, str) and _VALUE.search(node):
        keys.append(where)
        values.append(node)
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


def scrub(data: bytes, secrets: Iterable[str]) -> tuple[bytes, int]:
    """Replace every occurrence of each secret value; returns (data, replacements)."""
    count = 0
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        needle = secret.encode()
        n = data.count(needle)
        if n:
            data = data.replace(needle, WITHHELD.encode())
            count += n
    return data, count
