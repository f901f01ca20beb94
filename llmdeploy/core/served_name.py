"""The name an engine serves a model under (the `model` clients send), and when it drifts.

One contract across stacks: the served name follows from the model unless set, and a
served name that names another model is reported (changing `model` and keeping an old
`servedModelName` would serve Qwen under a Llama name).
"""

from __future__ import annotations

import re


def default_served_name(model: str) -> str:
    """`meta-llama/Llama-3.1-8B-Instruct` -> `llama-3.1-8b-instruct`: the repo's name, lower case."""
    return model.rstrip("/").rsplit("/", 1)[-1].lower()


def _squashed(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def served_name_matches(model: str, served_name: str) -> bool:
    """Whether a served name plausibly names this model: one, squashed to letters and digits, contains
    the other (`qwen2.5-7b` serves `Qwen/Qwen2.5-7B-Instruct`; `llama-3.1-8b-instruct` does not)."""
    name, served = _squashed(default_served_name(model)), _squashed(served_name)
    return bool(served) and (served in name or name in served)


def served_name_warning(model: str, served_name: str, key: str) -> str | None:
    """One line when the served name names another model, else None."""
    if served_name_matches(model, served_name):
        return None
    return (
        f"{key}: found {served_name!r} while the model is {model!r}; clients asking for "
        f"{served_name!r} get another model. Accepted: a name of this model, e.g. "
        f"{default_served_name(model)!r} (the default when unset)"
    )
