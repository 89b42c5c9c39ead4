"""The analysis directory copied into the crate, hashed as it streams; local inputs;
the directory the image is built from."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from preserve.capture.inputs import StagedInput, input_mount
from preserve.crate.model import (
    ANALYSIS_DIR,
    FileRecord,
    InputRecord,
)
from preserve.hashing import checksum_manifest, copy_tree_with_hash, copy_with_hash, hash_files
from preserve.manifest import Manifest
from preserve.mediatypes import guess
from preserve.source import git_env


def list_files(directory: Path, exclude: tuple[Path, ...], skip: tuple[str, ...] = ()) -> list[str]:
    """Files of the analysis: git's view (tracked + untracked, not ignored) or a walk.

    ``skip``: relative folders not to list at all (local input folders, copied
    on their own: a scan of 100,000 frames is not walked twice).
    """
    proc = subprocess.run(
        [
            "git",
            "-C",
            str(directory),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
            *(f":(exclude,literal){folder}" for folder in skip),
        ],
        capture_output=True,
        env=git_env(),
    )
    if proc.returncode == 0:
        names = [n for n in proc.stdout.decode().split("\0") if n]
    else:
        names = []
        for root, dirs, files in os.walk(directory):
            rel = Path(root).relative_to(directory).as_posix()
            prefix = "" if rel == "." else f"{rel}/"
            dirs[:] = sorted(
                d for d in dirs if d not in (".git", "__pycache__") and prefix + d not in skip
            )
            names += [prefix + f for f in files]
    out = []
    for name in sorted(set(names)):
        path = directory / name
        if any(path.is_relative_to(e) for e in exclude) or not path.is_file() or path.is_symlink():
            continue
        out.append(name)
    return out


def copy_analysis(
    directory: Path,
    manifest: Manifest,
    staging: Path,
    remote: list[StagedInput],
    exclude: tuple[Path, ...],
) -> tuple[list[FileRecord], list[InputRecord], list[FileRecord]]:
    """Copy the analysis (hashing as it streams) and describe its local inputs."""
    target = staging / ANALYSIS_DIR
    local_specs = [i for i in manifest.inputs if i.path is not None]
    folders = [s for s in local_specs if (directory / str(s.path)).is_dir()]
    folder_prefixes = tuple(
        f"{PurePosixPath(str(s.path)).as_posix().rstrip('/')}/" for s in folders
    )
    skip = tuple(prefix.rstrip("/") for prefix in folder_prefixes)
    names = [
        n
        for n in list_files(directory, exclude, skip)
        if not n.startswith(folder_prefixes) and n != manifest.config
    ]
    for spec in local_specs:  # declared inputs are included even if git ignores them
        if spec not in folders and spec.path not in names:
            names.append(str(PurePosixPath(str(spec.path))))
    digests = copy_files(directory, target, sorted(set(names)))

    records: dict[str, InputRecord] = {s.spec.name: s.record for s in remote}
    extra: list[FileRecord] = []
    for spec in local_specs:
        rel = PurePosixPath(str(spec.path)).as_posix().rstrip("/")
        crate_id = f"{ANALYSIS_DIR}/{rel}"
        if spec in folders:
            entries = copy_tree_with_hash(directory / rel, target / rel)
            listing = checksum_manifest(entries)
            manifest_file = write_extra(
                staging,
                f"checksums/{spec.name}.sha256",
                listing,
                f"SHA-256 of every file of input '{spec.name}' (sha256sum format).",
            )
            extra += manifest_file
            records[spec.name] = InputRecord(
                name=spec.name,
                id=f"{crate_id}/",
                mount=input_mount(spec.name, "", True),
                size=sum(e.size for e in entries),
                sha256=None,
                encoding_format=None,
                remote=False,
                is_dir=True,
                doi=spec.doi,
                description=spec.description,
                file_count=len(entries),
                checksum_manifest=manifest_file[0].id,
            )
        else:
            size, sha = digests[rel]
            records[spec.name] = InputRecord(
                name=spec.name,
                id=crate_id,
                mount=input_mount(spec.name, PurePosixPath(rel).name, False),
                size=size,
                sha256=sha,
                encoding_format=guess(rel),
                remote=False,
                doi=spec.doi,
                description=spec.description,
            )
    local_ids = {r.id for r in records.values()}
    files = [
        FileRecord(id=f"{ANALYSIS_DIR}/{n}", size=s, sha256=h, encoding_format=guess(n))
        for n, (s, h) in sorted(digests.items())
        if f"{ANALYSIS_DIR}/{n}" not in local_ids
    ]
    ordered = [records[i.name] for i in manifest.inputs]
    return files, ordered, extra


def copy_files(src: Path, dst: Path, names: list[str]) -> dict[str, tuple[int, str]]:
    def one(name: str) -> tuple[str, tuple[int, str]]:
        out = dst / name
        out.parent.mkdir(parents=True, exist_ok=True)
        d = copy_with_hash(src / name, out)
        return name, (d.size, d.sha256)

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) * 2)) as pool:
        return dict(pool.map(one, names))


def write_extra(staging: Path, rel: str, data: bytes, description: str) -> list[FileRecord]:
    path = staging / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    digest = hash_files([path])[path]
    return [
        FileRecord(
            id=rel,
            size=digest.size,
            sha256=digest.sha256,
            encoding_format=guess(rel),
            description=description,
        )
    ]


@contextmanager
def build_context(
    directory: Path, staging: Path, replaced: set[str], exclude: tuple[Path, ...]
) -> Iterator[Path]:
    """The directory the image is built from.

    The analysis directory itself, unless the crate's copy of some of its files
    had credentials withheld (``replaced``, paths relative to the directory):
    then a mirror of it, hard links except for those files, which are built as
    the crate has them. A builder copies its context into the image (repo2docker
    and ``COPY .`` do), and an image is published with the crate.
    """
    if not replaced:
        yield directory
        return
    mirror = Path(tempfile.mkdtemp(dir=staging.parent, prefix=f"{staging.name}.context-"))
    try:
        _mirror(directory, mirror, staging / ANALYSIS_DIR, replaced, (*exclude, mirror))
        yield mirror
    finally:
        shutil.rmtree(mirror, ignore_errors=True)


def _mirror(
    src: Path, dst: Path, redacted: Path, replaced: set[str], exclude: tuple[Path, ...]
) -> None:
    skip = {p.resolve() for p in exclude}
    for root, dirs, files in os.walk(src):
        here = Path(root)
        dirs[:] = [d for d in dirs if (here / d).resolve() not in skip]
        target = dst / here.relative_to(src)
        target.mkdir(exist_ok=True)
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            _mirror_one(here / name, target / name, src, redacted, replaced)


def _mirror_one(path: Path, out: Path, src: Path, redacted: Path, replaced: set[str]) -> None:
    st = path.lstat()
    rel = path.relative_to(src).as_posix()
    if stat.S_ISLNK(st.st_mode):
        out.symlink_to(os.readlink(path))
    elif not stat.S_ISREG(st.st_mode):
        return  # sockets, FIFOs: not build context
    elif rel in replaced:
        shutil.copyfile(redacted / rel, out)
        os.chmod(out, stat.S_IMODE(st.st_mode))
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))  # stable content key
    else:
        try:
            os.link(path, out)
        except OSError:  # another file system
            shutil.copy2(path, out)
