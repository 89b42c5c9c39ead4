"""Input data that is referenced, never copied into a crate: describe, fetch, stage, verify.

from preserve.data import stage

staged = stage("frames", "davs://dcache.example.org/p01/frames.h5", settings,
               expected_sha256=recorded_sha256)
staged.path  # a verified, read-only file to bind-mount into the container
"""

from preserve.data.base import DataResolver, RemoteInfo, Sink, redact, resolver_for
from preserve.data.stage import StagedData, cache_root, stage

__all__ = [
    "DataResolver",
    "RemoteInfo",
    "Sink",
    "StagedData",
    "cache_root",
    "redact",
    "resolver_for",
    "stage",
]
