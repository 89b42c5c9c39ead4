"""Fuzzing a real captured crate: ``ro-crate-metadata.json``, ``preserve-run.json`` and the
crate's copy of ``preserve.yaml`` are mutated structure-aware (values of the wrong type,
absolute and ``..`` paths, huge numbers, missing entities, lists for objects, hostile
YAML), then driven through the read and plan path of ``rerun`` up to the container
(a runner that refuses to start it) and through the read path of ``push``.

Each example must end in success or a :class:`PreserveError` (never another exception:
that would be a traceback for the user) and must write nothing outside the rerun's
target (and the caches): the crate given and everything beside it stay as they were.

Network: the image entity's ``registry`` is only ever mutated to local values, so no
example waits on a registry's retries (hostile registries have their own tests).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from preserve import plugins
from preserve.errors import PreserveError
from preserve.plugins import NoOptions
from preserve.progress import QUIET, Progress
from preserve.runners.base import ImageSource, ProvidedImage, Runner, RunSpec, open_runner
from preserve.settings import Settings
from tests.security.conftest import SECRET_ENV

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
METADATA = "ro-crate-metadata.json"
RUN_SPEC = "preserve-run.json"
MANIFEST = "analysis/preserve.yaml"


class ContainerWouldStart(Exception):
    """Raised by the refusing runner: everything before the container went through."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__("the container would start here")
        self.spec = spec


class RefusingRunner:
    """A runner plug-in that provides images as the Docker runner does (the crate's image
    ID is checked for real) and refuses to start any container."""

    name = "fuzz-refuse"
    options = NoOptions

    def __init__(self, docker: Runner) -> None:
        self.docker = docker

    @classmethod
    def from_settings(cls, options: NoOptions, settings: Settings) -> RefusingRunner:
        return cls(open_runner(settings, "docker"))

    def describe(self) -> str:
        return "refuses every run"

    def provide_image(self, image: ImageSource, *, progress: Progress) -> ProvidedImage:
        return self.docker.provide_image(image, progress=progress)

    def run(self, spec: RunSpec, **_: Any) -> Any:
        raise ContainerWouldStart(spec)


@pytest.fixture
def refusing_runner(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registered in the runner entry-point group, as a third-party runner would be."""
    group = plugins._group(plugins.RUNNERS.entry_points)
    monkeypatch.setitem(
        group,
        RefusingRunner.name,
        EntryPoint(RefusingRunner.name, f"{__name__}:RefusingRunner", plugins.RUNNERS.entry_points),
    )
    return RefusingRunner.name


# -- what the mutations draw from ----------------------------------------------------

NASTY_STRINGS = [
    "",
    ".",
    "..",
    "./",
    "/",
    "/etc/passwd",
    "/var/run/docker.sock",
    "../../../outside/pwned",
    "analysis/../../outside/pwned",
    "outputs/../../outside",
    "outputs/out.txt/../../../outside",
    "file:///etc/passwd",
    "file:///../outside",
    "#container-image",
    "ro-crate-metadata.json",
    "analysis/",
    "\x00",
    "é\udcff",
    "a" * 5000,
    "sha256:" + "0" * 64,
    "local",
    "localhost",
    "-1",
    "1e400",
    "{outdir}/../../x",
    "{inputs.mask}",
    "$FUZZ_TOKEN",
]
scalars = st.one_of(
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63, 2**64 + 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["@id", "@type", "name", "x"]), inner, max_size=3),
    ),
    max_leaves=6,
)
KEYS = [
    "@id",
    "@type",
    "name",
    "contentSize",
    "sha256",
    "encodingFormat",
    "hasPart",
    "mentions",
    "object",
    "result",
    "instrument",
    "containerImage",
    "environment",
    "subjectOf",
    "identifier",
    "registry",
    "tag",
    "value",
    "about",
    "conformsTo",
    "startTime",
    "endTime",
]
HOSTILE_YAML = [
    b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + b"".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n".encode()
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ),
    b"\xff\xfe not utf-8 \xc3\x28\n",
    b"[" * 10_000,
    b"- &a [*a]\n",
    b"[]\n",
    b"name: x\nversion: 2024-02-30\n",
    b"name: victim\n" + b"# padding\n" * 200_000,
]


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """1 to 4 operations on the metadata graph, the run spec or the manifest copy."""
    ops = st.one_of(
        st.tuples(st.just("entity-key"), st.integers(0, 40), st.sampled_from(KEYS), junk),
        st.tuples(st.just("entity-existing-key"), st.integers(0, 40), st.integers(0, 30), junk),
        st.tuples(st.just("drop-key"), st.integers(0, 40), st.integers(0, 30)),
        st.tuples(st.just("drop-entity"), st.integers(0, 40)),
        st.tuples(st.just("replace-entity"), st.integers(0, 40), junk),
        st.tuples(st.just("duplicate-entity"), st.integers(0, 40), junk),
        st.tuples(st.just("document"), st.sampled_from(["@graph", "@context", "*"]), junk),
        st.tuples(st.just("spec-value"), st.integers(0, 200), junk),
        st.tuples(st.just("spec-drop"), st.integers(0, 200)),
        st.tuples(st.just("spec-document"), junk),
        st.tuples(st.just("manifest"), st.sampled_from(range(len(HOSTILE_YAML)))),
    )
    return draw(st.lists(ops, min_size=1, max_size=4))


# -- applying them ----------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON document, parents before children."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, *, drop: bool = False) -> None:
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def _local_registry(entity: Any, key: str, value: Any) -> Any:
    """Keep the image's registry off the network (see the module docstring)."""
    is_image = isinstance(entity, dict) and entity.get("@id") == "#container-image"
    if is_image and key == "registry" and isinstance(value, str) and value != "local":
        return "localhost"
    return value


def apply(crate: Path, ops: list[tuple[Any, ...]]) -> None:
    doc: Any = json.loads((crate / METADATA).read_text())
    spec: Any = json.loads((crate / RUN_SPEC).read_text())
    spec_before = copy.deepcopy(spec)
    for op in ops:
        kind = op[0]
        graph = doc.get("@graph") if isinstance(doc, dict) else None
        entities = graph if isinstance(graph, list) and graph else None
        if kind.startswith("spec"):
            spec = _apply_spec(spec, op)
        elif kind == "manifest":
            (crate / MANIFEST).write_bytes(HOSTILE_YAML[op[1]])
        elif kind == "document":
            doc = _apply_document(doc, op[1], op[2])
        elif entities is not None:
            _apply_entity(entities, op)
    if spec != spec_before:
        # An attacker keeps the crate consistent: the recipe's recorded digest follows it.
        data = json.dumps(spec).encode()
        (crate / RUN_SPEC).write_bytes(data)
        _pin(doc, RUN_SPEC, data)
    (crate / METADATA).write_text(json.dumps(doc))


def _pin(doc: Any, entity_id: str, data: bytes) -> None:
    graph = doc.get("@graph") if isinstance(doc, dict) else None
    for entity in graph if isinstance(graph, list) else []:
        if isinstance(entity, dict) and entity.get("@id") == entity_id:
            entity.update(sha256=hashlib.sha256(data).hexdigest(), contentSize=str(len(data)))


def _apply_document(doc: Any, key: str, value: Any) -> Any:
    if key == "*":
        return value
    if isinstance(doc, dict):
        doc[key] = value
    return doc


def _apply_entity(entities: list[Any], op: tuple[Any, ...]) -> None:
    kind, index = op[0], op[1] % len(entities)
    entity = entities[index]
    keys = list(entity) if isinstance(entity, dict) else []
    if kind == "entity-key" and isinstance(entity, dict):
        entity[op[2]] = _local_registry(entity, op[2], op[3])
    elif kind == "entity-existing-key" and keys:
        key = keys[op[2] % len(keys)]
        entity[key] = _local_registry(entity, key, op[3])
    elif kind == "drop-key" and keys:
        del entity[keys[op[2] % len(keys)]]
    elif kind == "drop-entity":
        del entities[index]
    elif kind == "replace-entity":
        entities[index] = op[2]
    elif kind == "duplicate-entity" and isinstance(entity, dict):
        twin = copy.deepcopy(entity)
        twin[KEYS[len(keys) % len(KEYS)]] = _local_registry(entity, "registry", op[2])
        entities.append(twin)


def _apply_spec(spec: Any, op: tuple[Any, ...]) -> Any:
    if op[0] == "spec-document":
        return op[1]
    paths = _paths(spec)
    if not paths:
        return spec
    path = paths[op[1] % len(paths)]
    _set(spec, path, None if op[0] == "spec-drop" else op[2], drop=op[0] == "spec-drop")
    return spec


# -- the property ----------------------------------------------------------------------


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root`` (but ``skip``): (mode, size, mtime); folders by name only
    (a staging folder made and removed beside the target touches its parent's mtime)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if here / d != skip]
        out |= {str((here / d).relative_to(root)): (0, 0, 0) for d in dirs}
        for name in files:
            st_ = (here / name).lstat()
            out[str((here / name).relative_to(root))] = (st_.st_mode, st_.st_size, st_.st_mtime_ns)
    return out


@pytest.fixture
def attack(
    captured_crate: Path, refusing_runner: str, isolated_dirs: Path
) -> Iterator[Callable[[list[tuple[Any, ...]]], str]]:
    from preserve.push import crate_annotations, target_for, writable_crate
    from preserve.rerun import rerun

    work = Path(tempfile.mkdtemp(prefix="fuzz-", dir=isolated_dirs))
    (work / "outside").mkdir()
    (work / "outside" / "keep.txt").write_text("the host's file\n")
    crate, target = work / "crate", work / "out"
    shutil.copytree(captured_crate, crate)
    pristine = {name: (crate / name).read_bytes() for name in (METADATA, RUN_SPEC, MANIFEST)}
    settings_ = Settings.load(overrides={"runner": refusing_runner})

    def run(ops: list[tuple[Any, ...]]) -> str:
        # Only the mutated files are restored between examples: anything else that
        # changed would fail the snapshot comparison first.
        for name, data in pristine.items():
            (crate / name).write_bytes(data)
        apply(crate, ops)
        before = snapshot(work, target)
        try:
            rerun(
                str(crate),
                settings=settings_,
                output=target,
                progress=QUIET,
                environ={SECRET_ENV: "reader-value"},
                env={SECRET_ENV: None},
            )
            outcome = "finished"
        except ContainerWouldStart:
            outcome = "reached the container"
        except PreserveError as exc:
            outcome = f"{type(exc).__name__}: {exc.message.replace(str(work), '')[:60]}"
        with contextlib.suppress(PreserveError):
            view = writable_crate(crate)
            target_for(view, settings_, None)
            crate_annotations(view)
        assert snapshot(work, target) == before, "something was written outside the target"
        shutil.rmtree(target, ignore_errors=True)
        return outcome

    yield run
    shutil.rmtree(work, ignore_errors=True)


def test_unmutated_crate_reaches_the_container(
    captured_crate: Path, refusing_runner: str, isolated_dirs: Path, attack: Any
) -> None:
    """The harness itself: the pristine crate goes all the way to the (refused) container."""
    from preserve.rerun import rerun

    with pytest.raises(ContainerWouldStart) as info:
        rerun(
            str(captured_crate),
            settings=Settings.load(overrides={"runner": refusing_runner}),
            output=isolated_dirs / "pristine-out",
            environ={SECRET_ENV: "reader-value"},
            env={SECRET_ENV: None},
        )
    assert info.value.spec.env[SECRET_ENV] == "reader-value"
    assert not (isolated_dirs / "pristine-out").exists()
    assert attack([]) == "reached the container"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(ops=mutations())
@example(ops=[("document", "*", [])])  # a metadata file that is a JSON list
@example(ops=[("manifest", 0)])  # a YAML alias bomb in the crate's manifest copy
@example(ops=[("manifest", 1)])  # non-UTF-8 manifest copy
@example(ops=[("spec-document", [])])
def test_fuzzed_crates_fail_cleanly_and_write_nothing_outside(
    attack: Callable[[list[tuple[Any, ...]]], str], ops: list[tuple[Any, ...]]
) -> None:
    event(attack(ops))  # --hypothesis-show-statistics: how far the examples got
