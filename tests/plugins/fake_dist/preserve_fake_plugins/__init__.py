"""Plug-ins for preserve written only against its plug-in interfaces (see pyproject.toml)."""
