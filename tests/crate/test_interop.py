"""Crates among other tools: ro-crate-py reads and writes ours (folder input, no git
remote) and the written crate still reruns; a zipped crate is accepted where a folder
is; another tool's crate is refused by push before anything is uploaded or changed."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import requests
from rocrate.model import Dataset, File
from rocrate.rocrate import ROCrate

from tests.conftest import Registry, run_preserve
from tests.helpers import git_commit_all, load_graph
from tests.oci.conftest import tree
from tests.rerun.analyses import make

pytestmark = [pytest.mark.docker]

SUMS = """
import os, sys
folder, out = sys.argv[1], sys.argv[2]
total = sum(len(open(os.path.join(d, f), "rb").read()) for d, _, fs in os.walk(folder) for f in fs)
open(os.path.join(out, "total.txt"), "w").write(f"{total}\\n")
"""


@pytest.fixture
def crate(tmp_path: Path, base_image: str) -> Path:
    """A captured crate of an analysis with a local input folder and no git remote."""
    analysis = make(
        tmp_path,
        "sums",
        SUMS,
        ["total.txt"],
        inputs="inputs:\n  scan: {path: data/scan}\n",
        args='"{inputs.scan}", "{outdir}"',
        commit=False,
    )
    for i in range(5):
        (analysis / "data" / "scan" / "sub").mkdir(parents=True, exist_ok=True)
        (analysis / "data" / "scan" / f"frame{i}.bin").write_bytes(bytes(range(i + 1)))
    (analysis / "data" / "scan" / "sub" / "deep.bin").write_bytes(b"deep")
    git_commit_all(analysis)
    out = tmp_path / "crate"
    proc = run_preserve("capture", str(analysis), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_ro_crate_py_reads_writes_and_the_written_crate_reruns(crate: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "looks like a data entity but ..." either
        loaded = ROCrate(crate)
    data = {e.id: e for e in loaded.data_entities}
    graph = load_graph(crate)
    described = {
        eid
        for eid, e in graph.items()
        if {"File", "Dataset"} & set([e["@type"]] if isinstance(e["@type"], str) else e["@type"])
        and not eid.startswith(("#", "http"))
        and eid != "./"
    }
    assert described <= set(data), described - set(data)
    assert "preserve-run.json" in data and "analysis/data/scan/" in data
    assert isinstance(data["analysis/data/scan/"], Dataset)
    folders = [eid for eid, e in data.items() if isinstance(e, Dataset)]
    for rel in tree(crate):
        if rel in ("ro-crate-metadata.json", "ro-crate-preview.html"):
            continue
        assert isinstance(data.get(rel), File) or any(rel.startswith(f) for f in folders), rel

    written = tmp_path / "written"
    loaded.write(written)
    assert tree(written).keys() == tree(crate).keys()
    proc = run_preserve("rerun", str(written), "-o", str(tmp_path / "rerun"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["reproduced"] is True
    assert [o["verdict"] for o in report["outputs"]] == ["identical"]


@pytest.mark.registry
def test_a_zipped_crate_is_accepted_where_a_folder_is(
    crate: Path, tmp_path: Path, registry: Registry
) -> None:
    zipped = Path(shutil.make_archive(str(tmp_path / "crate"), "zip", crate))
    before = zipped.read_bytes()
    proc = run_preserve("rerun", str(zipped), "-o", str(tmp_path / "rerun"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["reproduced"] is True
    proc = run_preserve("push", str(zipped), "--to", f"{registry.host}/zip/sums:1", "--json")
    assert proc.returncode == 0, proc.stderr
    pulled = tmp_path / "pulled"
    crate_ref = json.loads(proc.stdout)["crate_ref"]
    assert run_preserve("pull", crate_ref, "-o", str(pulled)).returncode == 0
    assert load_graph(pulled)["#container-image"]["registry"] == registry.host
    assert zipped.read_bytes() == before  # pushed from an unpacked copy


@pytest.mark.registry
def test_push_refuses_another_tools_crate_before_uploading(
    tmp_path: Path, registry: Registry
) -> None:
    foreign = ROCrate()
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    foreign.add_file(tmp_path / "data.csv", properties={"name": "data"})
    foreign.write(tmp_path / "foreign")
    before = tree(tmp_path / "foreign")
    proc = run_preserve("push", str(tmp_path / "foreign"), "--to", f"{registry.host}/x/foreign:1")
    assert proc.returncode == 1
    message = proc.stderr
    assert "is not a crate preserve wrote" in message and "Traceback" not in message
    for lacking in ("a run (a CreateAction", "a container image", "preserve-run.json"):
        assert lacking in message
    assert tree(tmp_path / "foreign") == before
    catalog = requests.get(f"{registry.url}/v2/_catalog", timeout=10).json()
    assert "x/foreign" not in catalog["repositories"]
