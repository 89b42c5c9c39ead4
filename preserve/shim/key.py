"""The invocation key: what makes two calls the same call.

SHA-256 over the canonical JSON of the function (its DOI, else its crate's
pinned reference), each input's URI, size and strongest known checksum
(``sha256:...`` when the storage or the content gives it, else the storage's
own, e.g. ``adler32:...``), and the configuration overrides. Never an event id:
platforms deliver events more than once, with new ids. The host and the shim
compute it the same way from the same storage answers, so a call made again
finds the completed invocation's crate instead of running.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping


def invocation_key(
    function: str,
    inputs: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
) -> str:
    """``inputs``: NAME -> {"uri", "size", "checksum"} (checksum ``ALGORITHM:HEX``)."""
    material = {
        "function": function,
        "inputs": {
            name: {"uri": i["uri"], "size": i.get("size"), "checksum": i["checksum"]}
            for name, i in sorted(inputs.items())
        },
        "config": config,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()
