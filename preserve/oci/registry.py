"""Registries speaking the OCI distribution API (distribution, zot, Harbor, GitLab, GHCR)."""

from __future__ import annotations

import ipaddress

import requests

from preserve.errors import RegistryError, ServiceUnavailable
from preserve.oci.refs import OciRef
from preserve.settings import Settings


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 else host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryStore:
    """A registry reached over HTTPS (plain HTTP only for loopback or insecure hosts)."""

    def __init__(self, registry: str, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        insecure = is_loopback(registry) or registry in settings.insecure_registries
        self.base_url = f"{'http' if insecure else 'https'}://{registry}"

    @classmethod
    def from_settings(cls, settings: Settings, ref: OciRef) -> RegistryStore:
        return cls(ref.registry, settings)

    def ping(self) -> str:
        try:
            resp = requests.get(f"{self.base_url}/v2/", timeout=10)
        except requests.RequestException as exc:
            raise ServiceUnavailable(
                f"the OCI registry at {self.base_url} is not reachable",
                hint="start the local registry with `make services`, or check the "
                "registry setting (PRESERVE_REGISTRY)",
            ) from exc
        if resp.status_code not in (200, 401):
            raise RegistryError(
                f"{self.base_url}/v2/ answered HTTP {resp.status_code}; not an OCI registry?"
            )
        auth = " (authentication required)" if resp.status_code == 401 else ""
        return f"OCI registry at {self.base_url} answers{auth}"
