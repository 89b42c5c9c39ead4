"""The analysis manifest, ``preserve.yaml``: read, validate, turn into a domain object.

The wire format is checked against ``schemas/manifest.schema.json``; every error
names the file, the key path and what was expected. Checks the schema cannot
express (placeholders, files that must exist) follow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from jsonschema import ValidationError

from preserve.errors import ManifestError
from preserve.schemas import validator

FILENAME = "preserve.yaml"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


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
    """Read and check ``DIRECTORY/preserve.yaml``."""
    path = directory / FILENAME
    if not path.is_file():
        raise ManifestError(
            f"no {FILENAME} in {directory}",
            hint=f"create {path} describing the analysis (see README, 'The analysis manifest')",
        )
    manifest = parse_manifest(path.read_text(encoding="utf-8"), source=str(path))
    check_files(manifest, directory, source=str(path))
    return manifest


def parse_manifest(text: str, *, source: str = FILENAME) -> Manifest:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ManifestError(
            f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}",
            hint="check indentation and quoting",
        ) from exc
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
