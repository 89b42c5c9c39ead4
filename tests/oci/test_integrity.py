"""Tampered blobs, unsafe paths and killed pushes, against the real registry."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import requests

from preserve.errors import CrateError, IntegrityError
from preserve.oci.artifact import (
    EMPTY_BLOB,
    EMPTY_DESCRIPTOR,
    TAR_MEDIA_TYPE,
    UNPACK,
    canonical_json,
)
from preserve.oci.digests import hex_of, sha256_bytes
from preserve.oci.refs import OciRef
from preserve.oci.registry import RegistryStore
from preserve.oci.stores import CRATE_ARTIFACT_TYPE, MANIFEST_MEDIA_TYPE, TITLE, open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import ROOT, Registry
from tests.oci.conftest import make_crate, tree
from tests.oci.flaky_proxy import FlakyProxy

pytestmark = pytest.mark.registry


def stored_blob(registry: Registry, digest: str) -> Path:
    hexd = hex_of(digest)
    return registry.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def test_tampered_blob_fails_naming_it_and_leaves_nothing(
    registry: Registry, settings: Settings, crate_dir: Path, tmp_path: Path
) -> None:
    target = OciRef(registry.host, "ocitest/tamper", tag="x")
    store = open_store(settings, target)
    ref = store.push_crate(crate_dir, target, subject=None, annotations={}, progress=QUIET)
    manifest = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false",
             f"docker://{registry.host}/ocitest/tamper@{ref.digest}"],
            check=True, capture_output=True, text=True,
        ).stdout
    )  # fmt: skip
    layer = next(x for x in manifest["layers"] if x["annotations"][TITLE] == "results/azint.h5")
    data = stored_blob(registry, layer["digest"])
    raw = bytearray(data.read_bytes())
    raw[1000] ^= 0xFF  # same size, different content
    data.write_bytes(bytes(raw))

    dest = tmp_path / "out" / "crate"
    with pytest.raises(IntegrityError) as err:
        store.pull_crate(ref, dest, progress=QUIET)
    assert "results/azint.h5" in err.value.message and layer["digest"] in err.value.message
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == [], "no partial download is left behind"


def push_by_hand(
    store: RegistryStore, repo: str, layers: list[tuple[str, bytes, dict[str, str]]]
) -> OciRef:
    """Push a crate-typed manifest whose layers we choose (titles included)."""
    blobs = store.blobs(repo)
    descs = []
    for media_type, data, notes in layers:
        descs.append(
            {
                "mediaType": media_type,
                "digest": blobs.put_bytes(data),
                "size": len(data),
                "annotations": notes,
            }
        )
    blobs.put_bytes(EMPTY_BLOB)
    manifest = canonical_json(
        {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "artifactType": CRATE_ARTIFACT_TYPE,
         "config": EMPTY_DESCRIPTOR.to_json(), "layers": descs}
    )  # fmt: skip
    store.put_manifest(repo, "evil", manifest, MANIFEST_MEDIA_TYPE)
    return OciRef(store.registry, repo, digest=sha256_bytes(manifest))


@pytest.mark.parametrize("title", ["../x", "/etc/x", "a/../../x", "./x", "a//b"])
def test_unsafe_titles_are_refused(
    title: str, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    store = RegistryStore(registry.host, settings)
    ref = push_by_hand(store, "ocitest/evil", [("text/plain", b"owned\n", {TITLE: title})])
    dest = tmp_path / "a" / "dest"
    with pytest.raises(CrateError, match="not a safe relative path") as err:
        store.pull_crate(ref, dest, progress=QUIET)
    assert repr(title) in err.value.message
    assert (
        not dest.exists() and not (tmp_path / "x").exists() and not (tmp_path / "a" / "x").exists()
    )


def tar_with(members: list[tarfile.TarInfo]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size) if member.isfile() else None)
    return buf.getvalue()


def link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def regular(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 3
    return info


@pytest.mark.parametrize(
    "member",
    [
        link("frames/evil", "../../etc/passwd"),
        link("frames/evil", "/etc/passwd"),
        link("frames/evil", "../outside"),
        link("frames/evil", "../../x", hard=True),
        regular("elsewhere/file"),
        regular("frames/../../x"),
    ],
    ids=["symlink-up", "symlink-abs", "symlink-sibling", "hardlink-up", "outside-prefix", "dotdot"],
)
def test_folder_layers_with_escaping_members_are_refused(
    member: tarfile.TarInfo, registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    store = RegistryStore(registry.host, settings)
    layer = tar_with([regular("frames/ok.txt"), member])
    ref = push_by_hand(
        store, "ocitest/evil-tar", [(TAR_MEDIA_TYPE, layer, {TITLE: "frames", UNPACK: "true"})]
    )
    with pytest.raises(CrateError, match="escapes the folder"):
        store.pull_crate(ref, tmp_path / "dest", progress=QUIET)
    assert not (tmp_path / "dest").exists()


def test_links_inside_a_folder_layer_are_kept(
    registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    store = RegistryStore(registry.host, settings)
    layer = tar_with([regular("frames/ok.txt"), link("frames/alias", "ok.txt")])
    ref = push_by_hand(
        store, "ocitest/ok-tar", [(TAR_MEDIA_TYPE, layer, {TITLE: "frames", UNPACK: "true"})]
    )
    store.pull_crate(ref, tmp_path / "dest", progress=QUIET)
    assert (tmp_path / "dest" / "frames" / "alias").read_bytes() == b"xxx"


PUSH_SCRIPT = """
import sys
from contextlib import contextmanager
from pathlib import Path
from preserve.oci import registry_blobs
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.settings import Settings

class Sent:  # prints the bytes uploaded so far, so the test can kill at a chosen point
    total = 0
    def __init__(self, counts):
        self.counts = counts
    def advance(self, n):
        if self.counts:
            Sent.total += n
            print(Sent.total, flush=True)

class Report:
    def step(self, message):
        pass
    @contextmanager
    def task(self, description, total):
        yield Sent(description.startswith("uploading"))

registry_blobs.MONOLITHIC_MAX = 16 << 20
registry_blobs.CHUNK_SIZE = 8 << 20  # several PATCHes per big file
ref = OciRef.parse(sys.argv[1])
store = open_store(Settings.load(), ref)
store.push_crate(Path(sys.argv[2]), ref, subject=None, annotations={}, progress=Report())
print("done", flush=True)
"""


@pytest.mark.slow
def test_killed_push_completes_when_run_again(
    registry: Registry, settings: Settings, tmp_path: Path
) -> None:
    crate = make_crate(tmp_path / "crate", big_folder_files=0)
    for i in range(6):
        (crate / f"part{i}.bin").write_bytes(os.urandom(40 << 20))
    target = OciRef(registry.host, "ocitest/killed", tag="x")
    total = sum(p.stat().st_size for p in crate.rglob("*") if p.is_file())
    kill_at = int(total * random.uniform(0.05, 0.9))  # a random point of the upload
    proc = subprocess.Popen(
        [sys.executable, "-c", PUSH_SCRIPT, str(target), str(crate)],
        stdout=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line == b"done\n" or int(line) >= kill_at:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the push ended before the kill at {kill_at}"

    from preserve.oci.digests import sha256_file

    digests = {sha256_file(p)[0] for p in crate.rglob("*") if p.is_file()}
    blobs_url = f"{registry.url}/v2/ocitest/killed/blobs"
    arrived = {d for d in digests if requests.head(f"{blobs_url}/{d}", timeout=10).ok}
    with FlakyProxy(registry.host) as proxy:  # no failures: it only logs the requests
        ref = OciRef(proxy.host, "ocitest/killed", tag="x")
        pinned = open_store(settings, ref).push_crate(
            crate, ref, subject=None, annotations={}, progress=QUIET
        )
        uploads = [p for m, p in proxy.log if m == "POST" and "/blobs/uploads/" in p]
        finished = [p for m, p in proxy.log if m == "PUT" and "digest=" in p]
    assert len(uploads) == len(digests - arrived) + (0 if EMPTY_DESCRIPTOR.digest in arrived else 1)
    assert not any(d in p for d in arrived for p in finished), "arrived blobs were not re-sent"
    store = open_store(settings, target)
    pulled = store.pull_crate(
        target.with_digest(pinned.digest or ""), tmp_path / "out", progress=QUIET
    )
    assert tree(pulled.directory) == tree(crate)
