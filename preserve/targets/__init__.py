"""Function targets: where a deployed function runs (plug-ins, ``preserve.targets``)."""
