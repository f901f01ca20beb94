"""`llmdeploy parity --live`: the golden prompts, at temperature 0, to each stack's endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import openai

# Enough for the golden prompts' short answers; a longer one only costs time.
MAX_TOKENS = 24


@dataclass(frozen=True)
class LiveEndpoint:
    stack: str
    endpoint: str  # the OpenAI base URL, ending in /v1
    model: str
    # Never printed: sent as `Authorization: Bearer ...` when the engine has a key.
    api_key: str | None = None
    timeout_seconds: float = 60.0


def ask(endpoint: LiveEndpoint, prompt: str) -> str:
    """One chat completion at temperature 0; an error comes back in brackets (a difference to report)."""
    client = openai.OpenAI(
        base_url=endpoint.endpoint,
        # The client insists on a key; engines started without --api-key ignore it.
        api_key=endpoint.api_key or "llmdeploy-parity",
        max_retries=0,
        timeout=endpoint.timeout_seconds,
    )
    try:
        answer = client.chat.completions.create(
            model=endpoint.model,
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=MAX_TOKENS,
            seed=0,
        )
    except openai.APIStatusError as error:
        return f"[HTTP {error.status_code}]"
    except openai.OpenAIError as error:
        return f"[{type(error).__name__}]"
    finally:
        client.close()
    return answer.choices[0].message.content or "" if answer.choices else "[no choices]"


def live_answers(
    endpoints: Sequence[LiveEndpoint], prompts: Sequence[str]
) -> Mapping[str, Mapping[str, str]]:
    return {prompt: {endpoint.stack: ask(endpoint, prompt) for endpoint in endpoints} for prompt in prompts}
