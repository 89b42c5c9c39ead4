"""Targets by name: parsing ``--to``, plug-ins from the entry-point group, their settings."""

from __future__ import annotations

import pytest

from preserve.errors import ConfigError, PluginNotFound, TargetError
from preserve.settings import Settings
from preserve.targets.base import TargetAddress, open_target, parse_target
from preserve.targets.local import LocalTarget


@pytest.mark.parametrize(
    ("text", "name", "address"),
    [
        ("local", "local", ""),
        ("slurm", "slurm", ""),
        ("oscar+https://oscar.example.org:8443", "oscar", "https://oscar.example.org:8443"),
        ("openwhisk+https://wsk.example.org/guest", "openwhisk", "https://wsk.example.org/guest"),
        ("knative:/srv/manifests", "knative", "/srv/manifests"),
    ],
)
def test_targets_are_named_by_plugin_and_address(text: str, name: str, address: str) -> None:
    parsed = parse_target(text)
    assert parsed == TargetAddress(name, address) and str(parsed) == text


def test_a_malformed_target_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="is not a target"):
        parse_target("+https://no-plugin-name")


def test_open_target_builds_the_plugin_from_its_table() -> None:
    settings = Settings.load(env={}, overrides={"targets": {"local": {"network": "bridge"}}})
    target = open_target("local", settings)
    assert isinstance(target, LocalTarget) and target.opts.network == "bridge"
    with pytest.raises(ConfigError, match=r"\[targets.local\]: network"):
        open_target(
            "local", Settings.load(env={}, overrides={"targets": {"local": {"network": "x"}}})
        )
    with pytest.raises(ConfigError, match=r"\[targets.local\]: colour"):
        open_target("local", Settings.load(env={}, overrides={"targets": {"local": {"colour": 1}}}))
    with pytest.raises(TargetError, match="takes no address"):
        open_target("local:/x", settings)
    with pytest.raises(PluginNotFound, match="no function target named 'nope' is installed"):
        open_target("nope+https://x", settings)
