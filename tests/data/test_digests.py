"""RFC 3230 / RFC 9530 digest headers, checked against dCache's documented examples."""

from __future__ import annotations

import base64
import hashlib
import zlib

from preserve.data.digests import checksums_from_headers, parse_digest, parse_repr_digest


def test_dcache_documented_values() -> None:
    # webdav.md: /bin/bash uploaded with Want-Digest: md5 gives
    # "Digest: md5=rFb0uPrFc5zNtFd30xO+zw==", and the Content-MD5 failure message
    # lists the same file's checksums as "1:af543afc, 2:ac56f4b8fac5739ccdb45777d313becf".
    parsed = parse_digest("md5=rFb0uPrFc5zNtFd30xO+zw==,adler32=af543afc")
    assert parsed == {"md5": "ac56f4b8fac5739ccdb45777d313becf", "adler32": "af543afc"}


def test_sha_family_base64_to_hex_and_names() -> None:
    data = b"frames" * 1000
    header = ",".join(
        f"{name}={base64.b64encode(hashlib.new(alg, data).digest()).decode()}"
        for name, alg in (("SHA-256", "sha256"), ("sha", "sha1"), ("sha-512", "sha512"))
    )
    parsed = parse_digest(header)
    assert parsed == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha512": hashlib.sha512(data).hexdigest(),
    }


def test_adler32_leading_zeros_and_alias() -> None:
    assert parse_digest("adler32=da0195") == {"adler32": "00da0195"}
    assert parse_digest("ADLER=03DA0195") == {"adler32": "03da0195"}


def test_unknown_and_malformed_values_are_ignored() -> None:
    assert parse_digest("unixsum=30637, md5=not-base64!!, sha-256=AAAA, adler32") == {}
    assert parse_digest(None) == {}


def test_repr_digest_rfc9530() -> None:
    data = b"x" * 12345
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    adler = base64.b64encode(zlib.adler32(data).to_bytes(4, "big")).decode()
    parsed = parse_repr_digest(f"sha-256=:{sha}:, adler=:{adler}:, sha-512=:bad:")
    assert parsed == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "adler32": f"{zlib.adler32(data):08x}",
    }


def test_both_headers_merge() -> None:
    sha = base64.b64encode(hashlib.sha256(b"a").digest()).decode()
    found = checksums_from_headers(
        {"Digest": "adler32=00620062", "Repr-Digest": f"sha-256=:{sha}:"}
    )
    assert found == {"adler32": "00620062", "sha256": hashlib.sha256(b"a").hexdigest()}
