"""Where the analysis code came from: git commit, remote, dirty state and diff."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from preserve.errors import PreserveError

_USERINFO = re.compile(r"^(\w+://)[^/@]+@")


class DirtyTree(PreserveError):
    """The analysis has uncommitted changes and --allow-dirty was not given."""


@dataclass(frozen=True)
class SourceInfo:
    commit: str | None = None
    remote: str | None = None  # credentials stripped
    branch: str | None = None
    dirty: bool = False
    diff: str | None = None  # `git diff HEAD` plus untracked file names, when dirty
    is_git: bool = False


def _git(directory: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``: a remote must never leak a token."""
    return _USERINFO.sub(r"\1", url)


def source_info(
    directory: Path, *, allow_dirty: bool, exclude: tuple[Path, ...] = ()
) -> SourceInfo:
    """Inspect ``directory``'s git state; refuse uncommitted changes unless allowed."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        return SourceInfo()
    commit = _git(directory, "rev-parse", "HEAD")
    remote = _git(directory, "config", "--get", "remote.origin.url")
    branch = _git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    excludes = [f":(exclude){p}" for p in _relative_to(exclude, Path(top))]
    status = _git(directory, "status", "--porcelain", "--", ".", *excludes) or ""
    dirty = bool(status.strip())
    if dirty and not allow_dirty:
        changed = ", ".join(line[3:] for line in status.splitlines()[:5])
        raise DirtyTree(
            f"{directory} has uncommitted changes ({changed}"
            f"{', ...' if len(status.splitlines()) > 5 else ''})",
            hint="commit them, or pass --allow-dirty to record the diff in the crate",
        )
    diff = None
    if dirty:
        tracked = _git(directory, "diff", "HEAD", "--", ".", *excludes) or ""
        untracked = _git(directory, "ls-files", "--others", "--exclude-standard", "--", ".") or ""
        diff = tracked + (
            "\n# untracked files:\n" + "\n".join(f"#   {n}" for n in untracked.splitlines())
            if untracked
            else ""
        )
    return SourceInfo(
        commit=commit,
        remote=strip_credentials(remote) if remote else None,
        branch=branch if branch != "HEAD" else None,
        dirty=dirty,
        diff=diff,
        is_git=True,
    )


def _relative_to(paths: tuple[Path, ...], top: Path) -> list[str]:
    out = []
    for p in paths:
        try:
            out.append(p.resolve().relative_to(top.resolve()).as_posix())
        except ValueError:
            continue
    return out


def commit_url(remote: str | None, commit: str | None) -> str | None:
    """A browsable URL of the commit on well-known forges, else the remote if it is a URL."""
    if not remote:
        return None
    url = remote
    if url.startswith("git@"):
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    url = url.removesuffix(".git")
    if not url.startswith(("https://", "http://")):
        return None
    if commit and ("github" in url or "gitlab" in url):
        sep = "/-/tree/" if "gitlab" in url else "/tree/"
        return f"{url}{sep}{commit}"
    return url
