"""``preserve doctor`` shows a red DOI line when the datacite provider lacks credentials."""

from __future__ import annotations

import json

from tests.conftest import run_preserve


def test_datacite_without_credentials_fails_with_hint() -> None:
    proc = run_preserve("doctor", "--json", env={"PRESERVE_DOI_PROVIDER": "datacite"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doi = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "doi")
    assert doi["status"] == "fail"
    assert "repository_id and prefix in [doi.datacite]" in doi["detail"]
    assert "PRESERVE_DOI_DATACITE_PASSWORD" in doi["hint"]
    assert "Traceback" not in proc.stdout + proc.stderr
