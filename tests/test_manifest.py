"""preserve.yaml: parsed into a Manifest, every error naming file, key path and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.errors import ManifestError
from preserve.manifest import load_manifest, parse_manifest
from tests.helpers import EXAMPLE


def test_the_example_manifest() -> None:
    m = load_manifest(EXAMPLE)
    assert m.name == "azimuthal-integration" and m.version == "1.0.0"
    assert m.authors[0].orcid == "0000-0002-1825-0097"
    assert m.authors[0].affiliation is not None
    assert m.input("frames") is not None and m.input("frames").is_remote  # type: ignore[union-attr]
    assert m.input("mask").path == "data/mask.h5"  # type: ignore[union-attr]
    assert m.outputs == ("profile.csv", "profile.h5") and m.network is False
    assert m.rtol == 1e-9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ntitle: t\ncommand: [a\n", "not valid YAML (line"),
        ("- a list\n", "expected a mapping"),
        ("title: t\ncommand: [a]\noutputs: [o]\n", "at (top level): 'name' is a required property"),
        ("name: x\ntitle: t\ncommand: [a]\noutputs: [o]\nnetwork: maybe\n", "at network:"),
        ("name: x\ntitle: t\ncommand: [a, '{config}']\noutputs: [o]\n", "no 'config' file"),
        ("name: x\ntitle: t\ncommand: [a, '{foo}']\noutputs: [o]\n", "unknown placeholder {foo}"),
        ("name: x\ntitle: t\ncommand: [a]\noutputs: [../o]\n", "at outputs.0"),
        (
            "name: x\ntitle: t\ncommand: [a]\noutputs: [o]\nauthors: [{name: A, orcid: 123}]\n",
            "at authors.0.orcid",
        ),
        (
            "name: x\ntitle: t\ncommand: [a]\noutputs: [o]\nenvironment: {builder: image}\n",
            "'image' is a required property",
        ),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, source="dir/preserve.yaml")
    assert info.value.message.startswith("dir/preserve.yaml")
    assert message in info.value.message, info.value.message


def test_local_files_must_exist_inside(tmp_path: Path) -> None:
    (tmp_path / "preserve.yaml").write_text(
        "name: x\ntitle: t\ncommand: [a]\noutputs: [o]\ninputs: {d: {path: ../outside}}\n"
    )
    with pytest.raises(ManifestError, match=r"at inputs\.d\.path"):
        load_manifest(tmp_path)
    (tmp_path / "preserve.yaml").write_text(
        "name: x\ntitle: t\ncommand: [a]\noutputs: [o]\nconfig: missing.json\n"
    )
    with pytest.raises(ManifestError, match=r"at config: .*missing\.json does not exist"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match=r"no preserve\.yaml"):
        load_manifest(tmp_path / "nowhere")
