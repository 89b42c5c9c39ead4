"""Credentials never leave the shim: its URIs, logs and crates go through the one policy.

The policy is :mod:`preserve.secrets` (names, token shapes, URIs) and its file
scrubbing :mod:`preserve.scrub`; both are stdlib only and travel in the shim's
zipapp, so the shim redacts exactly as the host does.
"""

from preserve.scrub import scrub
from preserve.secrets import WITHHELD, redact_text, redact_uri

__all__ = ["WITHHELD", "redact_text", "redact_uri", "scrub"]
