"""The analysis manifest, ``preserve.yaml``: read, validate, turn into a domain object.

The wire format is checked against ``schemas/manifest.schema.json``; every error
names the file, the key path and what was expected. Checks the schema cannot
express (placeholders, files that must exist, credentials written into the
manifest) follow.

YAML is untrusted input (a crate's copy of the manifest comes from someone
else): it is read with a size limit, a nesting limit and a limit on what its
aliases expand to, so a few hundred bytes cannot take gigabytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from jsonschema import ValidationError

from preserve.errors import CrateError, ManifestError
from preserve.schemas import validator
from preserve.secrets import command_secrets, is_secret, looks_like_token, uri_secrets

FILENAME = "preserve.yaml"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# A manifest is a page of text; 1 MiB is far beyond any real one.
MAX_MANIFEST_BYTES = 1 << 20
# Nodes after alias expansion, and nesting depth: generous for real documents,
# small enough that a "billion laughs" is refused before anything walks it.
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64


@dataclass(frozen=True)
class Affiliation:
    name: str
    ror: str | None = None


@dataclass(frozen=True)
class Author:
    name: str
    orcid: str | None = None  # bare form 0000-0002-1825-0097
    affiliation: Affiliation | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class InputSpec:
    name: str
    uri: str | None = None
    path: str | None = None  # relative to the analysis directory
    sha256: str | None = None
    doi: str | None = None
    description: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.uri is not None


@dataclass(frozen=True)
class EnvSpec:
    name: str
    value: str | None = None  # fixed in the manifest; None = passed through from the caller


@dataclass(frozen=True)
class Funding:
    funder: str
    funder_ror: str | None = None
    award: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    command: tuple[str, ...]
    outputs: tuple[str, ...]
    description: str | None = None
    version: str | None = None
    license: str | None = None
    url: str | None = None
    authors: tuple[Author, ...] = ()
    keywords: tuple[str, ...] = ()
    builder: str = "repo2docker"
    image: str | None = None
    base_image: str | None = None
    platform: str | None = None
    workdir: str | None = None
    config: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    env: tuple[EnvSpec, ...] = ()
    network: bool = False
    memory: str | None = None
    cpus: float | None = None
    timeout: float | None = None
    rtol: float | None = None
    atol: float | None = None
    supplement_to: tuple[str, ...] = ()
    cites: tuple[str, ...] = ()
    funding: tuple[Funding, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)


def load_manifest(directory: Path) -> Manifest:
    """Read and check ``DIRECTORY/preserve.yaml`` for a capture."""
    path = directory / FILENAME
    if not path.is_file():
        raise ManifestError(
            f"no {FILENAME} in {directory}",
            hint=f"create {path} describing the analysis (see README, 'The analysis manifest')",
        )
    manifest = read_manifest(path)
    check_secrets(manifest, source=str(path))
    check_files(manifest, directory, source=str(path))
    return manifest


def read_manifest(path: Path) -> Manifest:
    """Read and validate a manifest file, bounded."""
    from preserve.crate.read import read_bounded  # the one bounded reader (crates use it)

    try:
        data = read_bounded(path, MAX_MANIFEST_BYTES)
    except CrateError as exc:
        raise ManifestError(
            exc.message, hint="a manifest describes an analysis; data belongs in inputs"
        ) from None
    return parse_manifest(data, source=str(path))


# libyaml's parser where PyYAML has it (about 30 times faster, and it caps nesting itself).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _BoundedLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader with a nesting limit and a limit on alias expansion."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels")
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


class _YamlLimit(Exception):
    pass


def _check_expansion(root: yaml.Node) -> None:
    """Count the nodes a document expands to (aliases repeat their anchor's subtree) and
    how deep it nests, without recursion, before anything is constructed from it."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (nodes, height)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            below = [sizes[id(c)] for c in children]
            size = 1 + sum(n for n, _ in below)
            height = 1 + max((h for _, h in below), default=0)
            if size > MAX_YAML_NODES:
                raise _YamlLimit(f"its aliases expand to more than {MAX_YAML_NODES} nodes")
            if height > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels")
            sizes[key] = (size, height)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _YamlLimit("an alias refers to a node that contains it (a recursive structure)")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml(data: str | bytes, *, source: str) -> Any:
    """Parse untrusted YAML with the limits above; every failure is a :class:`ManifestError`."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                hint="save the file as UTF-8",
            ) from None
    try:
        return yaml.load(data, Loader=_BoundedLoader)
    except _YamlLimit as exc:
        raise ManifestError(
            f"{source}: refused: {exc}", hint="write the values out instead of nesting aliases"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ManifestError(
            f"{source}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}",
            hint="check indentation and quoting",
        ) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. a timestamp such as 2024-02-30 that PyYAML turns into a date
        raise ManifestError(
            f"{source}: a value cannot be read: {exc}", hint="quote it to make it a string"
        ) from None


def parse_manifest(text: str | bytes, *, source: str = FILENAME) -> Manifest:
    data = load_yaml(text, source=source)
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a mapping of keys (name, title, command, ...)")
    errors = sorted(validator("manifest").iter_errors(data), key=_error_depth)
    if errors:
        raise ManifestError(f"{source}: {describe_error(errors[0])}", hint=_hint(errors[0]))
    manifest = _from_data(data)
    check_placeholders(manifest, source)
    return manifest


def _error_depth(error: ValidationError) -> tuple[int, str]:
    # The deepest error is the most specific one.
    return (-len(error.absolute_path), error.message)


def describe_error(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "required":
        return f"at {path}: {error.message}"
    if error.validator == "additionalProperties":
        return f"at {path}: unknown key ({error.message})"
    if error.validator == "oneOf" and isinstance(error.instance, dict):
        return f"at {path}: give exactly one of 'uri' or 'path'"
    if error.validator == "pattern":
        desc = error.schema.get("description") if isinstance(error.schema, dict) else None
        expected = desc or f"a value matching {error.validator_value}"
        return f"at {path}: {error.instance!r} is not valid; expected {expected}"
    return f"at {path}: {error.message}"


def _hint(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "check the spelling of the key; the schema is schemas/manifest.schema.json"
    return "see schemas/manifest.schema.json for the keys and their meaning"


def _from_data(data: dict[str, Any]) -> Manifest:
    env = data.get("environment") or {}
    resources = data.get("resources") or {}
    tolerance = data.get("tolerance") or {}
    related = data.get("related") or {}
    return Manifest(
        name=data["name"],
        title=data["title"],
        command=tuple(data["command"]),
        outputs=tuple(data["outputs"]),
        description=data.get("description"),
        version=data.get("version"),
        license=data.get("license"),
        url=data.get("url"),
        authors=tuple(_author(a) for a in data.get("authors") or ()),
        keywords=tuple(data.get("keywords") or ()),
        builder=env.get("builder", "repo2docker"),
        image=env.get("image"),
        base_image=env.get("base_image"),
        platform=env.get("platform"),
        workdir=data.get("workdir"),
        config=data.get("config"),
        inputs=tuple(InputSpec(name=k, **v) for k, v in (data.get("inputs") or {}).items()),
        env=tuple(_env(e) for e in data.get("env") or ()),
        network=bool(data.get("network", False)),
        memory=resources.get("memory"),
        cpus=resources.get("cpus"),
        timeout=resources.get("timeout"),
        rtol=tolerance.get("rtol"),
        atol=tolerance.get("atol"),
        supplement_to=tuple(related.get("supplement_to") or ()),
        cites=tuple(related.get("cites") or ()),
        funding=tuple(Funding(**f) for f in data.get("funding") or ()),
        raw=data,
    )


def _author(data: dict[str, Any]) -> Author:
    aff = data.get("affiliation")
    orcid = data.get("orcid")
    return Author(
        name=data["name"],
        orcid=orcid.rsplit("/", 1)[-1] if orcid else None,
        affiliation=Affiliation(**aff) if aff else None,
        given_name=data.get("given_name"),
        family_name=data.get("family_name"),
        email=data.get("email"),
    )


def _env(text: str) -> EnvSpec:
    name, sep, value = text.partition("=")
    return EnvSpec(name=name, value=value if sep else None)


def check_placeholders(manifest: Manifest, source: str) -> None:
    for index, arg in enumerate(manifest.command):
        for key in PLACEHOLDER.findall(arg):
            where = f"at command.{index}"
            if key == "outdir":
                continue
            if key == "config":
                if manifest.config is None:
                    raise ManifestError(
                        f"{source}: {where}: {{config}} is used but no 'config' file is declared",
                        hint="add `config: FILE` or remove the placeholder",
                    )
                continue
            if key.startswith("inputs."):
                name = key.removeprefix("inputs.")
                if manifest.input(name) is None:
                    declared = ", ".join(i.name for i in manifest.inputs) or "none"
                    raise ManifestError(
                        f"{source}: {where}: {{{key}}} names no declared input "
                        f"(declared: {declared})",
                        hint="declare it under 'inputs' or fix the name",
                    )
                continue
            raise ManifestError(
                f"{source}: {where}: unknown placeholder {{{key}}}",
                hint="placeholders are {inputs.NAME}, {config} and {outdir}",
            )
    for index, out in enumerate(manifest.outputs):
        if not _safe_relative(out):
            raise ManifestError(
                f"{source}: at outputs.{index}: {out!r} must be a relative path inside {{outdir}}",
                hint="remove leading '/' and '..' segments",
            )


def check_secrets(manifest: Manifest, source: str) -> None:
    """Refuse credentials written into the manifest, except in input URIs (redacted).

    The manifest is copied into the crate and, with the analysis directory, into
    the image; a credential written in it would be published. A command line
    refers to an environment variable instead (``$TOKEN``), which preserve
    passes to the run and withholds from the crate.
    """
    found = next(iter(command_secrets(manifest.command)), None)
    if found is not None:
        raise ManifestError(
            f"{source}: at command.{found.index}: the command line contains a credential "
            f"({found.what}); it would be published with the crate",
            hint=f"use `${found.env_name}` in the command and `env: [{found.env_name}]`, "
            f"then set {found.env_name} when you run capture: the run gets the value, "
            "the crate records only that it was withheld",
        )
    for spec in manifest.env:
        if spec.value is not None and is_secret(spec.name, spec.value):
            raise ManifestError(
                f"{source}: at env: {spec.name} is given a value that looks like a credential; "
                "it would be published with the crate",
                hint=f"write `env: [{spec.name}]` and set {spec.name} when you run capture",
            )
    for where, value in _strings(manifest.raw, ""):
        if where.startswith("inputs.") and where.endswith(".uri"):
            continue  # recorded with the credential replaced by ***
        if where.startswith(("command", "env")):
            continue
        if looks_like_token(value) or uri_secrets(value):
            raise ManifestError(
                f"{source}: at {where}: the value contains a credential; "
                "it would be published with the crate",
                hint="remove it: credentials reach a run only through `env:`",
            )


def _strings(node: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(where, node)]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v, f"{where}.{k}".lstrip("."))]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _strings(v, f"{where}.{i}")]
    return []


def check_files(manifest: Manifest, directory: Path, *, source: str) -> None:
    """Local files the manifest names must exist inside the analysis directory."""
    named = [(f"inputs.{i.name}.path", i.path) for i in manifest.inputs if i.path]
    if manifest.config:
        named.append(("config", manifest.config))
    for key, rel in named:
        if not _safe_relative(rel):
            raise ManifestError(
                f"{source}: at {key}: {rel!r} must be a relative path inside {directory}",
                hint="local inputs and the config live in the analysis directory",
            )
        target = directory / rel
        if not target.exists():
            raise ManifestError(f"{source}: at {key}: {target} does not exist")
        if not target.resolve().is_relative_to(directory.resolve()):
            raise ManifestError(f"{source}: at {key}: {rel!r} leads outside {directory}")
    if manifest.config and not (directory / manifest.config).is_file():
        raise ManifestError(f"{source}: at config: {manifest.config!r} is not a file")


def _safe_relative(rel: str) -> bool:
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts
