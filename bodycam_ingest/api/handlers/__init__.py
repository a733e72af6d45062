"""API handlers, one module per area; each registers with ``api.registry.handler``."""
