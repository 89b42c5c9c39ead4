"""Storage events for real: the published 'upper' function of the functions tests, and a
second published function ('count') to chain after it, both deployed on the local target
(Docker) with the data token of a dCache test server that has storage events. Each test
watches its own folders with its own journal."""

from tests.events.fixtures import (  # noqa: F401  (this folder's fixtures)
    count_doi,
    drop_root,
    events_dcache,
    folder,
    functions,
    watcher,
)
from tests.functions.conftest import (  # noqa: F401  (the published functions, shared)
    functions_home,
    isolated_dirs,
    storage,
    upper_doi,
)
