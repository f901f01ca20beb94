"""The outputs every stack exports, with the same names, so clients never change."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from llmdeploy.core.capacity import CapacityAssessment, CapacityRequest, assess_capacity

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


def export_capacity(
    capacity: CapacityRequest | CapacityAssessment, extra: Mapping[str, object] | None = None
) -> None:
    """`capacity`: KV-cache tokens, concurrent sequences at max length, cost per hour at min and max size.

    Takes the stack's request, or an assessment the stack already made (prod: the whole group's).
    Settings validation has already refused configs that cannot serve; when capacity cannot be
    estimated at all (a model whose config.json is out of reach offline), say so and go on.
    """
    assessment = capacity if isinstance(capacity, CapacityAssessment) else assess_capacity(capacity)
    if assessment.unknown:
        pulumi.log.warn(f"capacity not estimated, so not checked: {assessment.unknown}")
    pulumi.export("capacity", {**assessment.output(), **(extra or {})})
