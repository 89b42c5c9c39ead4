"""``preserve watch RULES.yaml``: watch every source the rules name, run what matches.

Start-up: the rules load (schema, loops), every source is built from its
``[sources.NAME]`` table, every rule's function is found (deployed to its target
first when it is a DOI or a reference that is not), one watcher takes the
journal (a lock beside it), and invocations a killed watcher left running go
back to be run. Then the sources run in threads, offering events to the
pipeline; a resolver thread turns settled deliveries into invocations, a
dispatcher thread starts them.

``once``: list what the sources watch, process it all (chains too: listing
again until nothing new appears), and return. Otherwise run until ``stop`` is
set. Either way, once ``stop`` is set: take no more events or invocations, wait
for running invocations, or, when ``abandon`` is set too, hand them back to
the journal.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from preserve.errors import ConfigError, PreserveError, SourceError
from preserve.events import rules as rules_mod
from preserve.events.dispatch import Dispatcher, Invoker, api_invoker
from preserve.events.journal import Claimed, Journal, database
from preserve.events.model import WatchResult
from preserve.events.notify import notify
from preserve.events.pipeline import Bound, Pipeline
from preserve.events.sources.base import Source, open_source
from preserve.functions.invoke import resolve as resolve_function
from preserve.progress import QUIET, Progress
from preserve.secrets import redact_uri
from preserve.settings import Settings
from preserve.shim.documents import ShimError, event_input

log = logging.getLogger(__name__)
TICK = 0.05  # seconds between looks at the journal when nothing woke the loops


def prepare(
    path: Path, settings: Settings, progress: Progress = QUIET
) -> tuple[rules_mod.Rules, dict[str, Bound]]:
    """The rules of ``path``, each bound to its function and source (checked)."""
    rules = rules_mod.load(path)
    sources: dict[str, Source] = {a: open_source(a, settings) for a in rules.sources}
    rules_mod.check_loops(rules, lambda r: sources[r.source].watched(r.glob.text))
    return rules, {r.name: bind(r, sources[r.source], settings, progress) for r in rules.rules}


def bind(rule: rules_mod.Rule, source: Source, settings: Settings, progress: Progress) -> Bound:
    label = f"rule {rule.name!r}"
    try:
        deployment = resolve_function(rule.function, rule.target, settings, progress)
    except PreserveError as exc:
        raise type(exc)(f"{label}: {exc.message}", hint=exc.hint) from exc
    spec = deployment.spec
    try:
        name = rule.input or event_input(spec)
    except ShimError as exc:
        raise ConfigError(f"{label}: {exc.message}", hint="give run.input: NAME") from exc
    if name not in spec["inputs"]:
        raise ConfigError(
            f"{label}: at run.input: {deployment.function} has no input {name!r}",
            hint=f"its inputs: {', '.join(sorted(spec['inputs'])) or 'none'}",
        )
    bound = Bound(rule, deployment, name, source)
    if rule.outputs is None and bound.default_output("0" * 20) is None:
        raise ConfigError(
            f"{label}: no run.outputs, and {deployment.name} has no default output folder",
            hint="give run.outputs: URI (a template), or deploy with --output-to URI",
        )
    return bound


@contextmanager
def only_watcher(journal: Path) -> Iterator[None]:
    """One watcher per journal: a second one would run everything twice."""
    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(journal.with_name(journal.name + ".lock"), "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConfigError(
                f"another watcher is using the journal {journal}",
                hint="stop it first, or give this one another journal (--journal FILE)",
            ) from exc
        yield


def watch(
    path: Path,
    *,
    settings: Settings,
    once: bool = False,
    progress: Progress = QUIET,
    stop: threading.Event | None = None,
    abandon: threading.Event | None = None,
    invoker: Invoker | None = None,
    journal_path: Path | None = None,
) -> WatchResult:
    """Watch the sources of the rules in ``path`` and run what matches (see the module).
    The journal is ``journal_path``, by default ``<data_dir>/events.sqlite``."""
    rules, bound = prepare(path, settings, progress)
    stop = stop or threading.Event()
    abandon = abandon or threading.Event()
    where = journal_path or database(settings.data_dir)
    with only_watcher(where):
        journal = Journal(where)
        try:
            run = _Run(journal, rules, bound, settings, progress, invoker)
            return run.once(stop, abandon) if once else run.forever(stop, abandon)
        finally:
            journal.close()


class _Run:
    """One watcher's threads: sources, resolver, dispatcher."""

    def __init__(
        self,
        journal: Journal,
        rules: rules_mod.Rules,
        bound: Mapping[str, Bound],
        settings: Settings,
        progress: Progress,
        invoker: Invoker | None,
    ) -> None:
        self.journal = journal
        self.rules = rules
        self.bound = bound
        self.progress = progress
        self.result = WatchResult([r.name for r in rules.rules], {})
        self.result.recovered = journal.recover()
        if self.result.recovered:
            progress.step(f"{self.result.recovered} invocation(s) a stopped watcher left running")
        self.pipeline = Pipeline(journal, bound, settings, max_depth=rules.max_depth)
        self.dispatcher = Dispatcher(
            journal, bound, invoker or api_invoker(settings), on_end=self._ended
        )
        self.failure: PreserveError | None = None
        self.halt = threading.Event()

    def _ended(self, claimed: Claimed, state: str, error: str | None) -> None:
        self.result.ran[state] = self.result.ran.get(state, 0) + 1
        what = f"{claimed.rule}: {redact_uri(claimed.uri)}: {state}"
        self.progress.step(what + (f": {error}" if error else f" ({claimed.key[:16]})"))

    def _loop(self, step: Callable[[], int]) -> None:
        while not self.halt.is_set():
            try:
                if not step():
                    self.halt.wait(TICK)
            except PreserveError as exc:  # the journal or a source said no: stop the watcher
                self.failure = exc
                self.halt.set()

    def _start_loops(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._loop, args=(f,), name=n, daemon=True)
            for f, n in ((self.pipeline.resolve, "resolver"), (self.dispatcher.tick, "dispatch"))
        ]
        for t in threads:
            t.start()
        return threads

    def _finish(self, threads: list[threading.Thread]) -> WatchResult:
        self.halt.set()
        for t in threads:
            t.join(10)
        self.dispatcher.close()
        self.result.invocations = self.journal.counts()
        if self.failure is not None:
            raise self.failure
        return self.result

    def once(self, stop: threading.Event, abandon: threading.Event) -> WatchResult:
        threads = self._start_loops()
        try:
            seen = -1
            while not self.halt.is_set() and not stop.is_set():
                for source, mine in self._sources():
                    source.reconcile(mine, self.pipeline)
                self._settle(stop)
                total = sum(self.journal.counts().values())
                if total == seen:  # a listing found nothing new: chains are done too
                    break
                seen = total
        finally:
            self._drain(abandon)
        return self._finish(threads)

    def _settle(self, stop: threading.Event) -> None:
        """Wait until the journal has nothing left to do."""
        while not (self.halt.is_set() or stop.is_set()) and (
            self.journal.busy() or self.dispatcher.busy()
        ):
            self.halt.wait(TICK)

    def _drain(self, abandon: threading.Event) -> None:
        """No more claims; running invocations end, or are handed back once ``abandon``."""
        self.halt.set()
        while not self.dispatcher.wait(0.2):
            if abandon.is_set():
                self.result.handed_back = self.dispatcher.hand_back()
                break

    def forever(self, stop: threading.Event, abandon: threading.Event) -> WatchResult:
        # ``stop`` and ``abandon`` are only read here: a signal handler sets them in this
        # thread, and would deadlock on their lock if this thread held it (wait, set).
        quit_sources = threading.Event()
        threads = self._start_loops()
        watching = self._start_sources(quit_sources)
        ready = self._ready()
        self.progress.step(ready)
        notify({"READY": "1", "STATUS": ready})
        while not stop.is_set() and not self.halt.is_set():
            self.halt.wait(0.2)
        notify({"STOPPING": "1", "STATUS": "stopping: running invocations finish"})
        quit_sources.set()  # sources stop taking events
        for t in watching:
            t.join(10)
        self._drain(abandon)
        return self._finish(threads)

    def _ready(self) -> str:
        """What a service's log says once the watcher takes events (and stops on a signal)."""
        sources = ", ".join(sorted(redact_uri(s.address) for s, _ in self._sources()))
        rules = ", ".join(self.result.rules)
        return f"watching {sources} for rule(s) {rules}; journal {self.journal.path}"

    def _sources(self) -> list[tuple[Source, list[rules_mod.Rule]]]:
        """Each source the rules name (one per address: plug-ins need not be hashable),
        with its rules."""
        by_address: dict[str, tuple[Source, list[rules_mod.Rule]]] = {}
        for b in self.bound.values():
            by_address.setdefault(b.source.address, (b.source, []))[1].append(b.rule)
        return list(by_address.values())

    def _start_sources(self, stop: threading.Event) -> list[threading.Thread]:
        threads = []
        for source, mine in self._sources():
            thread = threading.Thread(
                target=self._source, args=(source, mine, stop), name=source.address, daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads

    def _source(self, source: Source, mine: list[rules_mod.Rule], stop: threading.Event) -> None:
        try:
            source.run(mine, self.pipeline, stop)
        except (SourceError, ConfigError) as exc:
            self.failure = exc
            self.halt.set()
