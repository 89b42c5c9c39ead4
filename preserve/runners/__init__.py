"""Container runners: run the analysis command in its image."""
