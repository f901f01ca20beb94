"""The outputs every stack exports, with the same names, so clients never change."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from llmdeploy.core.capacity import CapacityAssessment

ENDPOINT_OUTPUTS = ("endpoint", "model", "engine", "health_url", "metrics_url")


def export_endpoint(
    *,
    endpoint: pulumi.Input[str],
    model: str,
    engine: str,
    health_url: pulumi.Input[str],
    metrics_url: pulumi.Input[str] | None,
) -> None:
    """`endpoint` is the OpenAI base URL (ending in /v1); `metrics_url` is None where the engine has none."""
    pulumi.export("endpoint", endpoint)
    pulumi.export("model", model)
    pulumi.export("engine", engine)
    pulumi.export("health_url", health_url)
    pulumi.export("metrics_url", metrics_url)


def export_capacity(assessment: CapacityAssessment, extra: Mapping[str, object] | None = None) -> None:
    """`capacity`: KV-cache tokens, concurrent sequences at max length, cost per hour at min and max size.

    The resolve step has already refused configs that cannot serve; when capacity cannot be
    estimated at all (a model neither bundled nor cached), say so, with the command that caches
    it, and go on.
    """
    if assessment.unknown:
        pulumi.log.warn(f"capacity not estimated, so not checked: {assessment.unknown}")
    pulumi.export("capacity", {**assessment.output(), **(extra or {})})
