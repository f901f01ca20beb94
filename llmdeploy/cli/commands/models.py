"""`llmdeploy models fetch MODEL`: cache a model's config.json, the one step that needs the hub.

Plans and checks are offline: the capacity planner reads model configs from the
bundled set or from the on-disk cache (`$LLMDEPLOY_CACHE_DIR`, else
`$XDG_CACHE_HOME/llmdeploy`, else `~/.cache/llmdeploy`). This command fills the
cache through `huggingface_hub` (`$HF_ENDPOINT`, default https://huggingface.co),
with `HF_TOKEN` from the environment for gated or private models.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from llmdeploy.core.models import (
    ModelConfigError,
    architecture_from_config,
    bundled_model_names,
    cache_dir,
    is_repo_id,
    store_cached_config,
)


class FetchError(Exception):
    """One line saying why the config could not be fetched (never the token)."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="model configs for offline plans (`models fetch`), weights to S3 (`models mirror`)",
        description="Model configs the capacity planner reads offline.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser(
        "fetch",
        help="download a model's config.json from the Hugging Face hub into llmdeploy's cache",
        description="Download MODEL's config.json from the Hugging Face hub ($HF_ENDPOINT, default "
        "https://huggingface.co; HF_TOKEN from the environment for gated models) into the cache "
        f"that offline plans read ({cache_dir()}, set by $LLMDEPLOY_CACHE_DIR).",
    )
    fetch.add_argument("model", metavar="MODEL", help="Hugging Face repo id, e.g. Qwen/Qwen2.5-7B-Instruct")
    fetch.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    fetch.set_defaults(handler=handle_fetch)
    # Imported here: boto3's transfer manager is needed only when mirroring.
    from llmdeploy.cli.commands.models_mirror import add_mirror_parser

    add_mirror_parser(actions)


def download_config(model: str, revision: str) -> dict[str, Any]:
    """config.json of `model` at `revision`, through huggingface_hub. Raises FetchError."""
    # One file is all this command asks for: no telemetry, and no agent registry lookup
    # (huggingface_hub 2.x GETs /api/agent-harnesses for its user agent unless telemetry is off).
    # Set before the import, which reads it.
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    # Imported here: only this command talks to the hub, and the import is slow.
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if constants.HF_HUB_OFFLINE:
        raise FetchError(f"{model}: HF_HUB_OFFLINE is set, so the hub is off limits; unset it to fetch")
    token = os.environ.get("HF_TOKEN") or None
    where = constants.ENDPOINT
    try:
        # A throwaway download directory: llmdeploy's cache keeps config.json only.
        with tempfile.TemporaryDirectory(prefix="llmdeploy-fetch-") as scratch:
            # token=False: never a token stored by `hf auth login`, only HF_TOKEN when set.
            path = hf_hub_download(
                model, "config.json", revision=revision, token=token or False, cache_dir=scratch
            )
            text = Path(path).read_text(encoding="utf-8")
    except GatedRepoError:
        hint = "HF_TOKEN has no access to it" if token else "set HF_TOKEN to a token with access"
        raise FetchError(f"{model}: the hub at {where} refused config.json (gated; {hint})") from None
    except RepositoryNotFoundError:
        hint = "or HF_TOKEN has no access to it" if token else "or it is private: set HF_TOKEN"
        raise FetchError(f"{model}: no such model on the hub at {where} ({hint})") from None
    except HFValidationError as error:
        raise FetchError(f"{model}: not a repo id the hub accepts ({error})") from None
    except RevisionNotFoundError:
        raise FetchError(f"{model}: the hub at {where} has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        # What hf_hub_download raises when the hub cannot be reached and nothing is cached.
        raise FetchError(f"{model}: the hub at {where} could not be reached") from None
    except EntryNotFoundError:
        raise FetchError(f"{model}: the repo at {where} has no config.json at {revision!r}") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "no status"
        raise FetchError(f"{model}: the hub at {where} answered HTTP {status} for config.json") from None
    except (OfflineModeIsEnabled, OSError) as error:
        raise FetchError(
            f"{model}: the hub at {where} could not be reached ({type(error).__name__})"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise FetchError(f"{model}: the hub's config.json is not JSON") from None
    if not isinstance(document, dict):
        raise FetchError(f"{model}: the hub's config.json is not a JSON object")
    return document


def handle_fetch(args: argparse.Namespace) -> int:
    model, revision = args.model, args.revision
    if model.lower() in (name.lower() for name in bundled_model_names()):
        print(f"{model}: bundled with llmdeploy; nothing to fetch")
        return 0
    if not is_repo_id(model):
        print(f"error: MODEL: found {model!r}; accepted: a Hugging Face repo id (org/name)", file=sys.stderr)
        return 2
    try:
        document = download_config(model, revision)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    path = store_cached_config(model, document, revision)
    try:
        architecture = architecture_from_config(document, model, f"hub (cached at {path})")
    except ModelConfigError as error:
        print(f"cached {path}, but the capacity planner cannot size it: {error}", file=sys.stderr)
        return 1
    print(
        f"cached {path}: {architecture.model_type}, {architecture.num_hidden_layers} layers, "
        f"context {architecture.max_position_embeddings}; offline plans now size {model}"
    )
    return 0
