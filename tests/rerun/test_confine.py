"""The checks behind a confined rerun, one by one (no container needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from preserve.errors import ConfigError, CrateError
from preserve.rerun.confine import check_mount, check_tree, crate_path
from preserve.rerun.execute import limits
from preserve.rerun.fetch import environment


@pytest.mark.parametrize(
    "entity_id",
    ["/etc/passwd", "../x", "analysis/../../x", "file:///etc/passwd", "https://h/x", "a\x00b"],
)
def test_entity_paths_outside_the_crate_are_refused(entity_id: str, tmp_path: Path) -> None:
    with pytest.raises(CrateError, match="input 'x'"):
        crate_path(tmp_path, entity_id, "input 'x'")


def test_links_inside_the_crate_are_followed_links_out_refused(tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "data.txt").write_text("x")
    os.symlink("data.txt", tmp_path / "analysis" / "alias.txt")
    assert (
        crate_path(tmp_path, "analysis/alias.txt", "input")
        == (tmp_path / "analysis" / "data.txt").resolve()
    )
    check_tree(tmp_path)
    os.symlink("/etc", tmp_path / "analysis" / "etc")
    with pytest.raises(CrateError, match="etc is a symbolic link to /etc, outside"):
        check_tree(tmp_path)
    with pytest.raises(CrateError, match="leads outside the crate"):
        crate_path(tmp_path, "analysis/etc/passwd", "input 'x'")


@pytest.mark.parametrize(
    "mount", ["/", "/etc/passwd", "/preserve", "/preserve/outputs", "/preserve/outputs/x", "x"]
)
def test_mounts_must_lie_under_preserve_and_not_over_the_outputs(mount: str) -> None:
    with pytest.raises(CrateError, match="is to be mounted at"):
        check_mount(mount, "input 'x'")
    check_mount("/preserve/inputs/x/file.h5", "input 'x'")


def test_the_reader_decides_the_environment() -> None:
    recorded = [{"name": "MODE", "value": "fast"}, {"name": "TOKEN", "withheld": True}]
    reader = {"TOKEN": "ghp_" + "a" * 36, "HOME": "/root"}
    with pytest.raises(ConfigError, match="TOKEN was withheld") as refused:
        environment(recorded, {}, reader)
    assert "--env TOKEN" in str(refused.value.hint)
    env = environment(recorded, {"TOKEN": None}, reader)
    assert env.values == {"MODE": "fast", "TOKEN": reader["TOKEN"]}  # HOME never
    assert [(r.name, r.value, r.withheld) for r in env.records] == [
        ("MODE", "fast", False),
        ("TOKEN", None, True),
    ]
    assert env.withheld == [reader["TOKEN"]]
    assert environment(recorded, {"TOKEN": "x", "MODE": "slow"}, {}).values["MODE"] == "slow"
    with pytest.raises(ConfigError, match="does not declare: HOME"):
        environment(recorded, {"HOME": None, "TOKEN": "x"}, reader)
    with pytest.raises(ConfigError, match="TOKEN is not set in your environment"):
        environment(recorded, {"TOKEN": None}, {})


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": "-1g"}, "memory limit '-1g'"),
        ({"memory": "lots"}, "memory limit 'lots'"),
        ({"cpus": -2}, "CPU limit -2"),
        ({"timeout": 0}, "time limit 0"),
    ],
)
def test_recorded_limits_must_be_meaningful(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(CrateError, match=message):
        limits(resources)
    assert limits({"memory": "512m", "cpus": 1.5, "timeout": 60}) == ("512m", 1.5, 60)
