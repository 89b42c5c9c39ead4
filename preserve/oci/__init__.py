"""OCI stores: the local image layout and registries speaking the distribution API."""
