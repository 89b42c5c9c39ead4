"""Running invocations: per-rule concurrency, retries, a busy target's ``Retry-After``.

Each rule runs at most ``max_concurrency`` invocations at once. An invocation
is claimed (``running``) in the journal, run through :func:`preserve.api.invoke`
(which never re-runs a call whose key completed: its record or the crate at the
output folder answers), and ends ``succeeded``, or ``failed`` and tried again
after a back-off until its ``retries`` are used up (``dead``). A target that
says it is busy (429/503 with ``Retry-After``) pauses the rule that long, and
the attempt does not count; a configuration error is dead at once (trying
again would not help). On stop, running invocations are waited for, or handed
back to the journal (``received``) when the watcher must go now.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from preserve.errors import ConfigError, InvocationFailed, PreserveError, TargetError
from preserve.events.journal import Claimed, Journal
from preserve.events.model import DEAD, FAILED, RECEIVED, SUCCEEDED
from preserve.events.pipeline import Bound
from preserve.settings import Settings

log = logging.getLogger(__name__)
Invoker = Callable[[Bound, Claimed], Mapping[str, Any]]
MAX_WORKERS = 64


def api_invoker(settings: Settings) -> Invoker:
    """Invocations through :func:`preserve.api.invoke`, the event for their crates."""
    from preserve import api

    def invoke(bound: Bound, claimed: Claimed) -> Mapping[str, Any]:
        event = dict(claimed.event)
        if claimed.derived_from:
            event["derived_from"] = claimed.derived_from
        return api.invoke(
            bound.deployment.name,
            inputs={bound.input: claimed.uri},
            output_to=claimed.output_to,
            config=dict(bound.rule.config) or None,
            timeout=bound.rule.timeout,
            event=event,
            settings=settings,
        )

    return invoke


@dataclass(frozen=True)
class Ending:
    """How one run ended, as the journal records it."""

    state: str
    result: Mapping[str, Any] | None
    error: str | None
    not_before: float = 0.0  # when it may run again
    counted: bool = True  # whether it used up an attempt


class Dispatcher:
    def __init__(
        self,
        journal: Journal,
        bound: Mapping[str, Bound],
        invoker: Invoker,
        *,
        backoff: float = 5.0,
        on_end: Callable[[Claimed, str, str | None], None] | None = None,
    ) -> None:
        self.journal = journal
        self.bound = dict(bound)
        self.invoker = invoker
        self.backoff = backoff
        self.on_end = on_end
        self.active: dict[str, int] = {name: 0 for name in self.bound}
        self.running: dict[str, Future[None]] = {}
        self.paused: dict[str, float] = {}
        self.handed: set[str] = set()  # handed back: what their runs say comes too late
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        workers = min(MAX_WORKERS, sum(b.rule.max_concurrency for b in self.bound.values()))
        self.pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="invoke")

    def tick(self) -> int:
        """Start what may start now; how many started."""
        started = 0
        now = time.time()
        for name, bound in self.bound.items():
            if self.paused.get(name, 0.0) > now:
                continue
            with self.lock:
                free = bound.rule.max_concurrency - self.active[name]
            for claimed in self.journal.claim(name, free):
                with self.lock:
                    self.active[name] += 1
                    self.running[claimed.key] = self.pool.submit(self._run, bound, claimed)
                started += 1
        return started

    def busy(self) -> bool:
        with self.lock:
            return bool(self.running)

    def _run(self, bound: Bound, claimed: Claimed) -> None:
        try:
            try:
                end = self._call(bound, claimed)
            except BaseException:  # a bug: never leave it running in the journal
                log.exception("invocation %s failed in the watcher", claimed.key[:16])
                end = self._end(bound, claimed, "the watcher failed; see its log", None)
            recorded = self._record(claimed.key, end)
        finally:  # recorded first: once nothing runs, the journal may close
            with self.lock:
                self.active[bound.rule.name] -= 1
                self.running.pop(claimed.key, None)
                self.idle.notify_all()
        if recorded and self.on_end is not None:
            self.on_end(claimed, end.state, end.error)

    def _record(self, key: str, end: Ending) -> bool:
        """Into the journal, unless handed back meanwhile (it stays received there)."""
        with self.lock:
            if key in self.handed:
                return False
            self.journal.finish(
                key,
                end.state,
                end.result,
                end.error,
                not_before=end.not_before,
                counted=end.counted,
            )
        return True

    def _call(self, bound: Bound, claimed: Claimed) -> Ending:
        try:
            result = self.invoker(bound, claimed)
        except TargetError as exc:
            if exc.retry_after is not None:  # busy: wait as asked, the attempt not counted
                until = time.time() + exc.retry_after
                self.paused[bound.rule.name] = until
                return Ending(RECEIVED, None, exc.message, not_before=until, counted=False)
            return self._end(bound, claimed, exc.message, None)
        except InvocationFailed as exc:
            failed = exc.result if isinstance(exc.result, Mapping) else None
            return self._end(bound, claimed, exc.message, failed)
        except ConfigError as exc:
            return Ending(DEAD, None, exc.message)
        except PreserveError as exc:
            return self._end(bound, claimed, exc.message, None)
        return Ending(SUCCEEDED, result, None)

    def _end(
        self, bound: Bound, claimed: Claimed, error: str, result: Mapping[str, Any] | None
    ) -> Ending:
        """A failed attempt: tried again after a back-off, or dead when none is left."""
        if claimed.attempts > bound.rule.retries:
            return Ending(DEAD, result, error)
        wait = min(self.backoff * 2 ** (claimed.attempts - 1), 600.0)
        return Ending(FAILED, result, error, not_before=time.time() + wait)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for running invocations to end; True if none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self.running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.idle.wait(left if left is not None else 1.0)
        return True

    def hand_back(self) -> int:
        """Running invocations back to the journal (the watcher stops without them)."""
        why = "handed back: the watcher stopped"
        with self.lock:
            keys = [k for k in self.running if k not in self.handed]
            for key in keys:
                self.handed.add(key)
                self.journal.finish(key, RECEIVED, None, why, counted=False)
        return len(keys)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
