"""Fixtures of the attach tests: the example's data server (shared with tests/rerun)."""

from tests.rerun.conftest import demo_data_server

__all__ = ["demo_data_server"]
