"""Stacks compose components and hold the per-stack choices."""

from __future__ import annotations

import pulumi

from stacks.resolve import DevSpec, ProdSpec, StagingSpec, current_stack, settings_warnings


def build_current_stack() -> None:
    """Read and resolve this stack's settings once (stopping on bad ones), then build its kind."""
    spec = current_stack(pulumi.get_project(), pulumi.get_stack())
    for warning in settings_warnings(spec.settings):
        pulumi.log.warn(warning)
    # Each kind's module is imported when it is built: dev alone loads pulumi_docker, staging and prod
    # pulumi_aws's modules, a tenth of a second each that a plan of another kind need not wait for.
    if isinstance(spec, DevSpec):
        from stacks import dev

        dev.build(spec)
    elif isinstance(spec, StagingSpec):
        from stacks import staging

        staging.build(spec)
    elif isinstance(spec, ProdSpec):
        from stacks import prod

        prod.build(spec)
