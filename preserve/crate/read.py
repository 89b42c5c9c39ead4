"""The one reader of RO-Crates: ``ro-crate-metadata.json`` -> a typed, read-only view.

Crates are untrusted input (written by someone else, pulled from a registry), so
the document is checked before anything trusts it: read with a size limit, a JSON
object with an ``@graph`` list of entities that each have a string ``@id``, no
duplicate ids. The graph is then loaded with ro-crate-py's reader (which also
reads other tools' crates) and turned into :class:`CrateView`. A wrong type, a
missing entity or a malformed document is a :class:`CrateError` naming it.

This module is also the one place that turns crate paths (relative entity ids)
into filesystem paths: :func:`confined_path` refuses absolute ids, ``..`` and
anything that resolves, after symlinks, outside the crate.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

from rocrate.rocrate import ROCrate

from preserve.crate.model import CRATE_METADATA
from preserve.errors import CrateError
from preserve.manifest import Funding
from preserve.oci.refs import LOCAL, InvalidReference, OciRef
from preserve.source import SourceInfo

# A crate of a 100,000-file folder stays small (checksum manifests, not entities);
# anything near this limit is not a metadata file but an attack on memory.
MAX_METADATA_BYTES = 32 * 2**20
MAX_RUN_SPEC_BYTES = 4 * 2**20
_DOI = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)(10\.\d{4,9}/\S+)$", re.IGNORECASE)
# Checksums recorded beside sha256: direct properties, or PropertyValues by propertyID.
CHECKSUM_PROPERTIES = ("md5", "sha1", "sha512")
CHECKSUM_IDS = frozenset(("adler32", "md5", "sha1", "sha512"))
GIT_COMMIT, GIT_DIRTY = "git-commit", "git-dirty"


# -- reading JSON from a crate -------------------------------------------------------


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refusing a file of more than ``limit`` bytes."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise CrateError(f"{path} does not exist") from exc
    except OSError as exc:
        raise CrateError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise CrateError(
            f"{path} is larger than {limit // 2**20} MiB; refusing to read it",
            hint="crate files of that size are not something preserve writes",
        )
    return data


def parse_json(data: bytes, path: Path) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CrateError(f"{path} is not valid UTF-8 JSON: {exc}") from exc


def load_json(path: Path, limit: int = MAX_METADATA_BYTES) -> Any:
    """Parse the JSON file ``path``, refusing more than ``limit`` bytes."""
    return parse_json(read_bounded(path, limit), path)


def check_document(document: Any, where: str) -> dict[str, Any]:
    """``document`` as a flattened JSON-LD object whose entities all have an ``@id``."""
    if not isinstance(document, dict):
        raise CrateError(
            f"{where} is a JSON {_json_type(document)}, not an object with @context and @graph",
            hint="an RO-Crate metadata file is one JSON object",
        )
    graph = document.get("@graph")
    if not isinstance(graph, list):
        raise CrateError(f"{where} has no @graph list")
    seen: set[str] = set()
    for index, entity in enumerate(graph):
        if not isinstance(entity, dict):
            raise CrateError(f"{where}: @graph[{index}] is a {_json_type(entity)}, not an entity")
        eid = entity.get("@id")
        if not isinstance(eid, str) or not eid:
            raise CrateError(f"{where}: @graph[{index}] has no string @id")
        if eid in seen:
            raise CrateError(f"{where}: two entities have the @id {eid!r}")
        seen.add(eid)
        types = entity.get("@type")
        if not (isinstance(types, str) or _str_list(types)):
            raise CrateError(f"{where}: entity {eid!r} has no @type (a string or list of strings)")
        local = not (eid.startswith("#") or is_web(eid) or eid == "./")
        if local and {"File", "Dataset"} & set(types_of(entity)):
            check_crate_path(eid)
        for key, value in entity.items():
            if not key.startswith("@") and not _flat(value):
                raise CrateError(
                    f"{where}: {key} of {eid!r} holds a nested object; a flattened crate "
                    'refers to other entities by {"@id": ...} only'
                )
    return document


def _flat(value: Any) -> bool:
    """A flattened JSON-LD value: a literal, a reference, a value object, or a list of them."""
    if isinstance(value, list):
        return all(_flat(v) and not isinstance(v, list) for v in value)
    if isinstance(value, dict):
        return (set(value) == {"@id"} and isinstance(value["@id"], str)) or "@value" in value
    return True


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def read_document(crate_dir: Path) -> dict[str, Any]:
    """The checked JSON-LD document of the crate in ``crate_dir`` (a mutable copy)."""
    path = crate_dir / CRATE_METADATA
    if not path.is_file():
        raise CrateError(
            f"{crate_dir} is not an RO-Crate: it has no {CRATE_METADATA}",
            hint="give the directory written by `preserve capture` or `preserve pull`",
        )
    return check_document(load_json(path), str(path))


# -- crate paths -------------------------------------------------------------------


def is_web(entity_id: str) -> bool:
    """An absolute URI (``https://...``, ``davs://...``, ``doi:...``): not a crate path."""
    return bool(urlsplit(entity_id).scheme) and ":" in entity_id.split("/", 1)[0]


def check_crate_path(entity_id: str) -> str:
    """``entity_id`` decoded, if it is a relative path that cannot climb out of the crate."""
    text = unquote(entity_id)
    parts = PurePosixPath(text).parts
    if (
        not text
        or is_web(entity_id)
        or text.startswith(("/", "~"))
        or "\\" in text
        or "\x00" in text
        or ".." in parts
    ):
        raise CrateError(
            f"the crate names {entity_id!r}, which is not a path inside the crate",
            hint="refusing to read or mount anything outside the crate; "
            "the crate was not written by preserve or was tampered with",
        )
    return text


def confined_path(crate_dir: Path, entity_id: str) -> Path:
    """The file or folder the crate path ``entity_id`` names, inside ``crate_dir``.

    Refused (CrateError naming the entity): an absolute path or URI, ``..``, a
    backslash or NUL, and any path that resolves outside the crate once symlinks
    are followed. The path need not exist.
    """
    text = check_crate_path(entity_id)
    root = crate_dir.resolve()
    path = (root / text).resolve()
    if path != root and root not in path.parents:
        raise CrateError(
            f"the crate path {entity_id!r} leads outside the crate (to {path})",
            hint="a symbolic link in the crate points elsewhere; refusing to follow it",
        )
    return path


# -- the typed view ----------------------------------------------------------------


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    ror: str | None = None


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    given_name: str | None = None
    family_name: str | None = None
    orcid: str | None = None  # bare form 0000-0002-1825-0097
    affiliation: Organization | None = None


@dataclass(frozen=True)
class Data:
    """A File or Dataset entity: in the crate (relative id) or on the web (absolute URI)."""

    id: str
    is_dir: bool
    name: str | None = None
    description: str | None = None
    size: int | None = None
    sha256: str | None = None
    encoding_format: str | None = None
    sd_date_published: str | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)  # beside sha256
    doi: str | None = None
    checksum_manifest: str | None = None  # crate path of a folder's sha256sum listing
    verdict: str | None = None  # rerun crates: the reproduction verdict of an output
    license: str | None = None  # its licence (a URL or SPDX identifier), when the crate names one

    @property
    def remote(self) -> bool:
        return is_web(self.id)


@dataclass(frozen=True)
class Software:
    id: str
    name: str | None
    description: str | None
    version: str | None
    url: str | None
    code_repository: str | None
    license: str | None


@dataclass(frozen=True)
class Image:
    id: str
    name: str | None
    registry: str | None
    tag: str | None
    sha256: str | None  # manifest digest (hex) once pushed
    image_id: str | None  # sha256:<config digest>, the local image ID
    description: str | None

    @property
    def ref(self) -> OciRef | None:
        """Where the image was pushed, pinned by digest; None before a push."""
        if not (self.sha256 and self.registry and self.name) or self.registry == "localhost":
            return None
        prefix = f"{LOCAL}:" if self.registry == LOCAL else f"{self.registry}/"
        try:
            return OciRef.parse(f"{prefix}{self.name}@sha256:{self.sha256}")
        except InvalidReference as exc:
            raise CrateError(
                f"the crate's container image {self.id!r} names no valid reference: {exc.message}"
            ) from exc


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None
    withheld: bool


@dataclass(frozen=True)
class Usage:
    property_id: str | None
    name: str | None
    value: str | None
    unit: str | None


@dataclass(frozen=True)
class Action:
    id: str
    name: str | None
    description: str | None
    status: str | None
    start: str | None
    end: str | None
    error: str | None


@dataclass(frozen=True)
class Root:
    id: str
    name: str | None
    description: str | None
    date_published: str | None
    version: str | None
    keywords: tuple[str, ...]
    license: str | None  # its id (a URL)
    license_name: str | None  # the SPDX identifier when the licence entity gives one
    identifier: str | None
    conforms_to: tuple[str, ...]
    authors: tuple[Person, ...]
    publisher: Organization | None
    is_based_on: str | None
    funding: tuple[Funding, ...]
    supplement_to: tuple[str, ...]  # DOIs of articles this run is a supplement to
    cites: tuple[str, ...]  # DOIs it cites


@dataclass(frozen=True)
class CrateView:
    """What a crate says, typed. Built by :func:`read_crate`; never written back."""

    directory: Path | None  # None for a document not (yet) on disk
    root: Root
    action: Action | None
    instrument: Software | None
    inputs: tuple[Data, ...]  # the action's object: inputs and configuration
    outputs: tuple[Data, ...]  # the action's result
    image: Image | None
    environment: tuple[EnvVar, ...]
    usage: tuple[Usage, ...]
    doi: str | None
    source: SourceInfo
    files: tuple[Data, ...]  # every File/Dataset entity with a crate path
    _entities: Mapping[str, Mapping[str, Any]] = field(repr=False, compare=False)

    def entity(self, entity_id: str) -> dict[str, Any] | None:
        """A copy of the raw JSON-LD of one entity (for carrying it word for word)."""
        raw = self._entities.get(entity_id)
        return copy.deepcopy(dict(raw)) if raw is not None else None

    def data(self, entity_id: str) -> Data | None:
        raw = self._entities.get(entity_id)
        return _data(raw) if raw is not None and _is_data(raw) else None

    def path(self, entity_id: str) -> Path:
        """The confined filesystem path of a crate path (see :func:`confined_path`)."""
        if self.directory is None:
            raise CrateError(f"{entity_id!r}: this crate is not on disk")
        return confined_path(self.directory, entity_id)


def read_crate(crate_dir: Path) -> CrateView:
    """The view of the crate in ``crate_dir`` (see the module docstring)."""
    return view_of(read_document(crate_dir), crate_dir)


def view_of(document: Mapping[str, Any], directory: Path | None = None) -> CrateView:
    """The view of a JSON-LD document (checked here if it was not already)."""
    where = str(directory / CRATE_METADATA) if directory else CRATE_METADATA
    document = check_document(copy.deepcopy(dict(document)), where)
    entities = {e["@id"]: e for e in document["@graph"]}
    crate = _load(document, where)
    return _Reader(entities, crate, where).view(directory)


def _load(document: dict[str, Any], where: str) -> ROCrate:
    """ro-crate-py's reading of the graph: root, descriptor, data entities."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "looks like a data entity": we judge that
            return ROCrate(copy.deepcopy(document))
    except (KeyError, ValueError, TypeError, AttributeError, AssertionError) as exc:
        reason = exc.args[0] if exc.args else type(exc).__name__
        raise CrateError(
            f"{where} is not a readable RO-Crate: {reason}",
            hint="it needs a metadata descriptor (ro-crate-metadata.json) about a root Dataset",
        ) from exc


class _Reader:
    """Typed access to raw entities: every wrong shape is a CrateError naming the entity."""

    def __init__(self, entities: dict[str, dict[str, Any]], crate: ROCrate, where: str) -> None:
        self.entities = entities
        self.crate = crate
        self.where = where

    def view(self, directory: Path | None) -> CrateView:
        root = self.entities[self.crate.root_dataset.id]
        action = self._main_action(root)
        run: Mapping[str, Any] = action or {"@id": ""}  # no run: no parts either
        instrument = self._one(run, "instrument")
        image = self._one(run, "containerImage")
        return CrateView(
            directory=directory,
            root=self._root(root),
            action=self._action(action) if action else None,
            instrument=self._software(instrument) if instrument else None,
            inputs=tuple(self._data_ref(r) for r in self.refs(run, "object")),
            outputs=tuple(self._data_ref(r) for r in self.refs(run, "result")),
            image=self._image(image) if image else None,
            environment=tuple(self._env(e) for e in self._many(run, "environment")),
            usage=tuple(self._usage(u) for u in self._many(run, "resourceUsage")),
            doi=self._doi(root),
            source=self._source(instrument),
            files=tuple(
                _data(self.entities[e.id])
                for e in self.crate.data_entities
                if e.id in self.entities and not is_web(e.id)
            ),
            _entities=MappingProxyType(self.entities),
        )

    # -- typed values ----------------------------------------------------------------

    def text(self, entity: Mapping[str, Any], key: str) -> str | None:
        value = entity.get(key)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CrateError(
                f"{self.where}: {key} of {entity['@id']!r} should be text, "
                f"not a {_json_type(value)}"
            )
        return str(value)

    def refs(self, entity: Mapping[str, Any], key: str) -> list[str]:
        """The ids ``key`` refers to: ``{"@id": x}``, plain strings, or lists of them."""
        value = entity.get(key)
        items = [] if value is None else value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("@id"), str):
                out.append(item["@id"])
            elif isinstance(item, str):
                out.append(item)
            else:
                raise CrateError(
                    f"{self.where}: {key} of {entity['@id']!r} should refer to entities "
                    f'({{"@id": ...}}), not hold a {_json_type(item)}'
                )
        return out

    def entity(self, entity_id: str, referrer: Mapping[str, Any], key: str) -> dict[str, Any]:
        found = self.entities.get(entity_id)
        if found is None:
            raise CrateError(
                f"{self.where}: {key} of {referrer['@id']!r} is {entity_id!r}, "
                "which the crate does not describe",
                hint="every entity a crate refers to must be in its @graph",
            )
        return found

    def _one(self, entity: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        ids = self.refs(entity, key)
        return self.entity(ids[0], entity, key) if ids else None

    def _bare(self, entity_id: str) -> dict[str, Any]:
        """A contextual entity (a person, a licence) by id; other tools sometimes refer to
        one by its URL without describing it, which is no reason to refuse the crate."""
        return self.entities.get(entity_id) or {"@id": entity_id, "@type": "Thing"}

    def _described(self, entity: Mapping[str, Any], key: str) -> dict[str, Any] | None:
        ids = self.refs(entity, key)
        return self._bare(ids[0]) if ids else None

    def _many(self, entity: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        return [self.entity(i, entity, key) for i in self.refs(entity, key)]

    # -- parts -----------------------------------------------------------------------

    def _main_action(self, root: Mapping[str, Any]) -> dict[str, Any] | None:
        """The run: a CreateAction the root mentions, else the only CreateAction."""
        actions = [e for e in self.entities.values() if "CreateAction" in types_of(e)]
        mentioned = set(self.refs(root, "mentions"))
        preferred = [a for a in actions if a["@id"] in mentioned]
        if preferred:
            return preferred[0]
        return actions[0] if len(actions) == 1 else None

    def _root(self, root: Mapping[str, Any]) -> Root:
        licence = self._described(root, "license")
        if licence is None and isinstance(root.get("license"), str):
            licence = {"@id": root["license"]}
        publisher = self._described(root, "publisher")
        keywords = root.get("keywords")
        words = (
            [str(k) for k in keywords]
            if isinstance(keywords, list)
            else str(self.text(root, "keywords") or "").split(",")
        )
        return Root(
            id=str(root["@id"]),
            name=self.text(root, "name"),
            description=self.text(root, "description"),
            date_published=self.text(root, "datePublished"),
            version=self.text(root, "version"),
            keywords=tuple(w.strip() for w in words if w.strip()),
            license=licence["@id"] if licence else None,
            license_name=self.text(licence, "identifier") if licence else None,
            identifier=self._identifier(root),
            conforms_to=tuple(self.refs(root, "conformsTo")),
            authors=tuple(self._person(self._bare(i)) for i in self.refs(root, "author")),
            publisher=self._organization(publisher) if publisher else None,
            is_based_on=next(iter(self.refs(root, "isBasedOn")), None),
            funding=tuple(self._funding(g) for g in self._many(root, "funding")),
            supplement_to=tuple(d for i in self.refs(root, "subjectOf") if (d := _doi(i))),
            cites=tuple(d for i in self.refs(root, "citation") if (d := _doi(i))),
        )

    def _identifier(self, entity: Mapping[str, Any]) -> str | None:
        """A string, or (RO-Crate 1.2) a PropertyValue whose value or url is the identifier."""
        value = entity.get("identifier")
        if isinstance(value, dict):
            pv = self.entity(str(value.get("@id")), entity, "identifier")
            return self.text(pv, "url") or self.text(pv, "value")
        return self.text(entity, "identifier")

    def _doi(self, root: Mapping[str, Any]) -> str | None:
        for candidate in (self._identifier(root), self.text(root, "cite-as")):
            doi = _doi(candidate) if candidate else None
            if doi:
                return doi
        return None

    def _person(self, entity: Mapping[str, Any]) -> Person:
        pid = str(entity["@id"])
        org = self._described(entity, "affiliation")
        return Person(
            id=pid,
            name=self.text(entity, "name") or pid,
            given_name=self.text(entity, "givenName"),
            family_name=self.text(entity, "familyName"),
            orcid=pid.rsplit("/", 1)[-1] if pid.startswith("https://orcid.org/") else None,
            affiliation=self._organization(org) if org else None,
        )

    def _organization(self, entity: Mapping[str, Any]) -> Organization:
        oid = str(entity["@id"])
        ror = oid if oid.startswith("https://ror.org/") else None
        return Organization(oid, self.text(entity, "name") or oid, ror)

    def _funding(self, grant: Mapping[str, Any]) -> Funding:
        funder = self._described(grant, "funder")
        org = self._organization(funder) if funder else None
        return Funding(
            funder=org.name if org else (self.text(grant, "name") or str(grant["@id"])),
            funder_ror=org.ror if org else None,
            award=self.text(grant, "identifier"),
        )

    def _action(self, entity: Mapping[str, Any]) -> Action:
        status = self.refs(entity, "actionStatus")
        return Action(
            id=str(entity["@id"]),
            name=self.text(entity, "name"),
            description=self.text(entity, "description"),
            status=status[0] if status else None,
            start=self.text(entity, "startTime"),
            end=self.text(entity, "endTime"),
            error=self.text(entity, "error"),
        )

    def _software(self, entity: Mapping[str, Any]) -> Software:
        licence = self.refs(entity, "license")
        return Software(
            id=str(entity["@id"]),
            name=self.text(entity, "name"),
            description=self.text(entity, "description"),
            version=self.text(entity, "version") or self.text(entity, "softwareVersion"),
            url=self.text(entity, "url"),
            code_repository=self.text(entity, "codeRepository"),
            license=licence[0] if licence else None,
        )

    def _image(self, entity: Mapping[str, Any]) -> Image:
        return Image(
            id=str(entity["@id"]),
            name=self.text(entity, "name"),
            registry=self.text(entity, "registry"),
            tag=self.text(entity, "tag"),
            sha256=self.text(entity, "sha256"),
            image_id=self.text(entity, "identifier"),
            description=self.text(entity, "description"),
        )

    def _data_ref(self, entity_id: str) -> Data:
        entity = self.entities.get(entity_id)
        if entity is None:
            if is_web(entity_id):  # a web resource the crate names without describing it
                return Data(entity_id, is_dir=False)
            raise CrateError(
                f"{self.where}: the run names {entity_id!r}, which the crate does not describe"
            )
        return self._checked_data(entity)

    def _checked_data(self, entity: Mapping[str, Any]) -> Data:
        for key in ("name", "description", "contentSize", "sha256", "encodingFormat"):
            if not isinstance(entity.get(key), list):
                self.text(entity, key)  # a CrateError for objects and other wrong types
        data = _data(entity)
        checksums = dict(data.checksums)
        for pv in self._many(entity, "additionalProperty"):
            prop, value = self.text(pv, "propertyID"), self.text(pv, "value")
            if prop in CHECKSUM_IDS and value:
                checksums[prop] = value
            elif prop == "reproduction-verdict":
                data = replace(data, verdict=value)
        return replace(data, checksums=checksums)

    def _env(self, entity: Mapping[str, Any]) -> EnvVar:
        name = self.text(entity, "name")
        if not name:
            raise CrateError(f"{self.where}: environment entry {entity['@id']!r} has no name")
        value = self.text(entity, "value")
        withheld = "withheld" in (self.text(entity, "description") or "").lower()
        unset = (self.text(entity, "description") or "").startswith("Not set")
        return EnvVar(name, None if withheld or unset else value, withheld)

    def _usage(self, entity: Mapping[str, Any]) -> Usage:
        return Usage(
            self.text(entity, "propertyID"),
            self.text(entity, "name"),
            self.text(entity, "value"),
            self.text(entity, "unitCode"),
        )

    def _source(self, software: Mapping[str, Any] | None) -> SourceInfo:
        """Git facts from the instrument's additionalProperty (propertyID git-commit/-dirty)."""
        if software is None:
            return SourceInfo()
        props = {
            self.text(pv, "propertyID"): self.text(pv, "value")
            for pv in self._many(software, "additionalProperty")
        }
        commit = props.get(GIT_COMMIT)
        return SourceInfo(
            commit=commit,
            remote=self.text(software, "codeRepository"),
            dirty=props.get(GIT_DIRTY) == "true",
            is_git=bool(commit),
        )


def types_of(entity: Mapping[str, Any]) -> list[str]:
    t = entity.get("@type", [])
    return [t] if isinstance(t, str) else [str(x) for x in t] if isinstance(t, list) else []


def _is_data(entity: Mapping[str, Any]) -> bool:
    return bool({"File", "Dataset"} & set(types_of(entity)))


def _data(entity: Mapping[str, Any]) -> Data:
    """A data entity's facts, leniently (wrong shapes are checked by the caller)."""

    def text(key: str) -> str | None:
        value = entity.get(key)
        return str(value) if isinstance(value, str | int | float) else None

    size = text("contentSize")
    licence = entity.get("license")
    subject = entity.get("subjectOf")
    listing = subject.get("@id") if isinstance(subject, dict) else None
    ident = text("identifier")
    return Data(
        id=str(entity["@id"]),
        is_dir="Dataset" in types_of(entity),
        name=text("name"),
        description=text("description"),
        size=int(size) if size is not None and size.isdigit() else None,
        sha256=text("sha256"),
        encoding_format=text("encodingFormat"),
        sd_date_published=text("sdDatePublished"),
        checksums={k: v for k in CHECKSUM_PROPERTIES if (v := text(k))},
        doi=_doi(ident) if ident else None,
        checksum_manifest=listing if isinstance(listing, str) else None,
        license=licence["@id"]
        if isinstance(licence, dict) and isinstance(licence.get("@id"), str)
        else text("license"),
    )


def _doi(text: str) -> str | None:
    """The bare DOI of ``https://doi.org/10.x/y`` or ``doi:10.x/y``, else None."""
    m = _DOI.match(text.strip())
    return m.group(1) if m else None
