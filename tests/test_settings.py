"""Settings precedence: flags > PRESERVE_* environment > config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.errors import ConfigError
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
        '[datacite]\nrepository_id = "FILE.REPO"\nprefix = "10.1234"\n',
    )
    env = {"PRESERVE_CONFIG": str(cfg), "PRESERVE_REGISTRY": "env.example.org/lab"}
    s = Settings.load(env=env)
    assert s.registry == "env.example.org/lab"  # env beats file
    assert s.doi_provider == "datacite"  # file beats default
    assert s.datacite.repository_id == "FILE.REPO"
    s = Settings.load(env=env, overrides={"registry": "flag.example.org/x", "runner": None})
    assert s.registry == "flag.example.org/x"  # flag beats env
    assert s.runner == "docker"  # an unset flag does not override


def test_nested_env_and_lists(tmp_path: Path) -> None:
    env = {
        "PRESERVE_DATACITE_PASSWORD": "hunter2",
        "PRESERVE_INSECURE_REGISTRIES": "a.example:5000, b.example",
        "PRESERVE_PUBLISHER": "Example Light Source",
        "PRESERVE_PUBLISHER_ROR": "https://ror.org/01js2sh04",
    }
    s = Settings.load(env=env)
    assert s.datacite.password is not None
    assert s.datacite.password.get_secret_value() == "hunter2"
    assert s.insecure_registries == ["a.example:5000", "b.example"]
    assert s.publisher is not None and s.publisher.ror == "https://ror.org/01js2sh04"


def test_secrets_never_rendered(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "c.toml",
        '[registries."reg.example.org"]\nusername = "ada"\npassword = "pa55word"\n'
        '[datacite]\npassword = "dc-secret"\n',
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
