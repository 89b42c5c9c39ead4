"""Writing a pulled crate safely: checked paths, a staging folder, rename when complete."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from preserve.errors import CrateError, RegistryError
from preserve.fsmodes import dir_mode


def safe_title(title: str, where: str) -> PurePosixPath:
    """A layer title as a relative path that stays inside the crate."""
    path = PurePosixPath(title)
    bad = (
        not title
        or path.is_absolute()
        or title.startswith("\\")
        or "\\" in title
        or "\x00" in title
        or any(part in ("..", ".", "") for part in title.split("/"))
    )
    if bad:
        raise CrateError(
            f"{where} has a layer titled {title!r}, which is not a safe relative path",
            hint="refusing to write outside the destination; the artifact was not made "
            "by preserve or was tampered with",
        )
    return path


@contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A temporary folder beside ``dest``, renamed to ``dest`` only on success."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise RegistryError(
            f"{dest} already exists", hint="pull into a new directory, or remove this one"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        tmp.chmod(dir_mode())  # mkdtemp's 0700 would make the pulled crate private
    except OSError as exc:
        raise RegistryError(f"cannot create {dest}: {exc.strerror}") from exc
    try:
        yield tmp
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extract_folder(tar_path: Path, root: Path, title: PurePosixPath, where: str) -> None:
    """Unpack a folder layer (ORAS convention: members are prefixed with the title), plain
    tar or tar+gzip, if what it unpacks to fits on the disk."""
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, title, where)
            total = sum(m.size for m in members if m.isfile())
            free = shutil.disk_usage(root).free
            if total > free:
                raise CrateError(
                    f"{where}: folder layer {title} unpacks to {total} bytes; "
                    f"{root} has {free} bytes free",
                    hint="free some space or pull to another disk",
                )
            # The "data" filter repeats our checks and also drops set-id bits and devices.
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CrateError(f"{where}: folder layer {title} could not be unpacked: {exc}") from exc


def _check_member(member: tarfile.TarInfo, title: PurePosixPath, where: str) -> None:
    name = PurePosixPath(member.name)
    inside = name == title or title in name.parents
    unsafe = name.is_absolute() or ".." in name.parts or not inside
    if not unsafe and (member.issym() or member.islnk()):
        base = name.parent if member.issym() else PurePosixPath()
        target = PurePosixPath(member.linkname)
        resolved = _normalize(base / target)
        unsafe = (
            target.is_absolute()
            or resolved is None
            or not (resolved == title or title in resolved.parents)
        )
    if unsafe or not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise CrateError(
            f"{where}: folder layer {title} holds {member.name!r}"
            + (f" -> {member.linkname!r}" if member.linkname else "")
            + ", which escapes the folder or is not a file",
            hint="refusing to write outside the destination; the artifact was tampered with",
        )


def _normalize(path: PurePosixPath) -> PurePosixPath | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts) if parts else PurePosixPath()
