"""preserve: capture, publish and rerun photon/neutron-science analyses.

The library is the product; the ``preserve`` command is a thin front end over it::

    from preserve.settings import Settings
    from preserve.doctor import run_checks

    for check in run_checks(Settings.load()):
        print(check.name, check.status)
"""

__version__ = "0.1.0"
