"""The DataCite-compatible test server fixture, shared with tests/doi."""

from tests.doi.conftest import datacite

__all__ = ["datacite"]
