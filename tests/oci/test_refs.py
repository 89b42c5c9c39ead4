from __future__ import annotations

import pytest

from preserve.errors import PreserveError
from preserve.oci.refs import OciRef

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag", "digest"),
    [
        ("127.0.0.1:5000/ocitest/azint:1.0", "127.0.0.1:5000", "ocitest/azint", "1.0", None),
        (f"ghcr.io/org/x@{DIGEST}", "ghcr.io", "org/x", None, DIGEST),
        (f"localhost/x:t@{DIGEST}", "localhost", "x", "t", DIGEST),
        (f"local:azint@{DIGEST}", "local", "azint", None, DIGEST),
        ("local:azint:1.0", "local", "azint", "1.0", None),
    ],
)
def test_parse_and_print(text: str, registry: str, repo: str, tag: str, digest: str) -> None:
    ref = OciRef.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    "text",
    ["ubuntu", "library/ubuntu:22.04", "reg.io/UPPER", "reg.io/x@sha256:abc", "reg.io/x:bad tag"],
)
def test_invalid(text: str) -> None:
    with pytest.raises(PreserveError):
        OciRef.parse(text)


def test_pinned() -> None:
    ref = OciRef.parse("reg.example.org/a:1").with_digest(DIGEST)
    assert str(ref.pinned()) == f"reg.example.org/a@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "is_path"),
    [
        ("./crate", True),
        ("/abs/crate", True),
        ("~/c", True),
        ("..", True),
        ("local:x@" + DIGEST, False),
        ("reg.example.org/a:1", False),
    ],
)
def test_looks_like_path(text: str, is_path: bool) -> None:
    from preserve.oci.refs import looks_like_path

    assert looks_like_path(text) is is_path
