"""HDF5/NeXus outputs: data compared, container-level differences ignored."""

from __future__ import annotations

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from preserve.compare import compare_output
from tests.compare.conftest import intensity, sha256, write_nexus


def _compare(pair: tuple[Path, Path], rtol: float = 0.0, atol: float = 0.0, **kw):  # type: ignore[no-untyped-def]
    expected, actual = pair
    return compare_output(expected, actual, rtol=rtol, atol=atol, path="out.h5", **kw)


def test_identical_bytes_are_identical(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0])
    pair[1].write_bytes(pair[0].read_bytes())
    result = _compare(pair)
    assert result.verdict == "identical"
    assert result.format == "bytes"
    assert result.summary == f"identical bytes (sha256 {sha256(pair[0])[:12]})"
    assert result.max_abs is None


def test_timestamps_written_at_different_times_are_equivalent(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0], track_times=True)
    time.sleep(1.1)  # HDF5 object timestamps have a resolution of one second
    write_nexus(pair[1], track_times=True)
    assert sha256(pair[0]) != sha256(pair[1])
    result = _compare(pair)
    assert result.verdict == "equivalent"
    assert result.format == "hdf5"
    assert result.summary == "bytes differ; data equal exactly"
    assert result.differences == []
    assert result.attribute_differences == []
    assert (result.max_abs, result.max_rel) == (0.0, 0.0)


def test_chunking_compression_and_object_order_do_not_count(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0])
    write_nexus(pair[1], chunks=(7, 5), compression="gzip", reverse_order=True)
    with h5py.File(pair[1]) as f:
        assert f["entry/data/I"].compression == "gzip"
    assert sha256(pair[0]) != sha256(pair[1])
    result = _compare(pair)
    assert result.verdict == "equivalent"
    assert result.differences == []


def test_link_creation_order_tracking_does_not_count(pair: tuple[Path, Path]) -> None:
    def groups(path: Path, names: list[str], track_order: bool) -> None:
        with h5py.File(path, "w", track_order=track_order) as f:
            for name in names:
                f.create_dataset(name, data=np.arange(3))

    groups(pair[0], ["a", "b", "c"], track_order=False)
    groups(pair[1], ["c", "a", "b"], track_order=True)
    with h5py.File(pair[1]) as f:
        assert list(f) == ["c", "a", "b"]
    assert _compare(pair).verdict == "equivalent"


def test_byte_order_does_not_count(pair: tuple[Path, Path]) -> None:
    data = intensity()
    write_nexus(pair[0], data.astype("<f8"))
    write_nexus(pair[1], data.astype(">f8"))
    assert _compare(pair).verdict == "equivalent"


def test_values_within_tolerance_report_the_largest_deviations(pair: tuple[Path, Path]) -> None:
    data = intensity()
    perturbed = data * (1 + 1e-12 * np.cos(np.arange(data.size)).reshape(data.shape))
    write_nexus(pair[0], data)
    write_nexus(pair[1], perturbed)
    result = _compare(pair, rtol=1e-9)
    deviation = np.abs(perturbed - data)
    assert result.verdict == "equivalent"
    assert result.max_abs == pytest.approx(deviation.max(), rel=1e-12)
    assert result.max_rel == pytest.approx((deviation / np.abs(data)).max(), rel=1e-12)
    assert result.summary == (
        f"bytes differ; data equal within rtol=1e-09, atol=0; max abs dev {result.max_abs:.1e},"
        f" max rel dev {result.max_rel:.1e} in /entry/data/I"
    )
    [note] = result.differences
    assert note.kind == "within-tolerance"
    n_unequal = int((perturbed != data).sum())
    assert note.detail is not None
    assert note.detail.startswith(f"{n_unequal} of 1200 values differ within rtol=1e-09")
    first = tuple(int(i) for i in np.argwhere(perturbed != data)[0])
    assert note.location == f"/entry/data/I[{first[0]}, {first[1]}]"


def test_values_beyond_tolerance_name_dataset_index_and_values(pair: tuple[Path, Path]) -> None:
    data = intensity()
    changed = data.copy()
    changed[12, 3] += 0.5
    changed[30, 1] += 2.0
    write_nexus(pair[0], data)
    write_nexus(pair[1], changed)
    result = _compare(pair, rtol=1e-9)
    assert result.verdict == "different"
    [difference] = result.differences
    assert difference.location == "/entry/data/I[12, 3]"
    assert difference.kind == "values"
    assert difference.expected == str(data[12, 3])
    assert difference.actual == str(changed[12, 3])
    assert difference.detail == "2 of 1200 values beyond rtol=1e-09, atol=0"
    assert result.summary.startswith("/entry/data/I[12, 3]: 2 of 1200 values beyond")
    assert f"expected {data[12, 3]}, got {changed[12, 3]}" in result.summary
    assert result.max_abs == pytest.approx(2.0)


def test_integers_exact_unless_a_tolerance_is_given(pair: tuple[Path, Path]) -> None:
    counts = np.arange(100, dtype=np.int64) * 1000
    bumped = counts.copy()
    bumped[7] += 1
    write_nexus(pair[0], extra=lambda f: f.create_dataset("counts", data=counts))
    write_nexus(pair[1], extra=lambda f: f.create_dataset("counts", data=bumped))
    exact = _compare(pair)
    assert exact.verdict == "different"
    assert exact.differences[0].location == "/counts[7]"
    assert (exact.differences[0].expected, exact.differences[0].actual) == ("7000", "7001")
    tolerant = _compare(pair, atol=1.0)
    assert tolerant.verdict == "equivalent"
    assert tolerant.max_abs == 1.0
    assert tolerant.max_rel == pytest.approx(1 / 7000)


def test_large_integers_differing_by_one_are_not_rounded_together(pair: tuple[Path, Path]) -> None:
    big = np.array([2**62, 5], dtype=np.int64)
    write_nexus(pair[0], extra=lambda f: f.create_dataset("big", data=big))
    write_nexus(pair[1], extra=lambda f: f.create_dataset("big", data=big + np.array([1, 0])))
    # float64 cannot tell 2**62 from 2**62 + 1, but the integers differ by 1 > atol.
    assert _compare(pair, atol=0.5).verdict == "different"


def test_nan_equals_nan_but_not_a_number(pair: tuple[Path, Path]) -> None:
    data = intensity()
    data[0, 0] = np.nan
    data[1, 1] = np.inf
    write_nexus(pair[0], data)
    write_nexus(pair[1], data, chunks=(10, 10))
    assert _compare(pair).verdict == "equivalent"
    other = data.copy()
    other[0, 0] = 1.0
    other[1, 1] = -np.inf
    write_nexus(pair[1], other)
    result = _compare(pair, rtol=1.0, atol=1e9)
    assert result.verdict == "different"
    assert result.differences[0].location == "/entry/data/I[0, 0]"
    assert (result.differences[0].expected, result.differences[0].actual) == ("nan", "1.0")
    assert result.differences[0].detail == "2 of 1200 values beyond rtol=1, atol=1e+09"
    assert result.max_abs == np.inf
    assert result.to_json()["max_abs"] == "inf"


@pytest.mark.parametrize(
    ("changed", "kind", "location", "expected", "actual"),
    [
        (np.zeros((40, 31)), "shape", "/entry/data/I", "(40, 30)", "(40, 31)"),
        (intensity().astype(np.float32), "dtype", "/entry/data/I", "float64", "float32"),
    ],
)
def test_shape_and_dtype_differences(
    pair: tuple[Path, Path],
    changed: np.ndarray,
    kind: str,
    location: str,
    expected: str,
    actual: str,
) -> None:
    write_nexus(pair[0])
    write_nexus(pair[1], changed)
    result = _compare(pair, rtol=1e-3)
    assert result.verdict == "different"
    [difference] = result.differences
    assert (difference.kind, difference.location) == (kind, location)
    assert (difference.expected, difference.actual) == (expected, actual)


def test_missing_dataset_and_extra_group(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0], extra=lambda f: f.create_dataset("entry/sample/temperature", data=[295.0]))
    write_nexus(pair[1], extra=lambda f: f.create_group("entry/process"))
    result = _compare(pair)
    assert result.verdict == "different"
    by_location = {d.location: d for d in result.differences}
    assert set(by_location) == {"/entry/process", "/entry/sample"}
    assert by_location["/entry/sample"].expected == "group"
    assert by_location["/entry/sample"].detail == "group missing from rerun output"
    assert by_location["/entry/process"].actual == "group"
    assert by_location["/entry/process"].detail == "unexpected group in rerun output"


def test_missing_dataset_in_existing_group_is_described(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0], extra=lambda f: f.create_dataset("entry/data/err", data=np.ones(4)))
    write_nexus(pair[1])
    [difference] = _compare(pair).differences
    assert difference.location == "/entry/data/err"
    assert difference.expected == "dataset float64 (4,)"
    assert difference.actual is None


def test_attributes_are_reported_separately(pair: tuple[Path, Path]) -> None:
    def stamp(f: h5py.File) -> None:
        f["entry/data/I"].attrs["units"] = "photons"
        del f["entry/data"].attrs["signal"]
        f["entry"].attrs["program"] = "azint 1.2"

    write_nexus(pair[0])
    write_nexus(pair[1], file_time="2025-06-01T12:00:00", extra=stamp)
    result = _compare(pair)
    assert result.verdict == "equivalent"
    assert result.differences == []
    by_location = {d.location: d for d in result.attribute_differences}
    assert set(by_location) == {
        "/@file_time",
        "/entry/data/I@units",
        "/entry/data@signal",
        "/entry@program",
    }
    assert (
        by_location["/entry/data/I@units"].expected,
        by_location["/entry/data/I@units"].actual,
    ) == (
        "'counts'",
        "'photons'",
    )
    assert by_location["/entry/data@signal"].actual is None
    assert by_location["/entry@program"].expected is None
    assert (
        result.summary == "bytes differ; data equal exactly; 4 attribute differences (not counted)"
    )
    strict = _compare(pair, strict_attributes=True)
    assert strict.verdict == "different"
    assert strict.summary.startswith("/@file_time: attribute value differs")


def test_numeric_attributes_compared_within_tolerance(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0], extra=lambda f: f.attrs.__setitem__("wavelength", 1.0))
    write_nexus(pair[1], extra=lambda f: f.attrs.__setitem__("wavelength", 1.0 + 1e-12))
    assert _compare(pair, rtol=1e-9).attribute_differences == []
    [attribute] = _compare(pair).attribute_differences
    assert (attribute.location, attribute.expected, attribute.actual) == (
        "/@wavelength",
        "1.0",
        "1.000000000001",
    )


def test_string_datasets_compare_exactly(pair: tuple[Path, Path]) -> None:
    names = np.array(["Si", "LaB6", "CeO2"], dtype=h5py.string_dtype())
    other = np.array(["Si", "LaB6", "CeO3"], dtype=h5py.string_dtype())
    write_nexus(pair[0], extra=lambda f: f.create_dataset("samples", data=names))
    write_nexus(pair[1], extra=lambda f: f.create_dataset("samples", data=other))
    result = _compare(pair, rtol=1.0, atol=1.0)
    [difference] = result.differences
    assert (difference.location, difference.expected, difference.actual) == (
        "/samples[2]",
        "b'CeO2'",
        "b'CeO3'",
    )
    assert difference.detail == "1 of 3 values differ"


def test_fixed_and_variable_length_strings_are_different_types(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0], extra=lambda f: f.create_dataset("s", data=np.array([b"ab"])))
    write_nexus(
        pair[1],
        extra=lambda f: f.create_dataset(
            "s", data=np.array([b"ab"], dtype=h5py.string_dtype("ascii"))
        ),
    )
    [difference] = _compare(pair).differences
    assert (difference.kind, difference.expected, difference.actual) == (
        "dtype",
        "2-byte ascii string",
        "variable-length ascii string",
    )


def test_compound_datasets_compare_field_by_field(pair: tuple[Path, Path]) -> None:
    dtype = np.dtype([("h", "i4"), ("q", "f8"), ("label", "S8")])
    peaks = np.array([(i, 0.1 * i, b"peak") for i in range(10)], dtype=dtype)
    shifted = peaks.copy()
    shifted["q"][3] += 1e-13
    shifted["label"][5] = b"ghost"
    write_nexus(pair[0], extra=lambda f: f.create_dataset("entry/peaks", data=peaks))
    write_nexus(pair[1], extra=lambda f: f.create_dataset("entry/peaks", data=shifted))
    result = _compare(pair, rtol=1e-9)
    assert result.verdict == "different"
    [label, q] = result.differences
    assert (label.location, label.expected, label.actual) == (
        "/entry/peaks[5].label",
        "b'peak'",
        "b'ghost'",
    )
    assert (q.location, q.kind) == ("/entry/peaks[3].q", "within-tolerance")
    assert result.max_abs == pytest.approx(1e-13, rel=1e-3)


def test_compound_field_order_is_part_of_the_type(pair: tuple[Path, Path]) -> None:
    a = np.zeros(2, dtype=[("x", "f8"), ("y", "f8")])
    b = np.zeros(2, dtype=[("y", "f8"), ("x", "f8")])
    write_nexus(pair[0], extra=lambda f: f.create_dataset("xy", data=a))
    write_nexus(pair[1], extra=lambda f: f.create_dataset("xy", data=b))
    [difference] = _compare(pair).differences
    assert difference.kind == "dtype"
    assert difference.expected == "compound {x: float64, y: float64}"


def test_scalar_and_empty_datasets(pair: tuple[Path, Path]) -> None:
    def scalars(value: float) -> object:
        def write(f: h5py.File) -> None:
            f.create_dataset("entry/energy", data=value)
            f.create_dataset("entry/nothing", data=h5py.Empty("f8"))

        return write

    write_nexus(pair[0], extra=scalars(12.4))
    write_nexus(pair[1], extra=scalars(12.4), chunks=(10, 10))
    assert _compare(pair).verdict == "equivalent"
    write_nexus(pair[1], extra=scalars(12.5))
    [difference] = _compare(pair).differences
    assert (difference.location, difference.expected, difference.actual) == (
        "/entry/energy",
        "12.4",
        "12.5",
    )


def test_soft_links_compared_by_target(pair: tuple[Path, Path]) -> None:
    write_nexus(
        pair[0], extra=lambda f: f.__setitem__("entry/signal", h5py.SoftLink("/entry/data/I"))
    )
    write_nexus(
        pair[1], extra=lambda f: f.__setitem__("entry/signal", h5py.SoftLink("/entry/data/q"))
    )
    [difference] = _compare(pair).differences
    assert (difference.location, difference.expected, difference.actual) == (
        "/entry/signal",
        "/entry/data/I",
        "/entry/data/q",
    )


def test_hard_link_aliases_must_be_reproduced(pair: tuple[Path, Path]) -> None:
    def alias(f: h5py.File) -> None:
        f["entry/default"] = f["entry/data"]

    def copy(f: h5py.File) -> None:
        f.copy(f["entry/data"], "entry/default")

    write_nexus(pair[0], extra=alias)
    write_nexus(pair[1], extra=alias, chunks=(10, 10))
    assert _compare(pair).verdict == "equivalent"
    write_nexus(pair[1], extra=copy)
    [difference] = _compare(pair).differences
    assert difference.location == "/entry/default"
    assert difference.expected == "hard link to /entry/data"


def test_object_references_compared_by_target_path(pair: tuple[Path, Path]) -> None:
    def refs(target: str, chunks: bool) -> object:
        def write(f: h5py.File) -> None:
            ref = f[target].ref
            f.create_dataset("entry/refs", data=[ref], dtype=h5py.ref_dtype, chunks=chunks or None)

        return write

    write_nexus(pair[0], extra=refs("/entry/data/I", False))
    write_nexus(pair[1], extra=refs("/entry/data/I", True))
    assert _compare(pair).verdict == "equivalent"
    write_nexus(pair[1], extra=refs("/entry/data/q", False))
    [difference] = _compare(pair).differences
    assert (difference.expected, difference.actual) == ("'/entry/data/I'", "'/entry/data/q'")


def test_rerun_output_that_is_not_hdf5_is_different(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0])
    pair[1].write_text("Traceback (most recent call last):\n")
    result = _compare(pair)
    assert result.verdict == "different"
    assert result.format == "hdf5"
    assert result.differences[0].kind == "format"


def test_published_h5_that_is_not_hdf5_is_compared_as_text(pair: tuple[Path, Path]) -> None:
    pair[0].write_text("not really hdf5\n")
    pair[1].write_text("not really hdf5 either\n")
    result = _compare(pair)
    assert (result.format, result.verdict) == ("text", "different")


def test_hdf5_found_by_signature_after_a_user_block(tmp_path: Path) -> None:
    published, rerun = tmp_path / "a.dat", tmp_path / "b.dat"
    for path, chunks in ((published, None), (rerun, (5, 5))):
        with h5py.File(path, "w", userblock_size=512) as f:
            f.create_dataset("x", data=np.eye(10), chunks=chunks)
    result = compare_output(published, rerun, rtol=0, atol=0, path="a.dat")
    assert (result.format, result.verdict) == ("hdf5", "equivalent")


def test_many_differing_datasets_are_capped(pair: tuple[Path, Path]) -> None:
    def many(offset: float) -> object:
        def write(f: h5py.File) -> None:
            for i in range(40):
                f.create_dataset(f"runs/r{i:02d}", data=np.full(3, offset))

        return write

    write_nexus(pair[0], extra=many(0.0))
    write_nexus(pair[1], extra=many(1.0))
    result = _compare(pair)
    assert len(result.differences) == 25
    assert result.omitted_differences == 15
    assert result.summary.endswith("(+39 more)")
    assert result.to_json()["omitted_differences"] == 15


def test_variable_length_sequences_compare_exactly(pair: tuple[Path, Path]) -> None:
    def ragged(last: float) -> object:
        def write(f: h5py.File) -> None:
            ds = f.create_dataset("entry/ragged", (3,), dtype=h5py.vlen_dtype(np.float64))
            ds[0], ds[1], ds[2] = np.arange(3.0), np.array([np.nan]), np.array([1.0, last])

        return write

    write_nexus(pair[0], extra=ragged(2.0))
    write_nexus(pair[1], extra=ragged(2.0), chunks=(10, 10))
    assert _compare(pair).verdict == "equivalent"
    write_nexus(pair[1], extra=ragged(2.5))
    [difference] = _compare(pair, rtol=1.0).differences
    assert (difference.location, difference.expected, difference.actual) == (
        "/entry/ragged[2]",
        "[1., 2.]",
        "[1. , 2.5]",
    )


def test_truncated_rerun_file_is_different(pair: tuple[Path, Path]) -> None:
    write_nexus(pair[0])
    pair[1].write_bytes(pair[0].read_bytes()[:2000])
    result = _compare(pair)
    assert result.verdict == "different"
    assert result.differences[0].kind in ("format", "unreadable")
