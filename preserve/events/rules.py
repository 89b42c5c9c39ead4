"""Rules (``RULES.yaml``): which storage events run which function, checked when they load.

The file is validated against ``schemas/rules.schema.json``; an error names the
file, the rule and the key (``rules.yaml: rule 'integrate': at on.path: ...``).
Then what a schema cannot say: names are unique, globs compile, an output
template uses only placeholders it can fill, and no rule can trigger itself
through its outputs, alone or in a cycle with others (:func:`check_loops`).
Chains deeper than ``max_depth`` are refused at run time (events only say what
happened, so a loop through another system is caught there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import yaml

from preserve.errors import ConfigError
from preserve.events.globs import DEEP, STAR, Glob, compile_glob, intersect
from preserve.schemas import validator

MAX_RULES_FILE = 1 << 20
DATA_COMPLETE = ("IN_CLOSE_WRITE", "IN_MOVED_TO")
# Events on a file that a function can run on (IN_CREATE sees an empty file).
FILE_EVENTS = frozenset(("IN_CLOSE_WRITE", "IN_MOVED_TO", "IN_ATTRIB"))
BUILTIN_PLACEHOLDERS = frozenset(("stem", "name", "suffix", "dir", "path", "rule", "key"))
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
OUTPUT_SCHEMES = ("davs", "dav", "https", "http", "file")


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: ``on:`` is a key, not ``True`` (YAML 1.1 reads on/off/yes/no)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Rule:
    name: str
    source: str  # as written: dcache+https://..., file:///..., cloudevents+http://...
    glob: Glob
    events: frozenset[str] | None  # None: any type (CloudEvents without a list)
    settle: float
    function: str
    target: str | None = None
    input: str | None = None
    outputs: str | None = None  # a URI template
    config: Mapping[str, Any] = field(default_factory=dict)
    max_concurrency: int = 4
    retries: int = 3
    timeout: float | None = None

    @property
    def kind(self) -> str:
        """The source plug-in: dcache, file or cloudevents."""
        return source_kind(self.source)

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events

    def output_folder(self, path: str, parts: Mapping[str, str], key: str) -> str | None:
        """The rendered output folder of one input, or None (the function's default)."""
        if self.outputs is None:
            return None
        pure = PurePosixPath(path)
        values = {
            **parts,
            "stem": pure.stem,
            "name": pure.name,
            "suffix": pure.suffix,
            "dir": str(pure.parent).lstrip("/"),
            "path": path.lstrip("/"),
            "rule": self.name,
            "key": key[:16],
        }
        rendered = _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe="/"), self.outputs)
        if ".." in urlsplit(rendered).path.split("/"):
            raise ConfigError(f"rule {self.name!r}: the output folder of {path} has '..' in it")
        return rendered if rendered.endswith("/") else rendered + "/"


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    max_depth: int = 5
    path: Path | None = None

    def named(self, name: str) -> Rule:
        return next(r for r in self.rules if r.name == name)

    @property
    def sources(self) -> list[str]:
        return sorted({r.source for r in self.rules})


def source_kind(source: str) -> str:
    return source.split("+", 1)[0] if "+" in source.split("://", 1)[0] else source.split(":")[0]


def load(path: Path) -> Rules:
    """Read, validate and compile ``path``; ConfigError naming the rule and the key."""
    try:
        if path.stat().st_size > MAX_RULES_FILE:
            raise ConfigError(f"{path}: a rules file is at most 1 MiB")
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except OSError as exc:
        raise ConfigError(f"cannot read the rules file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not YAML: {exc}", hint="check its indentation") from exc
    return parse(document, path)


def parse(document: Any, where: Path | None = None) -> Rules:
    """Rules from a parsed document (what :func:`load` does after reading the file)."""
    label = str(where) if where is not None else "rules"
    errors = sorted(validator("rules").iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise ConfigError(f"{label}: {_describe(errors[0], document)}", hint=_SCHEMA_HINT)
    rules, seen = [], set()
    for item in document["rules"]:
        name = item["name"]
        if name in seen:
            raise ConfigError(f"{label}: rule {name!r}: the name is used twice", hint=_SCHEMA_HINT)
        seen.add(name)
        rules.append(_rule(item, f"{label}: rule {name!r}"))
    return Rules(tuple(rules), int(document.get("max_depth", 5)), where)


_SCHEMA_HINT = "see schemas/rules.schema.json and the README's section on rules"


def _describe(error: Any, document: Any) -> str:
    """``rule 'NAME': at on.path: MESSAGE`` for a schema error."""
    path = list(error.path)
    prefix = ""
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        item = document["rules"][path[1]]
        name = item.get("name") if isinstance(item, dict) else None
        prefix = f"rule {name!r}: " if isinstance(name, str) else f"rule {path[1] + 1}: "
        path = path[2:]
    key = ".".join(str(p) for p in path)
    message = error.message
    if error.validator == "additionalProperties":
        message = message.replace("Additional properties are not allowed", "unknown key")
    return f"{prefix}at {key}: {message}" if key else f"{prefix}{message}"


def _rule(item: Mapping[str, Any], label: str) -> Rule:
    on, run = item["on"], item["run"]
    source = str(on["source"]).rstrip("/")
    kind = source_kind(source)
    text = str(on["path"])
    if kind == "file" and not text.startswith("/"):
        text = f"{urlsplit(source).path.rstrip('/')}/{text}"
    if kind != "cloudevents" and not text.startswith("/"):
        raise ConfigError(f"{label}: at on.path: a dCache path starts with /", hint=_SCHEMA_HINT)
    try:
        glob = compile_glob(text)
    except ValueError as exc:
        raise ConfigError(f"{label}: at on.path: {exc}", hint=_SCHEMA_HINT) from exc
    events = _events(on.get("events"), kind, label)
    outputs = run.get("outputs")
    if outputs is not None:
        _check_template(outputs, glob, label)
    return Rule(
        name=item["name"],
        source=source,
        glob=glob,
        events=events,
        settle=seconds(on.get("settle", 0)),
        function=run["function"],
        target=run.get("target"),
        input=run.get("input"),
        outputs=outputs,
        config=dict(run.get("config") or {}),
        max_concurrency=int(run.get("max_concurrency", 4)),
        retries=int(run.get("retries", 3)),
        timeout=seconds(run["timeout"]) if "timeout" in run else None,
    )


def _events(given: Sequence[str] | None, kind: str, label: str) -> frozenset[str] | None:
    if given is None:
        return None if kind == "cloudevents" else frozenset(DATA_COMPLETE)
    if kind != "cloudevents":
        wrong = sorted(set(given) - FILE_EVENTS)
        if wrong:
            raise ConfigError(
                f"{label}: at on.events: {', '.join(wrong)} cannot start a function",
                hint="use IN_CLOSE_WRITE (data complete), IN_MOVED_TO (renamed into place) "
                "or IN_ATTRIB; IN_CREATE arrives while the file is still empty",
            )
    return frozenset(given)


def _check_template(template: str, glob: Glob, label: str) -> None:
    scheme = urlsplit(template).scheme.lower()
    if scheme not in OUTPUT_SCHEMES:
        raise ConfigError(
            f"{label}: at run.outputs: {scheme or 'no'} scheme; "
            f"outputs go to {', '.join(s + '://' for s in OUTPUT_SCHEMES)}",
            hint=_SCHEMA_HINT,
        )
    known = BUILTIN_PLACEHOLDERS | set(glob.names)
    for name in _PLACEHOLDER.findall(template):
        if name not in known:
            raise ConfigError(
                f"{label}: at run.outputs: unknown placeholder {{{name}}}",
                hint=f"known: {', '.join('{' + k + '}' for k in sorted(known))}; "
                "name a part of on.path as {NAME} to use it",
            )


def seconds(value: float | str) -> float:
    """``2s``, ``500ms``, ``5m``, ``1h`` or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    number = re.match(r"^([0-9.]+)(ms|s|m|h)$", value)
    assert number is not None  # the schema's pattern
    return float(number.group(1)) * _UNITS[number.group(2)]


# -- loops -----------------------------------------------------------------------------


def check_loops(rules: Rules, watched_uri: Callable[[Rule], str]) -> None:
    """Refuse rules whose outputs can trigger themselves, directly or through others.

    ``watched_uri(rule)`` is the URI glob of what a rule watches (its source maps a
    path to the URI a function is given)."""
    watched = {r.name: _uri_segments(watched_uri(r)) for r in rules.rules}
    edges: dict[str, list[str]] = {r.name: [] for r in rules.rules}
    for a in rules.rules:
        if a.outputs is None:
            continue
        out = (*_uri_segments(_template_glob(a.outputs)), DEEP)
        for b in rules.rules:
            if intersect(out, watched[b.name]):
                if a.name == b.name:
                    raise ConfigError(
                        f"rule {a.name!r} matches its own outputs: {a.outputs} "
                        f"can hold files that {a.glob.text} matches",
                        hint="write the outputs where on.path does not look, or narrow on.path",
                    )
                edges[a.name].append(b.name)
    cycle = _cycle(edges)
    if cycle:
        raise ConfigError(
            f"rules {' -> '.join(repr(n) for n in cycle)} form a loop: each one's outputs "
            "trigger the next",
            hint="break the chain: one of them must write where none of the others looks",
        )


def _template_glob(template: str) -> str:
    """An output template as a glob: one-name placeholders ``*``, {dir} and {path} ``**``."""

    def sub(match: re.Match[str]) -> str:
        return "\0" if match.group(1) in ("dir", "path") else STAR

    text = _PLACEHOLDER.sub(sub, template)
    parts = [DEEP if "\0" in p else p for p in text.split("/")]
    return "/".join(parts)


_WEB = ("http", "https", "dav", "davs")  # one door may speak all four: one storage


def _uri_segments(uri: str) -> tuple[str, ...]:
    """``scheme://host`` then the path's segments; the web's schemes are one."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return tuple(p for p in uri.split("/") if p)
    scheme = "web" if scheme.lower() in _WEB else scheme.lower()
    host, _, path = rest.partition("/")
    return (f"{scheme}://{host.lower()}", *(p for p in path.split("/") if p))


def _cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """One cycle of the graph as a list of names (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
