"""Functions for real: a small analysis captured, pushed and published once per session
(sandbox DOI, local OCI store), deployed on the local target (Docker), its data on a
dCache test server. Every test of this folder shares one data directory (the DOI and
the deployments live there) and uses its own paths on the storage."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.settings import Settings
from tests.helpers import git_commit_all
from tests.rerun.analyses import make
from tests.rerun.conftest import demo_data_server  # noqa: F401  (the example's data)
from tests.servers.dcache import DcacheServer
from tests.shim.conftest import SCRIPT

UPPER = SCRIPT  # the same small analysis the in-process shim tests run


@pytest.fixture(scope="session")
def functions_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("functions-home")
    # The facility that publishes and runs the functions (the crates' publisher and agent).
    (home / "config.toml").write_text(
        '[publisher]\nname = "Test Facility"\nror = "https://ror.org/01js2sh04"\n'
    )
    return home


@pytest.fixture(autouse=True)
def isolated_dirs(functions_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This folder's tests share one data directory (see the module docstring)."""
    for name in list(os.environ):
        if name.startswith("PRESERVE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PRESERVE_DATA_DIR", str(functions_home / "data"))
    monkeypatch.setenv("PRESERVE_CACHE_DIR", str(functions_home / "cache"))
    monkeypatch.setenv("PRESERVE_CONFIG", str(functions_home / "config.toml"))
    return functions_home


def home_settings(home: Path) -> Settings:
    return Settings.load(
        config_file=home / "config.toml",
        env={},
        overrides={"data_dir": home / "data", "cache_dir": home / "cache"},
    )


@pytest.fixture(scope="session")
def storage() -> Iterator[DcacheServer]:
    """One dCache for the session; each test uses its own folders."""
    server = DcacheServer()
    yield server
    server.close()
    assert not server.errors, server.errors[0]


@pytest.fixture
def folder() -> str:
    """A fresh folder name on the storage."""
    return f"/t-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def upper_doi(
    functions_home: Path,
    storage: DcacheServer,
    base_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The DOI of the published 'upper' analysis (captured on /published/text.txt)."""
    from preserve.capture import capture
    from preserve.publish import publish
    from preserve.push import push

    storage.put("/published/text.txt", b"published text")
    tmp = tmp_path_factory.mktemp("upper")
    inputs = (
        f'inputs:\n  text: {{uri: "{storage.url("/published/text.txt")}"}}\nconfig: config.json\n'
    )
    analysis = make(
        tmp,
        "upper",
        UPPER,
        ["upper.txt", "count.json"],
        inputs=inputs,
        args='"{inputs.text}", "{config}", "{outdir}"',
        commit=False,
    )
    (analysis / "config.json").write_text('{"repeat": 2}\n')
    git_commit_all(analysis)
    settings = home_settings(functions_home)
    crate = tmp / "crate"
    capture(analysis, settings=settings, output=crate)
    push(crate, settings=settings)
    return publish(str(crate), settings=settings).doi


@pytest.fixture(scope="session")
def upper(upper_doi: str, functions_home: Path) -> Iterator[str]:
    """'upper', deployed on the local target; its name."""
    from preserve.functions.deploy import deploy, undeploy

    settings = home_settings(functions_home)
    deployed = deploy(upper_doi, to="local", settings=settings).deployment
    yield deployed.name
    undeploy(deployed.name, settings=settings)
