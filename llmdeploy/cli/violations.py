"""A policy violation: what `llmdeploy check` reports and `llmdeploy diff` compares.

Its JSON form (`as_dict`) is the documented output of `llmdeploy check --format json`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    policy: str
    urn: str
    level: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"policy": self.policy, "urn": self.urn, "level": self.level, "message": self.message}
