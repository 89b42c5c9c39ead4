"""HDF5/NeXus outputs compared as data, not as bytes.

What counts: the tree of groups, datasets, named datatypes and links (by
name, not by creation order), each dataset's shape and type, and its values
(within tolerance, see :mod:`preserve.compare.values`).

What does not count, because writers vary it freely: object timestamps,
storage layout, chunking, filters/compression, fill values, maximum shapes,
free space, object order and the byte order of numbers.

Attributes are compared too, but reported separately and by default do not
change the verdict: writers stamp attributes such as creation time
(``file_time``), ``HDF5_Version`` or ``h5py_version`` that legitimately change
on every run. Callers that want attribute differences to count pass
``strict_attributes=True`` to :func:`preserve.compare.compare_output`.

Soft and external links are compared by target (not followed); object and
region references by the path they point to; hard-linked aliases by checking
that the rerun links the same object. Variable-length numeric sequences are
compared exactly (no tolerance).

Datasets are read in blocks of at most :data:`BLOCK_BYTES` per file, so a
multi-GB dataset never has to fit in memory, let alone twice.
"""

from __future__ import annotations

import math
import posixpath
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from preserve.compare.blocks import blocks
from preserve.compare.findings import Findings
from preserve.compare.model import Difference, Tolerance
from preserve.compare.nexus import DatasetPlot
from preserve.compare.values import ArrayComparer, render
from preserve.progress import Task

SIGNATURE = b"\x89HDF\r\n\x1a\n"
# One block holds at most this many bytes, counting each element as at least
# 8 bytes because numbers are compared in float64. Peak memory is a small
# multiple of it (measured: under 10x when every value differs).
BLOCK_BYTES = 8 << 20
# The most chunk cache given to one compressed dataset (see _with_chunk_cache).
MAX_CHUNK_CACHE = 256 << 20


class NotHdf5(Exception):
    """The published file cannot be opened as HDF5: compare it another way."""


def has_signature(path: Path) -> bool:
    """The HDF5 signature at offset 0, 512, 1024, 2048, ... (after a user block)."""
    size = path.stat().st_size
    offset = 0
    with path.open("rb") as fh:
        while offset + len(SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(SIGNATURE)) == SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def compare_hdf5(
    expected: Path, actual: Path, tol: Tolerance, findings: Findings, task: Task
) -> None:
    try:
        published = _open(expected)
    except OSError as exc:
        raise NotHdf5(str(exc)) from exc
    with published:
        try:
            rerun = _open(actual)
        except OSError as exc:
            findings.fail(
                Difference("/", "format", "an HDF5 file", "not readable as HDF5", str(exc))
            )
            return
        with rerun:
            try:
                _Walker(tol, findings, task).root(published, rerun)
            except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
                # A damaged file or a type h5py cannot map: the data cannot be shown equal.
                findings.fail(Difference("/", "unreadable", None, None, f"cannot walk file: {exc}"))


def _open(path: Path) -> h5py.File:
    return h5py.File(path, "r")


def _open_child(group: h5py.Group, name: str) -> Any:
    """Open a hard-linked child; datasets with a chunk cache sized for them."""
    if group.get(name, getclass=True) is not h5py.Dataset:
        return group[name]
    # The cache is fixed at the first open, so probe the layout with a handle
    # that is closed (dropped) before the real open.
    probe = h5py.h5d.open(group.id, name.encode())
    cache = _chunk_cache_bytes(probe)
    del probe
    if cache is None:
        return group[name]
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    # w0=1: evict fully read chunks first.
    dapl.set_chunk_cache(10007, cache, 1.0)
    return h5py.Dataset(h5py.h5d.open(group.id, name.encode(), dapl))


def _chunk_cache_bytes(dataset: Any) -> int | None:
    """Cache for two rows of chunks of a compressed (filtered) dataset, else None.

    Blocks follow the published file's chunking, so they can cut across the
    rerun file's chunks; with HDF5's default 1 MiB cache a cut chunk would be
    decompressed once per block (measured 2.7x slower, benchmarks/bench_compare.py).
    Unfiltered datasets keep the default: HDF5 then reads selections directly.
    """
    dcpl = dataset.get_create_plist()
    if dcpl.get_layout() != h5py.h5d.CHUNKED or dcpl.get_nfilters() == 0:
        return None
    chunks, shape = dcpl.get_chunk(), dataset.shape
    per_row = math.prod(-(-n // c) for n, c in zip(shape[1:], chunks[1:], strict=True))
    row_bytes = per_row * math.prod(chunks) * dataset.dtype.itemsize
    return int(min(MAX_CHUNK_CACHE, max(2 * row_bytes, 1 << 20)))


class _Walker:
    def __init__(self, tol: Tolerance, findings: Findings, task: Task) -> None:
        self.tol = tol
        self.findings = findings
        self.task = task
        # Objects with more than one hard link: the first path each was seen at,
        # and the rerun's object there (so aliases are checked, not walked twice).
        self.seen: dict[Any, tuple[str, Any]] = {}

    def root(self, published: h5py.File, rerun: h5py.File) -> None:
        self._object("/", published, rerun)

    def _object(self, path: str, e: Any, a: Any) -> None:
        if self._aliased(path, e, a):
            return
        self._attributes(path, e, a)
        if isinstance(e, h5py.Group):
            self._group(path, e, a)
        elif isinstance(e, h5py.Dataset):
            self._dataset(path, e, a)
        elif isinstance(e, h5py.Datatype):
            self._types(path, "dtype", e.dtype, a.dtype)

    def _aliased(self, path: str, e: Any, a: Any) -> bool:
        if h5py.h5o.get_info(e.id).rc < 2:
            return False
        if e not in self.seen:
            self.seen[e] = (path, a)
            return False
        first, rerun_object = self.seen[e]
        if a != rerun_object:
            self.findings.fail(
                Difference(
                    path,
                    "structure",
                    f"hard link to {first}",
                    "a separate object",
                    "hard link not reproduced",
                )
            )
        return True

    def _group(self, path: str, eg: h5py.Group, ag: h5py.Group) -> None:
        for name in sorted(set(eg.keys()) | set(ag.keys())):
            child = posixpath.join(path, name)
            el, al = eg.get(name, getlink=True), ag.get(name, getlink=True)
            if el is None or al is None:
                self._presence(child, eg, ag, name, el is None)
            elif type(el) is not type(al):
                self._fail(child, "structure", _link_kind(el), _link_kind(al), "link kind differs")
            elif isinstance(el, h5py.SoftLink):
                self._link(child, el.path, al.path)
            elif isinstance(el, h5py.ExternalLink):
                self._link(child, f"{el.filename}:{el.path}", f"{al.filename}:{al.path}")
            else:
                self._hard(child, _open_child(eg, name), _open_child(ag, name))

    def _presence(self, path: str, eg: h5py.Group, ag: h5py.Group, name: str, extra: bool) -> None:
        if extra:
            kind = _describe_link(ag, name)
            self._fail(path, "structure", None, kind, f"unexpected {kind} in rerun output")
        else:
            kind = _describe_link(eg, name)
            self._fail(path, "structure", kind, None, f"{kind} missing from rerun output")

    def _link(self, path: str, expected: str, actual: str) -> None:
        if expected != actual:
            self._fail(path, "structure", expected, actual, "link target differs")

    def _hard(self, path: str, e: Any, a: Any) -> None:
        ek, ak = _object_kind(e), _object_kind(a)
        if ek != ak:
            self._fail(path, "structure", ek, ak, "object kind differs")
        else:
            self._object(path, e, a)

    def _types(self, path: str, kind: str, edt: np.dtype[Any], adt: np.dtype[Any]) -> bool:
        et, at = describe_dtype(edt), describe_dtype(adt)
        if et != at:
            self._fail(path, kind, et, at, "data type differs")
        return et == at

    def _dataset(self, path: str, ed: h5py.Dataset, ad: h5py.Dataset) -> None:
        same_type = self._types(path, "dtype", ed.dtype, ad.dtype)
        if ed.shape != ad.shape:
            self._fail(path, "shape", _shape(ed.shape), _shape(ad.shape), "shape differs")
        elif same_type and ed.shape is not None:
            try:
                self._values(path, ed, ad)
            except (OSError, TypeError, ValueError) as exc:
                self._fail(path, "unreadable", None, None, f"cannot read values: {exc}")

    def _values(self, path: str, ed: h5py.Dataset, ad: h5py.Dataset) -> None:
        plot = DatasetPlot.of(path, ed) if self.findings.wants_plot() else None
        comparer = ArrayComparer(len(ed.shape), self.tol, keep_deviations=plot is not None)
        max_elements = max(1, BLOCK_BYTES // max(8, ed.dtype.itemsize))
        for selection, offset in blocks(ed.shape, max_elements, ed.chunks):
            e, a = _read(ed, selection), _read(ad, selection)
            comparer.update(e, a, offset)
            if plot is not None:
                plot.update(selection, e, a, offset, comparer.deviations)
            self.task.advance(e.nbytes)
        comparer.report(self.findings, path)
        if plot is not None and comparer.unequal():
            self.findings.plot(plot.result())

    def _attributes(self, path: str, e: Any, a: Any) -> None:
        enames, anames = set(e.attrs.keys()), set(a.attrs.keys())
        for name in sorted(enames | anames):
            at = f"{path}@{name}"
            if name not in anames:
                self._attr(at, _attr_text(e, name), None, "attribute missing from rerun output")
            elif name not in enames:
                self._attr(at, None, _attr_text(a, name), "unexpected attribute in rerun output")
            else:
                self._attribute_values(at, e, a, name)

    def _attribute_values(self, at: str, e: Any, a: Any, name: str) -> None:
        try:
            edt, adt = e.attrs.get_id(name).dtype, a.attrs.get_id(name).dtype
            ev, av = e.attrs[name], a.attrs[name]
        except (OSError, TypeError, ValueError) as exc:
            self._attr(at, None, None, f"cannot read attribute: {exc}")
            return
        if describe_dtype(edt) != describe_dtype(adt):
            self._attr(at, describe_dtype(edt), describe_dtype(adt), "attribute type differs")
            return
        if isinstance(ev, h5py.Empty) or isinstance(av, h5py.Empty):
            if not (isinstance(ev, h5py.Empty) and isinstance(av, h5py.Empty)):
                self._attr(at, render(ev), render(av), "attribute value differs")
            return
        ea, aa = np.asarray(ev), np.asarray(av)
        if ea.shape != aa.shape:
            self._attr(at, _shape(ea.shape), _shape(aa.shape), "attribute shape differs")
            return
        comparer = ArrayComparer(ea.ndim, self.tol)
        comparer.update(ea, aa, (0,) * ea.ndim)
        if comparer.differs():
            # Show the whole (short) values, not the first differing element.
            self._attr(at, render(ev), render(av), "attribute value differs")

    def _fail(
        self, path: str, kind: str, expected: str | None, actual: str | None, detail: str
    ) -> None:
        self.findings.fail(Difference(path, kind, expected, actual, detail))

    def _attr(self, at: str, expected: str | None, actual: str | None, detail: str) -> None:
        self.findings.attribute(Difference(at, "attribute", expected, actual, detail))


def _read(ds: h5py.Dataset, selection: tuple[slice, ...]) -> np.ndarray:
    values = np.asarray(ds[selection])
    if h5py.check_ref_dtype(ds.dtype) is not None:
        # References are file addresses: compare the paths they point to.
        return _dereference(ds.file, values)
    return values


def _dereference(file: h5py.File, refs: np.ndarray) -> np.ndarray:
    out = np.empty(refs.shape, dtype=object)
    for index in np.ndindex(*refs.shape):
        ref = refs[index]
        out[index] = file[ref].name if ref else "(null reference)"
    return out


def describe_dtype(dt: np.dtype[Any]) -> str:
    """A data type as a comparable description; byte order and padding left out."""
    string = h5py.check_string_dtype(dt)
    if string is not None:
        size = "variable-length" if string.length is None else f"{string.length}-byte"
        return f"{size} {string.encoding} string"
    ref = h5py.check_ref_dtype(dt)
    if ref is not None:
        return "region reference" if ref is h5py.RegionReference else "object reference"
    vlen = h5py.check_vlen_dtype(dt)
    if vlen is not None:
        return f"variable-length sequence of {describe_dtype(np.dtype(vlen))}"
    enum = h5py.check_enum_dtype(dt)
    if enum is not None:
        return f"enum {dt.newbyteorder('=').name} {dict(sorted(enum.items()))}"
    if dt.names is not None:
        fields = ", ".join(f"{n}: {describe_dtype(dt.fields[n][0])}" for n in dt.names)  # type: ignore[index]
        return f"compound {{{fields}}}"
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return f"{describe_dtype(base)} array {shape}"
    return dt.newbyteorder("=").name


def _shape(shape: tuple[int, ...] | None) -> str:
    return "empty (no dataspace)" if shape is None else str(shape)


def _object_kind(obj: Any) -> str:
    if isinstance(obj, h5py.Group):
        return "group"
    if isinstance(obj, h5py.Dataset):
        return "dataset"
    return "named datatype"


def _link_kind(link: Any) -> str:
    if isinstance(link, h5py.SoftLink):
        return f"soft link to {link.path}"
    if isinstance(link, h5py.ExternalLink):
        return f"external link to {link.filename}:{link.path}"
    return "hard link"


def _describe_link(group: h5py.Group, name: str) -> str:
    link = group.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        return _link_kind(link)
    obj = group[name]
    if isinstance(obj, h5py.Dataset):
        return f"dataset {describe_dtype(obj.dtype)} {_shape(obj.shape)}"
    return _object_kind(obj)


def _attr_text(obj: Any, name: str) -> str:
    try:
        return render(obj.attrs[name])
    except (OSError, TypeError, ValueError) as exc:
        return f"(unreadable: {exc})"
