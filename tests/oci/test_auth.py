"""Authentication against real registries: htpasswd Basic, and Bearer via a token server."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from preserve.errors import AuthError
from preserve.oci.engine_images import provide_in_engine
from preserve.oci.refs import OciRef
from preserve.oci.stores import open_store
from preserve.progress import QUIET
from preserve.settings import Settings
from tests.conftest import Registry, start_registry
from tests.oci.conftest import TinyImage, make_crate, remove_image, run_image, tree
from tests.oci.token_server import TokenServer

pytestmark = pytest.mark.registry

USER, PASSWORD = "ada", "s3cret-Pa55"


def stop(reg: Registry) -> None:
    reg.process.terminate()
    reg.process.wait(10)


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The real registry with htpasswd (bcrypt) Basic auth."""
    folder = tmp_path_factory.mktemp("basic-registry")
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(
        f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
    )
    (folder / "storage").mkdir()
    reg = start_registry(
        folder / "storage",
        {
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "preserve-test",
            "REGISTRY_AUTH_HTPASSWD_PATH": str(htpasswd),
        },
    )
    yield reg
    stop(reg)


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Registry, TokenServer]]:
    """The real registry with token auth, and our token server as its realm."""
    folder = tmp_path_factory.mktemp("token-registry")
    with TokenServer(folder, USER, PASSWORD) as tokens:
        (folder / "storage").mkdir()
        reg = start_registry(folder / "storage", tokens.registry_env())
        yield reg, tokens
        stop(reg)


def with_config_credentials(host: str, password: str = PASSWORD) -> Settings:
    return Settings.load(overrides={"registries": {host: {"username": USER, "password": password}}})


def write_docker_config(
    folder: Path, config: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))


def crate_round_trip(settings: Settings, host: str, tmp_path: Path, repo: str) -> None:
    crate = make_crate(tmp_path / f"{repo.replace('/', '-')}-crate", big_folder_files=0)
    target = OciRef(host, repo, tag="v1")
    store = open_store(settings, target)
    ref = store.push_crate(crate, target, subject=None, annotations={}, progress=QUIET)
    out = tmp_path / f"{repo.replace('/', '-')}-out"
    store.pull_crate(ref, out, progress=QUIET)
    assert tree(out) == tree(crate)


def test_basic_with_config_credentials_image_and_crate(
    basic_registry: Registry, tiny_image: TinyImage, tmp_path: Path
) -> None:
    settings = with_config_credentials(basic_registry.host)
    target = OciRef(basic_registry.host, "ocitest/basic", tag="v1")
    store = open_store(settings, target)
    image_ref = store.push_image(tiny_image.tag, target, progress=QUIET)
    crate = make_crate(tmp_path / "crate", big_folder_files=0)
    crate_ref = store.push_crate(
        crate, target.with_tag("crate"), subject=image_ref, annotations={}, progress=QUIET
    )
    assert [d.digest for d in store.referrers(image_ref)] == [crate_ref.digest]
    store.pull_crate(crate_ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)
    remove_image(tiny_image.id)
    assert provide_in_engine(store.image(image_ref), QUIET).name == tiny_image.id
    assert run_image(tiny_image.id) == tiny_image.output


def test_basic_with_docker_config_auths(
    basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    write_docker_config(
        tmp_path / "docker",
        {"auths": {f"http://{basic_registry.host}": {"auth": auth}}},
        monkeypatch,
    )
    crate_round_trip(Settings.load(), basic_registry.host, tmp_path, "ocitest/docker-config")


@pytest.mark.parametrize("key", ["credHelpers", "credsStore"])
def test_basic_with_a_credential_helper(
    key: str, basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-preservetest"
    answer = json.dumps({"ServerURL": basic_registry.host, "Username": USER, "Secret": PASSWORD})
    helper.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read host\n"
        f'[ "$host" = "{basic_registry.host}" ] || {{ echo "credentials not found"; exit 1; }}\n'
        f"echo '{answer}'\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    helpers: object = (
        {basic_registry.host: "preservetest"} if key == "credHelpers" else "preservetest"
    )
    write_docker_config(tmp_path / "docker", {key: helpers}, monkeypatch)
    crate_round_trip(Settings.load(), basic_registry.host, tmp_path, "ocitest/helper")


def test_basic_wrong_password_is_an_auth_error(basic_registry: Registry, tmp_path: Path) -> None:
    settings = with_config_credentials(basic_registry.host, "wrong-password-123")
    crate = make_crate(tmp_path / "crate", big_folder_files=0)
    target = OciRef(basic_registry.host, "ocitest/wrong", tag="v1")
    with pytest.raises(AuthError) as err:
        open_store(settings, target).push_crate(
            crate, target, subject=None, annotations={}, progress=QUIET
        )
    text = err.value.diagnostics()
    assert basic_registry.host in text and "registries." in text and "wrong-password" not in text


def test_basic_without_credentials_says_where_it_looked(
    basic_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    target = OciRef(basic_registry.host, "ocitest/anon", tag="v1")
    with pytest.raises(AuthError) as err:
        open_store(Settings.load(), target).resolve(target)
    text = err.value.diagnostics()
    assert "requires credentials" in text and basic_registry.host in text
    assert "config.json" in text and "registries." in text


def test_bearer_token_flow(
    token_registry: tuple[Registry, TokenServer], tiny_image: TinyImage, tmp_path: Path
) -> None:
    reg, tokens = token_registry
    settings = with_config_credentials(reg.host)
    target = OciRef(reg.host, "ocitest/bearer", tag="v1")
    store = open_store(settings, target)
    image_ref = store.push_image(tiny_image.tag, target, progress=QUIET)  # the engine's own flow
    before = len(tokens.requests)
    crate = make_crate(tmp_path / "crate", big_folder_files=0)
    crate_ref = store.push_crate(
        crate, target.with_tag("crate"), subject=image_ref, annotations={}, progress=QUIET
    )
    store.pull_crate(crate_ref, tmp_path / "out", progress=QUIET)
    assert tree(tmp_path / "out") == tree(crate)
    ours = tokens.requests[before:]
    # distribution's challenge lists the actions in no fixed order (Go map iteration)
    actions = [sorted(s.rsplit(":", 1)[1].split(",")) for scopes in ours for s in scopes]
    assert ["pull", "push"] in actions
    assert len(ours) <= 3, f"tokens are cached per scope, not fetched per request: {ours}"
    remove_image(tiny_image.id)
    assert provide_in_engine(store.image(image_ref), QUIET).name == tiny_image.id


def test_bearer_wrong_password_is_an_auth_error(
    token_registry: tuple[Registry, TokenServer], tmp_path: Path
) -> None:
    reg, tokens = token_registry
    settings = with_config_credentials(reg.host, "nope-nope")
    target = OciRef(reg.host, "ocitest/bearer", tag="v1")
    with pytest.raises(AuthError) as err:
        open_store(settings, target).resolve(target)
    assert tokens.realm in err.value.message and "nope" not in err.value.diagnostics()


def test_an_expired_token_is_renewed_and_the_body_sent_again(
    token_registry: tuple[Registry, TokenServer], tmp_path: Path
) -> None:
    from preserve.oci.digests import sha256_file
    from preserve.oci.registry_blobs import FileSlice

    reg, tokens = token_registry
    store = open_store(with_config_credentials(reg.host), OciRef(reg.host, "ocitest/expiry"))
    assert hasattr(store, "transport")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(300_000))
    digest, size = sha256_file(blob)
    tokens.lifetime = -57  # valid for about 3 s, given the registry's 60 s leeway
    try:
        t = store.transport
        resp = t.request(
            "POST", t.url("ocitest/expiry", "blobs/uploads/"), repo="ocitest/expiry", body=b"",
            ok=(202,),
        )  # fmt: skip
        location = t.location(resp)
        asked = len(tokens.requests)
        time.sleep(4)  # the token expires; the PUT below is answered 401 after its body
        t.request(
            "PUT", f"{location}&digest={digest}", repo="ocitest/expiry",
            body=FileSlice(blob, 0, size, None), ok=(201,), attempts=1,
        )  # fmt: skip
    finally:
        tokens.lifetime = 300
    assert len(tokens.requests) == asked + 1, "one new token was fetched"
    assert store.blobs("ocitest/expiry").exists(digest)
