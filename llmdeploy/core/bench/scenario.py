"""The GuideLLM scenario for one sweep: its documented config-file form (`guidellm run --scenario`).

One GuideLLM run covers the whole sweep (its concurrent profile with one benchmark per level):
GuideLLM starts its worker processes once, not once per level. The API key is not in the
scenario: GuideLLM reads it from its environment (GUIDELLM__SPEC__BACKEND__API_KEY), so it is
never on a command line or in a file.
"""

from __future__ import annotations

from typing import Any

from llmdeploy.core.bench.sweep import SweepSettings

API_KEY_ENV = "GUIDELLM__SPEC__BACKEND__API_KEY"
WORKERS_ENV = "GUIDELLM__MAX_WORKER_PROCESSES"


def routes(endpoint: str) -> tuple[str, dict[str, str]]:
    """GuideLLM's `target` and `api_routes` for an OpenAI base URL.

    GuideLLM strips a trailing /v1 from the target and joins target and route with a slash, so a
    base URL ending in /v1 (as every stack exports) keeps v1/ in its routes, any other base not.
    Its backend check GETs the /health route: pointed at the model list, which every engine
    serves (llama.cpp's server has no /health).
    """
    base = endpoint.rstrip("/")
    prefix = "v1/" if base.endswith("/v1") else ""
    return base.removesuffix("/v1") if prefix else base, {
        "/v1/chat/completions": f"{prefix}chat/completions",
        "/v1/completions": f"{prefix}completions",
        "/v1/models": f"{prefix}models",
        "/health": f"{prefix}models",
    }


FILE_KINDS = {
    ".json": "json_file",
    ".jsonl": "json_file",
    ".csv": "csv_file",
    ".txt": "text_file",
    ".parquet": "parquet_file",
}


def data_source(settings: SweepSettings) -> dict[str, Any]:
    """Synthetic prompts of the set sizes, or the dataset: a local file by its suffix, else a hub id."""
    dataset = settings.dataset
    if dataset is None:
        return {
            "kind": "synthetic_text",
            "prompt_tokens": settings.prompt_tokens,
            "output_tokens": settings.output_tokens,
        }
    suffix = dataset[dataset.rfind(".") :] if "." in dataset.rsplit("/", 1)[-1] else ""
    if suffix in FILE_KINDS:
        return {"kind": FILE_KINDS[suffix], "path": dataset}
    return {"kind": "huggingface", "source": dataset}


def guidellm_scenario(
    *,
    endpoint: str,
    model: str,
    settings: SweepSettings,
    tokenizer: str,
    report_path: str,
    request_timeout_seconds: float,
) -> dict[str, Any]:
    target, api_routes = routes(endpoint)
    return {
        "metadata": {"labels": {"tool": "llmdeploy bench"}},
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": target,
                "model": model,
                "request_format": "/v1/chat/completions",
                "api_routes": api_routes,
                "timeout": request_timeout_seconds,
                # GuideLLM sends max_tokens = the synthetic output size; for a dataset, this bound.
                "max_tokens": settings.output_tokens,
            },
            "profile": {"kind": "concurrent", "streams": list(settings.concurrencies)},
            "data": [data_source(settings)],
            "tokenizer": {"kind": "huggingface_auto", "model": tokenizer},
            "constraints": [
                {"kind": "max_requests", "count": settings.max_requests},
                {"kind": "max_duration", "seconds": settings.max_seconds},
            ],
            "outputs": [{"kind": "json", "path": report_path}],
        },
    }
