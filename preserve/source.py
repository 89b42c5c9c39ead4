"""Where the analysis code came from: git commit, remote, dirty state and diff."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from preserve.errors import PreserveError
from preserve.secrets import strip_userinfo

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


def git_env() -> dict[str, str]:
    """Git only reads the author's repository: no optional locks (``git status`` would
    refresh the index under ``.git/index.lock``, which a concurrent capture of the same
    analysis then finds vanishing from its build context)."""
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}


def _git(directory: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=git_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x``: a remote must never leak a token."""
    return strip_userinfo(_USERINFO.sub(r"\1", url))


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


# Where a commit is browsable, by forge. Only hosts whose URL layout is known: a
# public forge, or a self-hosted one named for its software (gitlab.desy.de).
_FORGES = {
    "github.com": "{url}/tree/{commit}",
    "gitlab.com": "{url}/-/tree/{commit}",
    "codeberg.org": "{url}/src/commit/{commit}",
    "bitbucket.org": "{url}/src/{commit}",
}
_FORGE_LABELS = {"github": "{url}/tree/{commit}", "gitlab": "{url}/-/tree/{commit}"}


def web_url(remote: str | None) -> str | None:
    """The https URL of a git remote others can reach; None for a local path or unknown form."""
    if not remote:
        return None
    url = strip_credentials(remote.strip())
    scp = re.match(r"^[\w.-]+@([^:/]+):(?!//)(.+)$", url)  # git@host:owner/repo.git
    ssh = re.match(r"^(?:ssh|git\+ssh)://(?:[^@/]+@)?([^:/]+)(?::\d+)?/(.+)$", url)
    if scp or ssh:
        host, path = (scp or ssh).groups()  # type: ignore[union-attr]
        url = f"https://{host}/{path}"
    if not url.startswith(("https://", "http://")) or not urlsplit(url).hostname:
        return None
    return url.rstrip("/").removesuffix(".git")


def source_link(remote: str | None, commit: str | None) -> str | None:
    """The one builder of source links: the commit on a forge whose layout is known, else
    the repository's web URL, else None (a local path is no link)."""
    url = web_url(remote)
    if url is None or not commit:
        return url
    host = (urlsplit(url).hostname or "").lower()
    layout = _FORGES.get(host) or _FORGE_LABELS.get(host.split(".", 1)[0])
    return layout.format(url=url, commit=commit) if layout else url
