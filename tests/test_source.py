"""The one builder of source links: commit URLs only where the forge's layout is known."""

from __future__ import annotations

import pytest

from preserve.source import source_link, web_url


@pytest.mark.parametrize(
    ("remote", "commit", "link"),
    [
        ("https://github.com/o/r.git", "abc", "https://github.com/o/r/tree/abc"),
        ("git@github.com:o/r.git", "abc", "https://github.com/o/r/tree/abc"),
        ("ssh://git@gitlab.com:2222/g/r.git", "abc", "https://gitlab.com/g/r/-/tree/abc"),
        ("https://gitlab.desy.de/g/sub/r", "abc", "https://gitlab.desy.de/g/sub/r/-/tree/abc"),
        ("https://codeberg.org/o/r", "abc", "https://codeberg.org/o/r/src/commit/abc"),
        # a host whose layout cannot be known: the repository, never a guessed tree URL
        ("https://git.example.org/r.git", "abc", "https://git.example.org/r"),
        ("https://example.org/gitlab/r", "abc", "https://example.org/gitlab/r"),
        ("https://github.com/o/r", None, "https://github.com/o/r"),
        ("https://ada:token@github.com/o/r", "abc", "https://github.com/o/r/tree/abc"),
        # a local path is no link at all
        ("/home/ada/analysis", "abc", None),
        ("../analysis", "abc", None),
        ("file:///srv/git/analysis.git", "abc", None),
        (None, "abc", None),
    ],
)
def test_source_link(remote: str | None, commit: str | None, link: str | None) -> None:
    assert source_link(remote, commit) == link


def test_web_url_of_remotes() -> None:
    assert web_url("git@gitlab.desy.de:fs/ana.git") == "https://gitlab.desy.de/fs/ana"
    assert web_url("/srv/ana") is None
