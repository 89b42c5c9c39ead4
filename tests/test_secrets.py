"""What counts as a credential, and how it is kept out of crates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preserve.capture.config_values import redact_config
from preserve.errors import PreserveError
from preserve.scrub import CHUNK, scrub, scrub_file
from preserve.secrets import (
    WITHHELD,
    command_secrets,
    is_secret,
    redact_text,
    redact_uri,
    secret_env_values,
    uri_secrets,
)


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
        ("DATA_URL", "https://ada:pw@host/x", True),  # a credential in a URI
        ("DATA_URL", "https://host/x?page=2", False),
        ("AUTHOR", "Ada", False),  # AUTH is a word of its own, not a prefix
        ("SIG_LEVEL", "3", False),  # in an environment, physics; in a URI query, a signature
        ("SESSION", "2024-1", False),
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


# -- one policy for URIs ------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "redacted", "values"),
    [
        ("https://ada:pw@host/x", "https://***@host/x", ["pw"]),
        ("https://host/x?api_key=K1&page=2", "https://host/x?api_key=***&page=2", ["K1"]),
        (
            "https://b.s3.amazonaws.com/o?X-Amz-Security-Token=T%2B1&X-Amz-Credential=AKIA"
            "%2F2024&X-Amz-Date=20240101&X-Amz-Signature=abc",
            "https://b.s3.amazonaws.com/o?X-Amz-Security-Token=***&X-Amz-Credential=***"
            "&X-Amz-Date=***&X-Amz-Signature=***",
            ["T+1", "T%2B1", "AKIA/2024", "AKIA%2F2024", "abc"],
        ),
        ("https://h/x?sig=S1&se=2024", "https://h/x?sig=***&se=2024", ["S1"]),
        (
            "https://h/x?token=T1#access_token=T2",
            "https://h/x?token=***#access_token=***",
            ["T1", "T2"],
        ),
        (
            "https://h/x?AWSAccessKeyId=A&Signature=B",
            "https://h/x?AWSAccessKeyId=***&Signature=***",
            ["A", "B"],
        ),
        ("https://h/x?authz=MDAx", "https://h/x?authz=***", ["MDAx"]),
        ("https://h/x?page=2&key-file=a", "https://h/x?page=2&key-file=a", []),
        (
            "https://ghp_" + "a" * 36 + "@github.com/o/r",
            "https://***@github.com/o/r",
            ["ghp_" + "a" * 36],
        ),
    ],
)
def test_redact_uri(uri: str, redacted: str, values: list[str]) -> None:
    assert redact_uri(uri) == redacted
    assert uri_secrets(uri) == values


def test_redact_uri_keeps_clean_uris_byte_for_byte() -> None:
    for uri in (
        "https://h/a%20b?x=1&y=%2F",
        "davs://dcache.example.org:2880/pnfs/f.h5",
        "file:///d/x",
    ):
        assert redact_uri(uri) == uri


# -- command lines --------------------------------------------------------------

GH = "ghp_" + "b" * 36


@pytest.mark.parametrize(
    ("command", "what", "env_name"),
    [
        (["tool", "--token", "abc123"], "the value of --token", "TOKEN"),
        (["tool", "--password=hunter22"], "the value of --password", "PASSWORD"),
        (["tool", "--api-key", "k"], "the value of --api-key", "API_KEY"),
        (["tool", GH], "a GitHub token", "GITHUB_TOKEN"),
        (["tool", "glpat-" + "c" * 20], "a GitLab token", "GITLAB_TOKEN"),
        (["tool", "AKIA" + "D" * 16], "an AWS access key ID", "AWS_ACCESS_KEY_ID"),
        (
            ["tool", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"],
            "a JSON Web Token",
            "TOKEN",
        ),
        (["env", "DB_PASSWORD=x1", "tool"], "the value of DB_PASSWORD", "DB_PASSWORD"),
        (["sh", "-c", "tool --secret s3 run"], "the value of --secret", "SECRET"),
        (["curl", "-H", "Authorization: Bearer abcdefgh123"], "an HTTP credential", "TOKEN"),
        (["fetch", "https://ada:pw@host/x"], "a credential in the URI https://***@host/x", "TOKEN"),
    ],
)
def test_command_secrets_found(command: list[str], what: str, env_name: str) -> None:
    found = command_secrets(command)
    assert [(f.what, f.env_name) for f in found][:1] == [(what, env_name)]


@pytest.mark.parametrize(
    "command",
    [
        ["python3", "/app/run.py", "{config}", "{inputs.frames}", "{outdir}"],
        ["tool", "--token", "$TOKEN", "--password=${DB_PASSWORD}"],
        ["tool", "--token-file", "/run/secrets/t", "--private-key", "/keys/id_ed25519"],
        ["sort", "--sort-key", "name", "--key", "2"],
        ["sh", "-c", 'curl -H "Authorization: Bearer $TOKEN" https://h/x'],
    ],
)
def test_command_without_secrets(command: list[str]) -> None:
    assert command_secrets(command) == []


# -- printed text and files ------------------------------------------------------


def test_redact_text_masks_every_shape_in_a_line() -> None:
    line = (
        f"GET https://u:pw123@h/x?token=t0k3n --password=hunter22 TOKEN={GH} "
        '"client_secret": "cs-1234" Authorization: Bearer abcdefgh123 "Session: 2024 beamtime"'
    )
    out = redact_text(line)
    for secret in ("pw123", "t0k3n", "hunter22", GH, "cs-1234", "abcdefgh123"):
        assert secret not in out
    assert "Session: 2024 beamtime" in out and "GET https://***@h/x?token=***" in out


def test_known_values_scrubbed_across_chunk_boundaries(tmp_path: Path) -> None:
    """A file is scrubbed in 1 MiB chunks: a value or token cut by a boundary is still found."""
    known = "s3cr3t-value-" + "k" * 30
    path = tmp_path / "log.txt"
    pieces = []
    for offset in (CHUNK - 10, 2 * CHUNK - 3, 3 * CHUNK - 25):
        pieces.append(b"x" * (offset - sum(len(p) for p in pieces)))
        pieces.append(known.encode() if len(pieces) % 4 == 1 else GH.encode())
    path.write_bytes(b"".join(pieces) + b"tail\n")
    path.chmod(0o640)
    assert scrub_file(path, [known]) == 3
    data = path.read_bytes()
    assert known.encode() not in data and GH.encode() not in data and data.endswith(b"tail\n")
    assert path.stat().st_mode & 0o777 == 0o640
    assert scrub_file(path, [known]) == 0  # nothing left; the file is not rewritten


def test_secret_env_values_are_the_withheld_and_credential_like() -> None:
    env = {"OMP_NUM_THREADS": "4", "API_TOKEN": "abcd", "NOTES": GH, "SECRET_ONE": "value-1"}
    assert secret_env_values(env, ["SECRET_ONE"]) == ["abcd", GH, "value-1"]


def test_errors_never_carry_a_credential() -> None:
    err = PreserveError(f"GET https://h/x?token={GH} failed", hint=f"try --token {GH}")
    assert GH not in err.message and GH not in (err.hint or "")
    assert "https://h/x?token=***" in err.message
