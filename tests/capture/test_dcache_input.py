"""A capture whose input lives on dCache (WebDAV, davs:// style): the checksums the
storage reports without sending data (RFC 3230 Want-Digest, PROPFIND) are recorded
beside the SHA-256 computed on the way in; a rerun verifies the input again."""

from __future__ import annotations

import hashlib
import json
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import run_preserve
from tests.helpers import git_commit_all, load_graph
from tests.servers.dcache import DcacheServer

pytestmark = [pytest.mark.docker]

SCRIPT = """
import sys, os, h5py
with h5py.File(sys.argv[1], "r") as fh:
    n = fh["/entry/data/counts"][()].sum()
open(os.path.join(sys.argv[2], "total.txt"), "w").write(f"{n}\\n")
"""


@pytest.fixture
def dcache(tmp_path: Path) -> Iterator[tuple[DcacheServer, bytes]]:
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("/entry/data/counts", data=np.arange(1000, dtype=np.uint32))
    data = path.read_bytes()
    server = DcacheServer()
    server.put(
        "/pnfs/example.org/data/beamtime/scan.h5",
        data,
        algorithms=("adler32", "md5"),
        content_type="application/x-hdf5",
    )
    yield server, data
    server.close()


def test_dcache_checksums_recorded_and_verified(
    tmp_path: Path, base_image: str, dcache: tuple[DcacheServer, bytes]
) -> None:
    server, data = dcache
    uri = server.url("/pnfs/example.org/data/beamtime/scan.h5", scheme="dav")
    analysis = tmp_path / "total"
    analysis.mkdir()
    (analysis / "run.py").write_text(SCRIPT)
    (analysis / "Dockerfile").write_text("FROM preserve-base:bookworm\nCOPY run.py /app/run.py\n")
    (analysis / "preserve.yaml").write_text(
        textwrap.dedent(f"""\
        name: total
        title: Total counts of a scan on dCache
        license: MIT
        authors: [{{name: Test Author, affiliation: {{name: Test Lab}}}}]
        command: [python3, /app/run.py, "{{inputs.scan}}", "{{outdir}}"]
        inputs: {{scan: {{uri: "{uri}"}}}}
        outputs: [total.txt]
        """)
    )
    git_commit_all(analysis)
    proc = run_preserve("capture", str(analysis), "-o", str(tmp_path / "crate"))
    assert proc.returncode == 0, proc.stderr
    g = load_graph(tmp_path / "crate")
    entity = g[uri]
    assert entity["sha256"] == hashlib.sha256(data).hexdigest()
    assert entity["md5"] == hashlib.md5(data).hexdigest()
    adler = g[entity["additionalProperty"]["@id"]]
    assert adler["propertyID"] == "adler32" and adler["value"] == f"{zlib.adler32(data):08x}"
    assert entity["encodingFormat"] == "application/x-hdf5"
    assert (tmp_path / "crate" / "outputs" / "total.txt").read_text() == "499500\n"

    proc = run_preserve("rerun", str(tmp_path / "crate"), "-o", str(tmp_path / "rerun"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["reproduced"] is True
