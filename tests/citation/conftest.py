"""Fixtures of the citation tests: the DataCite-compatible test server (shared with tests/doi)."""

from tests.doi.conftest import datacite, provider, sleeps

__all__ = ["datacite", "provider", "sleeps"]
