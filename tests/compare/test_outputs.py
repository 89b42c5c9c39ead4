"""compare_output / compare_outputs / reproduced: verdicts, errors, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from preserve.compare import compare_output, compare_outputs, reproduced, sniff
from preserve.errors import ConfigError, CrateError, DataError
from preserve.progress import Task
from tests.compare.conftest import write_nexus


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    published, rerun = tmp_path / "published", tmp_path / "rerun"
    for root in (published, rerun):
        (root / "out").mkdir(parents=True)
        (root / "out" / "log.txt").write_text("done\n")
    write_nexus(published / "out" / "I.h5")
    write_nexus(rerun / "out" / "I.h5", chunks=(10, 10))
    (published / "out" / "peaks.csv").write_text("q,I\n0.1,5\n")
    (rerun / "out" / "peaks.csv").write_text("q,I\n0.1,6\n")
    (published / "out" / "fit.json").write_text('{"chi2": 1.0}')
    return published, rerun


PATHS = ["out/log.txt", "out/I.h5", "out/peaks.csv", "out/fit.json"]


def test_compare_outputs_gives_one_verdict_per_path(dirs: tuple[Path, Path]) -> None:
    results = compare_outputs(*dirs, PATHS, 1e-9, 0.0)
    assert [(r.path, r.verdict, r.format) for r in results] == [
        ("out/log.txt", "identical", "bytes"),
        ("out/I.h5", "equivalent", "hdf5"),
        ("out/peaks.csv", "different", "csv"),
        ("out/fit.json", "missing", "bytes"),
    ]
    assert not reproduced(results)
    assert reproduced(results[:2])
    assert results[3].summary == "missing: the rerun did not produce this output"


def test_reports_are_plain_json(dirs: tuple[Path, Path]) -> None:
    results = compare_outputs(*dirs, PATHS, 1e-9, 0.0)
    report = json.loads(json.dumps([r.to_json() for r in results], allow_nan=False))
    csv_report = report[2]
    assert csv_report["verdict"] == "different"
    assert csv_report["rtol"] == 1e-9
    assert csv_report["max_abs"] == 1.0
    assert csv_report["differences"] == [
        {
            "location": "row 1, column 'I'",
            "kind": "values",
            "expected": "5",
            "actual": "6",
            "detail": "1 of 1 in column 'I' beyond rtol=1e-09, atol=0",
        }
    ]


def test_missing_actual_given_as_none(dirs: tuple[Path, Path]) -> None:
    published, _ = dirs
    result = compare_output(published / "out/log.txt", None, rtol=0, atol=0, path="out/log.txt")
    assert (result.verdict, result.reproduced) == ("missing", False)


def test_directory_in_place_of_a_file_is_different(dirs: tuple[Path, Path]) -> None:
    published, rerun = dirs
    (rerun / "out" / "fit.json").mkdir()
    [result] = compare_outputs(published, rerun, ["out/fit.json"], 0, 0)
    assert result.verdict == "different"
    assert result.differences[0].actual == "not a regular file"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.txt", "out/../../x", ""])
def test_output_paths_must_stay_inside_the_directories(dirs: tuple[Path, Path], bad: str) -> None:
    with pytest.raises(CrateError, match="not a relative path inside"):
        compare_outputs(*dirs, [bad], 0, 0)


def test_published_output_must_exist(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(DataError, match=r"published output out/none\.txt not found") as info:
        compare_outputs(*dirs, ["out/none.txt"], 0, 0)
    assert info.value.hint == "fetch the published outputs before comparing"


@pytest.mark.parametrize(("rtol", "atol"), [(-1e-9, 0.0), (0.0, float("nan")), (float("inf"), 0.0)])
def test_tolerance_must_be_finite_and_not_negative(
    dirs: tuple[Path, Path], rtol: float, atol: float
) -> None:
    with pytest.raises(ConfigError, match="tolerance"):
        compare_outputs(*dirs, PATHS, rtol, atol)


def test_empty_files(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "b").write_bytes(b"x\n")
    result = compare_output(tmp_path / "a", tmp_path / "b", rtol=0, atol=0, path="a")
    assert (result.format, result.verdict) == ("text", "different")
    (tmp_path / "b").write_bytes(b"")
    assert compare_output(tmp_path / "a", tmp_path / "b", rtol=0, atol=0, path="a").verdict == (
        "identical"
    )


def test_sniff(tmp_path: Path) -> None:
    write_nexus(tmp_path / "data.nxs")
    (tmp_path / "renamed.bin").write_bytes((tmp_path / "data.nxs").read_bytes())
    (tmp_path / "t.TSV").write_text("a\tb\n")
    (tmp_path / "x.jsonld").write_text("{}")
    (tmp_path / "notes").write_text("é\n")
    np.arange(10, dtype=np.float64).tofile(tmp_path / "raw.dat")
    found = {p.name: sniff(p) for p in tmp_path.iterdir()}
    assert found == {
        "data.nxs": "hdf5",
        "renamed.bin": "hdf5",
        "t.TSV": "tsv",
        "x.jsonld": "json",
        "notes": "text",
        "raw.dat": "binary",
    }


class _Recorder:
    def __init__(self) -> None:
        self.tasks: list[tuple[str, int | None]] = []
        self.advanced: dict[str, int] = {}

    def step(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        self.tasks.append((description, total))
        recorder = self

        class _T:
            def advance(self, amount: int) -> None:
                recorder.advanced[description] = recorder.advanced.get(description, 0) + amount

        yield _T()


def test_progress_is_reported(dirs: tuple[Path, Path]) -> None:
    recorder = _Recorder()
    compare_outputs(*dirs, PATHS[:2], 0, 0, progress=recorder)
    assert recorder.tasks == [("comparing outputs", 2), ("comparing out/I.h5", None)]
    assert recorder.advanced["comparing outputs"] == 2
    # Every dataset of the published file read once: I (40x30) and q (40) float64,
    # and the instrument name, read as the 12 bytes of "P03 beamline".
    assert recorder.advanced["comparing out/I.h5"] == (40 * 30 + 40) * 8 + 12
