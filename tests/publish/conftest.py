"""Fixtures of the publish tests: the DataCite-compatible test server (shared with tests/doi)
and the example's data server (shared with tests/rerun)."""

from tests.doi.conftest import datacite
from tests.rerun.conftest import demo_data_server

__all__ = ["datacite", "demo_data_server"]
