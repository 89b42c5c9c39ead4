"""Crates given as a ``.zip`` (RO-Crate allows it): unpacked safely, then used as a folder.

A zip is untrusted like any crate: members must be relative paths that stay
inside the destination, no links, at most :data:`MAX_MEMBERS` of them, and the
bytes written may not exceed what the members declare nor the free disk space.
The crate is unpacked into a staging folder renamed into place when complete.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from preserve.crate.model import CRATE_METADATA
from preserve.errors import CrateError

MAX_MEMBERS = 2_000_000
CHUNK = 1 << 20
FREE_MARGIN = 256 * 2**20  # leave this much disk free


def is_zip(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


@contextmanager
def crate_folder(path: Path, scratch: Path) -> Iterator[Path]:
    """``path`` itself for a folder; for a zip, a temporary unpacked copy (removed after)."""
    if not is_zip(path):
        yield path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="crate-zip-", dir=scratch))
    try:
        yield unzip_crate(path, tmp / "crate")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unzip_crate(zip_path: Path, dest: Path) -> Path:
    """Unpack ``zip_path`` into the new folder ``dest``; return the crate root inside it
    (``dest``, or its only top-level folder when the zip wraps the crate in one)."""
    if not dest.exists():
        staging = dest.parent / f".{dest.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            _extract(zip_path, staging)
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if (dest / CRATE_METADATA).is_file():
        return dest
    children = [p for p in dest.iterdir() if p.is_dir()]
    if len(children) == 1 and (children[0] / CRATE_METADATA).is_file():
        return children[0]
    raise CrateError(
        f"{zip_path} is not a zipped RO-Crate: it has no {CRATE_METADATA} at its top",
        hint="zip the crate folder's contents (or the folder itself)",
    )


def _extract(zip_path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.infolist()
            _check(members, zip_path, dest)
            for info in members:
                target = dest / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("wb") as out:
                    written = 0
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise CrateError(f"{zip_path}: {info.filename} is larger than declared")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise CrateError(f"{zip_path} is not a readable zip: {exc}") from exc
    except OSError as exc:
        raise CrateError(f"cannot unpack {zip_path}: {exc.strerror or exc}") from exc


def _check(members: list[zipfile.ZipInfo], zip_path: Path, dest: Path) -> None:
    if len(members) > MAX_MEMBERS:
        raise CrateError(
            f"{zip_path} holds {len(members)} entries; refusing more than {MAX_MEMBERS}"
        )
    for info in members:
        name = info.filename
        parts = PurePosixPath(name).parts
        mode = info.external_attr >> 16
        if (
            not name
            or name.startswith("/")
            or "\\" in name
            or "\x00" in name
            or ".." in parts
            or (parts and ":" in parts[0])
            or stat.S_ISLNK(mode)
        ):
            raise CrateError(
                f"{zip_path} holds {name!r}, which is a link or leaves the crate",
                hint="refusing to unpack anything outside the destination",
            )
    total = sum(i.file_size for i in members)
    free = shutil.disk_usage(dest).free
    if total > free - FREE_MARGIN:
        raise CrateError(
            f"{zip_path} unpacks to {total} bytes; {dest} has {free} bytes free",
            hint="free some space, or unpack the crate yourself and give the folder",
        )


def zip_crate(crate_dir: Path, zip_path: Path) -> Path:
    """Write the crate in ``crate_dir`` as a zip with ``ro-crate-metadata.json`` at its top.

    Deterministic (sorted members, fixed times and modes), so the same crate gives the
    same bytes; symbolic links are refused rather than followed out of the crate. Folders
    get entries of their own: a Dataset entity ``analysis/`` is then in the zip's payload.
    """
    files = sorted(crate_dir.rglob("*"))
    if not (crate_dir / CRATE_METADATA).is_file():
        raise CrateError(f"{crate_dir} is not an RO-Crate: it has no {CRATE_METADATA}")
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            name = path.relative_to(crate_dir).as_posix()
            if path.is_dir() and not path.is_symlink():
                folder = zipfile.ZipInfo(name + "/", (1980, 1, 1, 0, 0, 0))
                folder.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10  # MS-DOS directory
                zf.writestr(folder, b"")
                continue
            if path.is_symlink() or not path.is_file():
                raise CrateError(f"{path} is a link or not a regular file; not zipping it")
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as src, zf.open(info, "w") as out:
                shutil.copyfileobj(src, out, CHUNK)
    return zip_path
