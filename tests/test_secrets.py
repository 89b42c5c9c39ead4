"""What counts as a credential, and how it is kept out of crates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.secrets import WITHHELD, is_secret, redact_config, scrub, uri_secrets


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("API_TOKEN", "x", True),
        ("DB_PASSWORD", "x", True),
        ("AWS_SECRET_ACCESS_KEY", "x", True),
        ("SSH_KEY", "x", True),
        ("OMP_NUM_THREADS", "4", False),
        ("KEYWORDS", "powder", False),
        ("NOTES", "ghp_" + "a" * 36, True),  # GitHub token format
        ("NOTES", "glpat-" + "b" * 20, True),  # GitLab
        ("NOTES", "AKIA" + "C" * 16, True),  # AWS access key id
        ("NOTES", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", True),  # JWT
        ("NOTES", "-----BEGIN RSA PRIVATE KEY-----", True),
        ("NOTES", "plain text", False),
    ],
)
def test_is_secret(name: str, value: str, secret: bool) -> None:
    assert is_secret(name, value) is secret


def test_json_config_values_withheld(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(
        json.dumps(
            {
                "threshold": 3,
                "db": {"password": "pw-123456"},
                "notes": "ghp_" + "a" * 36,
                "list": [{"token": "t0k3n"}],
            }
        )
    )
    content, keys, values = redact_config(path)
    data = json.loads(content)
    assert data["threshold"] == 3
    assert data["db"]["password"] == WITHHELD and data["notes"] == WITHHELD
    assert data["list"][0]["token"] == WITHHELD
    assert set(keys) == {"db.password", "notes", "list[0].token"}
    assert "pw-123456" in values


def test_key_value_config_withheld_and_untouched_when_clean(tmp_path: Path) -> None:
    env = tmp_path / "settings.env"
    env.write_text("MODE=fast\nAPI_KEY = 'abc-secret-xyz'\n")
    content, keys, _ = redact_config(env)
    assert b"abc-secret-xyz" not in content and b"MODE=fast" in content and keys == ["API_KEY"]
    clean = tmp_path / "clean.yaml"
    clean.write_text("a: 1\n# a comment kept verbatim\n")
    assert redact_config(clean)[0] == clean.read_bytes()


def test_scrub_and_uri_secrets() -> None:
    data, n = scrub(b"token=s3cr3t-value and s3cr3t-value", ["s3cr3t-value"])
    assert n == 2 and b"s3cr3t" not in data
    assert uri_secrets("https://ada:pw@host/x?authz=MACAROON&x=1") == ["pw", "MACAROON"]
    assert uri_secrets("https://host/x?page=2") == []
