"""The policies, one module per domain."""
