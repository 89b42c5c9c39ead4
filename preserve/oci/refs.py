"""OCI references: ``[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`` and ``local:REPOSITORY...``.

``local:`` names the embedded default store, an OCI image layout in the user's
data directory, so the whole flow works on one machine with no registry server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from preserve.errors import PreserveError

LOCAL = "local"
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


class InvalidReference(PreserveError):
    """A string is not a valid OCI reference."""


def looks_like_path(text: str) -> bool:
    """A path the user meant (./x, ../x, /x, ~/x), not an OCI reference."""
    return text.startswith(("/", "./", "../", "~")) or text in (".", "..")


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


def check_digest(text: str) -> str:
    if not is_digest(text):
        raise InvalidReference(
            f"{text!r} is not a sha256 digest", hint="expected sha256: followed by 64 hex digits"
        )
    return text


@dataclass(frozen=True)
class OciRef:
    """A parsed reference. ``registry`` is ``local`` for the local layout store."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_local(self) -> bool:
        return self.registry == LOCAL

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> OciRef:
        return replace(self, digest=check_digest(digest))

    def with_tag(self, tag: str | None) -> OciRef:
        return replace(self, tag=tag)

    def pinned(self) -> OciRef:
        """The reference with the digest only, as stored in crates and DOIs."""
        if not self.digest:
            raise InvalidReference(f"{self} is not pinned by digest")
        return replace(self, tag=None)

    def __str__(self) -> str:
        base = (
            f"{LOCAL}:{self.repository}" if self.is_local else f"{self.registry}/{self.repository}"
        )
        if self.tag:
            base += f":{self.tag}"
        if self.digest:
            base += f"@{self.digest}"
        return base

    @classmethod
    def parse(cls, text: str) -> OciRef:
        """Parse a reference; the registry part is required (no implicit Docker Hub)."""
        raw = text.strip()
        if raw.startswith(f"{LOCAL}:"):
            registry, rest = LOCAL, raw[len(LOCAL) + 1 :]
        else:
            if raw.startswith(("http://", "https://", "oci://")):
                raw = raw.split("://", 1)[1]
            registry, _, rest = raw.partition("/")
            if not rest or not ("." in registry or ":" in registry or registry == "localhost"):
                raise InvalidReference(
                    f"{text!r} is not a reference of the form REGISTRY/REPOSITORY[:TAG][@DIGEST]",
                    hint="name the registry host, e.g. 127.0.0.1:5000/lab/analysis:1.0, "
                    "or use local:REPOSITORY for the local store",
                )
        digest = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            check_digest(digest)
        tag = None
        if ":" in rest:
            rest, tag = rest.rsplit(":", 1)
            if not _TAG.match(tag):
                raise InvalidReference(f"invalid tag {tag!r} in {text!r}")
        if not _REPOSITORY.match(rest):
            raise InvalidReference(
                f"invalid repository name {rest!r} in {text!r}",
                hint="lower-case letters, digits and . _ - separated by /",
            )
        return cls(registry=registry, repository=rest, tag=tag, digest=digest)
