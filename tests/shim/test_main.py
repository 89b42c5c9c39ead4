"""The shim's command line for batch jobs and platform secrets: ``run --calls FILE`` runs
each call in turn with one result per line (a bad line fails alone), secrets mounted
as files become the environment, and a platform's call id names a folder only when
it can (never a path)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from preserve.shim.__main__ import run_calls, secret_files
from preserve.shim.documents import invocation_id
from preserve.shim.invoke import Context
from tests.servers.dcache import DcacheServer


def test_run_calls_answers_each_call_in_turn(
    shim: Context, dcache: DcacheServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dcache.put("/in/a.txt", b"first")
    dcache.put("/in/b.txt", b"second")
    lines = [
        {
            "invocation_id": "call-a",
            "parameters": {
                "inputs": {"text": dcache.url("/in/a.txt")},
                "output_to": dcache.url("/out/a/", "dav"),
            },
        },
        {"invocation_id": "../../etc", "parameters": {"inputs": {"frames": "http://x/y"}}},
        {
            "invocation_id": "call-b",
            "parameters": {
                "inputs": {"text": dcache.url("/in/b.txt")},
                "output_to": dcache.url("/out/b/", "dav"),
            },
        },
    ]
    calls = tmp_path / "calls.jsonl"
    calls.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run_calls(shim, str(calls)) == 1  # one of them failed
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in results] == ["completed", "failed", "completed"]
    assert [r["invocation_id"] for r in results][::2] == ["call-a", "call-b"]
    assert (
        results[1]["invocation_id"] != "../../etc"
        and "no input named frames" in results[1]["error"]
    )
    assert dcache.files["/out/b/outputs/upper.txt"].data == b"SECONDSECOND"


def test_secrets_mounted_as_files_become_the_environment(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cr3t\n")
    environ = {
        "PRESERVE_SHIM_SECRET_FILES": f"PRESERVE_DATA_TOKEN={tmp_path}/token,API_KEY=/nope",
        "OTHER": "kept",
    }
    out = secret_files(environ)
    assert out["PRESERVE_DATA_TOKEN"] == "s3cr3t" and out["OTHER"] == "kept"
    assert "API_KEY" not in out  # unreadable: said on stderr, not invented


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("a1b2-c3",), "a1b2-c3"),
        (("activation.7_x",), "activation.7_x"),
        ((None, "fallback-1"), "fallback-1"),
        (("../x",), None),
        (("/etc/passwd",), None),
        (("",), None),
        (("x" * 200,), None),
    ],
)
def test_a_platform_call_id_is_used_only_when_it_can_name_a_folder(
    given: tuple[str | None, ...], expected: str | None
) -> None:
    chosen = invocation_id(*given)
    if expected is None:
        assert str(uuid.UUID(chosen)) == chosen  # a new one instead
    else:
        assert chosen == expected
