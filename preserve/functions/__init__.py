"""Functions: a published analysis deployed to a target and invoked on new data."""
