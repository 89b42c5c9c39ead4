"""DOIs: DataCite metadata, providers (sandbox, DataCite REST API) and resolution."""
