"""Stacks compose components and hold the per-stack choices."""

from __future__ import annotations

import pulumi

from stacks.resolve import DevSpec, ProdSpec, StagingSpec, current_stack, settings_warnings


def build_current_stack() -> None:
    """Read and resolve this stack's settings once (stopping on bad ones), then build its kind."""
    from stacks import dev, prod, staging

    spec = current_stack(pulumi.get_project(), pulumi.get_stack())
    for warning in settings_warnings(spec.settings):
        pulumi.log.warn(warning)
    if isinstance(spec, DevSpec):
        dev.build(spec)
    elif isinstance(spec, StagingSpec):
        staging.build(spec)
    elif isinstance(spec, ProdSpec):
        prod.build(spec)
