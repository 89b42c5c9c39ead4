"""Storage events run published functions: ``preserve watch`` and its journal.

Sources (plug-ins, :mod:`preserve.events.sources`) turn what storage says into
events; rules (:mod:`~preserve.events.rules`) say which events run which
function; the journal (:mod:`~preserve.events.journal`) keeps every matching
event and every invocation's state, keyed by the invocation key ``invoke``
uses, so nothing is lost and nothing runs twice; :mod:`~preserve.events.watch`
runs it all, calling :func:`preserve.api.invoke` for each invocation.
"""
