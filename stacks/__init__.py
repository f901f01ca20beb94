"""Stacks compose components and hold the per-stack choices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from stacks.settings import current_config, load_settings


def _builders() -> dict[str, Callable[[Any], None]]:
    from stacks import dev, prod, staging

    return {"dev": dev.build, "staging": staging.build, "prod": prod.build}


def build_current_stack() -> None:
    """Read this stack's settings once (stopping on bad ones), then build its kind of stack."""
    values, secret_keys = current_config()
    settings = load_settings(pulumi.get_stack(), values, secret_keys)
    builder = _builders().get(settings.kind)
    if builder is None:
        raise pulumi.RunError(
            f"llmdeploy:kind: found {settings.kind!r}; this version of llmdeploy builds only "
            f"{', '.join(_builders())} stacks"
        )
    builder(settings)
