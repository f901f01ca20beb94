"""llm-serving policies: checks for LLM inference deployments in any Pulumi program.

Imported by the pack's `__main__.py`, which only builds the PolicyPack. Nothing
here imports the program being checked: the pack reads resources as the engine
sends them.
"""

from __future__ import annotations

from pulumi_policy import Policy

PACK_NAME = "llm-serving"


def all_policies() -> list[Policy]:
    """Every policy of the pack, with secret-aware property reading switched on first."""
    from llmpolicies import secrets
    from llmpolicies.rules import compute, credentials, exposure, inference, loadbalancing, metrics, network

    secrets.install()
    return [
        *credentials.POLICIES,
        *inference.POLICIES,
        *metrics.POLICIES,
        *exposure.POLICIES,
        *compute.POLICIES,
        *network.POLICIES,
        *loadbalancing.POLICIES,
    ]
