"""Reusable Pulumi components. They know nothing of dev, staging or prod."""
