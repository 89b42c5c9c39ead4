"""Environment builders: turn an analysis directory into a container image."""
