"""One HTTP stack for OCI registries, DataCite and data servers.

:func:`session` builds every ``requests.Session`` (timeouts, TLS, proxies,
User-Agent, bounded answers); :class:`Http` adds the one retry policy;
:func:`deadline` bounds a whole block of network work; :func:`is_loopback`
decides, in one place, which hosts are this machine.
"""

from preserve.net.deadline import Deadline, active, deadline
from preserve.net.hosts import is_loopback, server_of, url_is_loopback
from preserve.net.limits import (
    BODY_MAX,
    ERROR_BODY_MAX,
    MANIFEST_MAX,
    json_object,
    parse_json,
    read_body,
)
from preserve.net.retry import IDEMPOTENT, RETRY_STATUS, TRANSIENT, Http, reason
from preserve.net.session import USER_AGENT, abort, ca_bundle, session
from preserve.shim.http import retry_after_seconds as retry_after  # one parser, stdlib

__all__ = [
    "BODY_MAX",
    "ERROR_BODY_MAX",
    "IDEMPOTENT",
    "MANIFEST_MAX",
    "RETRY_STATUS",
    "TRANSIENT",
    "USER_AGENT",
    "Deadline",
    "Http",
    "abort",
    "active",
    "ca_bundle",
    "deadline",
    "is_loopback",
    "json_object",
    "parse_json",
    "read_body",
    "reason",
    "retry_after",
    "server_of",
    "session",
    "url_is_loopback",
]
