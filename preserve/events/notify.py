"""Telling a service manager when the watcher is ready and when it stops (systemd ``Type=notify``).

The sd_notify(3) protocol: one datagram of ``KEY=VALUE`` lines to the unix socket
``$NOTIFY_SOCKET`` names (a path, or ``@name`` in the abstract namespace). Without
that variable nothing is sent: the watcher run by hand or by ``Type=simple``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(state: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``state`` (e.g. ``{"READY": "1"}``); True if a service manager was told."""
    address = environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    message = "\n".join(f"{k}={v.replace(chr(10), ' ')}" for k, v in state.items())
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5.0)
            sock.connect(target)
            sock.sendall(message.encode())
    except OSError as exc:  # the service manager is not listening: nothing to tell
        log.warning("could not tell the service manager %s: %s", ", ".join(state), exc)
        return False
    return True
