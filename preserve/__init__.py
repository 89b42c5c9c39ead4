"""preserve: capture, publish and rerun photon/neutron-science analyses.

The library is the product; the ``preserve`` command is a thin front end over
:mod:`preserve.api`::

    from preserve import api

    report = api.rerun("10.5072/preserve.abc", output="rerun")
    print(report.reproduced)
"""

__version__ = "0.1.0"
