"""Settings precedence: flags > PRESERVE_* environment > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve import plugins
from preserve.doi.datacite import datacite_options
from preserve.errors import ConfigError, PluginNotFound
from preserve.settings import Settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    s = Settings.load(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert s.registry is None
    assert s.doi_provider == "sandbox"
    assert s.runner == "docker"
    assert s.config_file is None


def test_precedence(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        'registry = "file.example.org/lab"\ndoi_provider = "datacite"\n'
        '[doi.datacite]\nrepository_id = "FILE.REPO"\nprefix = "10.1234"\n',
    )
    env = {"PRESERVE_CONFIG": str(cfg), "PRESERVE_REGISTRY": "env.example.org/lab"}
    s = Settings.load(env=env)
    assert s.registry == "env.example.org/lab"  # env beats file
    assert s.doi_provider == "datacite"  # file beats default
    assert datacite_options(s).repository_id == "FILE.REPO"
    s = Settings.load(env=env, overrides={"registry": "flag.example.org/x", "runner": None})
    assert s.registry == "flag.example.org/x"  # flag beats env
    assert s.runner == "docker"  # an unset flag does not override


def test_nested_env_and_lists(tmp_path: Path) -> None:
    env = {
        "PRESERVE_DOI_DATACITE_PASSWORD": "hunter2",
        "PRESERVE_INSECURE_REGISTRIES": "a.example:5000, b.example",
        "PRESERVE_PUBLISHER": "Example Light Source",
        "PRESERVE_PUBLISHER_ROR": "https://ror.org/01js2sh04",
    }
    s = Settings.load(env=env)
    password = datacite_options(s).password
    assert password is not None and password.get_secret_value() == "hunter2"
    assert s.insecure_registries == ["a.example:5000", "b.example"]
    assert s.publisher is not None and s.publisher.ror == "https://ror.org/01js2sh04"


def test_secrets_never_rendered(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        '[registries."reg.example.org"]\nusername = "ada"\npassword = "pa55word"\n'
        '[doi.datacite]\npassword = "dc-secret"\n',
    )
    s = Settings.load(env={"PRESERVE_CONFIG": str(cfg)})
    rendered = repr(s) + str(s.public_dict())
    assert "pa55word" not in rendered
    assert "dc-secret" not in rendered
    assert s.registries["reg.example.org"].password.get_secret_value() == "pa55word"


def test_unknown_key_names_it(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "regsitry = 'typo'\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"PRESERVE_CONFIG": str(cfg)})
    assert "regsitry" in info.value.message
    assert info.value.hint and str(cfg) in info.value.hint


def test_missing_explicit_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(config_file=tmp_path / "nope.toml", env={})


def test_flat_datacite_table_of_earlier_versions_still_reads(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[datacite]\nrepository_id = "OLD.REPO"\nprefix = "10.1"\n')
    s = Settings.load(env={"PRESERVE_CONFIG": str(cfg), "PRESERVE_DATACITE_PASSWORD": "pw"})
    options = datacite_options(s)
    assert (options.repository_id, options.prefix) == ("OLD.REPO", "10.1")
    assert options.password is not None and options.password.get_secret_value() == "pw"


def test_plugin_table_errors_name_section_and_key(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[runners.podman]\nexecutable = 3\ncolour = "red"\n')
    s = Settings.load(env={"PRESERVE_CONFIG": str(cfg)})  # raw until the plug-in reads it
    with pytest.raises(ConfigError) as info:
        plugins.create(plugins.RUNNERS, "podman", s)
    message = info.value.message
    assert "[runners.podman]" in message
    assert "executable: Input should be a valid string" in message
    assert "colour: unknown key" in message
    assert info.value.hint and str(cfg) in info.value.hint
    assert "PRESERVE_RUNNERS_PODMAN_<KEY>" in info.value.hint


def test_plugin_table_from_the_environment(tmp_path: Path) -> None:
    s = Settings.load(env={"PRESERVE_RUNNERS_PODMAN_EXECUTABLE": "/opt/podman/bin/podman"})
    runner = plugins.create(plugins.RUNNERS, "podman", s)
    assert runner.executable == "/opt/podman/bin/podman"


def test_table_for_a_plugin_not_installed_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[doi.datcite]\nprefix = "10.1"\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(env={"PRESERVE_CONFIG": str(cfg)})
    assert "[doi.datcite]" in info.value.message
    assert "available: datacite, " in info.value.message and "sandbox" in info.value.message


def test_unknown_plugin_name_lists_the_installed_ones(tmp_path: Path) -> None:
    s = Settings.load(env={"PRESERVE_RUNNER": "singularity"})
    with pytest.raises(PluginNotFound) as info:
        plugins.create(plugins.RUNNERS, s.runner, s)
    assert "no runner named 'singularity'" in info.value.message
    assert "docker" in info.value.message and "podman" in info.value.message


def test_current_environment_names_win_over_legacy_ones() -> None:
    env = {"PRESERVE_DATACITE_PREFIX": "10.1", "PRESERVE_DOI_DATACITE_PREFIX": "10.2"}
    assert datacite_options(Settings.load(env=env)).prefix == "10.2"
