"""Docker plumbing shared by the FaaS test servers (OpenWhisk, OpenFaaS, OSCAR).

Containers and images they create carry the ``preserve-test-infra`` prefix and are
removed by the server that made them; nothing else on the shared engine is touched.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors

PREFIX = "preserve-test-infra"
ECHO_DIR = Path(__file__).parent / "images" / "echo"
# docker/distribution reference grammar: a domain has a dot or a port, or is localhost.
_DOMAIN = re.compile(
    r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?|[A-Za-z0-9-]+:\d+|localhost)/"
)


def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


def echo_image(base_image: str) -> str:
    """Build (once per content) the echo function image FROM ``base_image``; its tag."""
    digest = hashlib.sha256(base_image.encode())
    for path in sorted(ECHO_DIR.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    tag = f"{PREFIX}/echo-action:{digest.hexdigest()[:16]}"
    engine = client()
    try:
        engine.images.get(tag)
    except docker.errors.ImageNotFound:
        engine.images.build(
            path=str(ECHO_DIR),
            tag=tag,
            buildargs={"BASE": base_image},
            network_mode="none",
            rm=True,
        )
    return tag


def has_registry(image: str) -> bool:
    """True if ``image`` names a registry (then the platforms pull it before running)."""
    return bool(_DOMAIN.match(image))


def ensure_image(image: str) -> None:
    """Pull ``image`` if it names a registry, as the platforms do; else it must be local.

    Raises ``docker.errors.DockerException`` (``ImageNotFound``/``APIError``) otherwise.
    """
    engine = client()
    if has_registry(image):
        engine.images.pull(image)
    else:
        engine.images.get(image)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def host_port(container: Any, port: int = 8080) -> int:
    """The loopback port Docker mapped to ``port`` of ``container``."""
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"]
    return int(bindings[0]["HostPort"])


def wait_for_port(port: int, timeout: float) -> bool:
    """True once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def memory_limit(kubernetes: str) -> str:
    """A Kubernetes quantity (``256Mi``, ``1Gi``, ``500M``) as a Docker memory limit."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|K|M|G)?", kubernetes.strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression: {kubernetes!r}")
    number, unit = int(match.group(1)), match.group(2) or ""
    factor = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3}
    factor |= {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    return str(number * factor[unit])
