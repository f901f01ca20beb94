"""`llmdeploy models mirror MODEL --to s3://bucket/prefix`: copy one revision of a model to S3, once.

The prod stack's `modelSource: s3://...` reads the weights from there (vLLM's
Run:ai streamer), so scale-out never touches the Hugging Face hub or a NAT
gateway. This copies what the engine reads (safetensors, configs, tokenizer)
of one revision, pinned: the hub's commit hash is written beside the files in
`llmdeploy-mirror.json`, so what serves is known. Files are uploaded in
parallel, each in multipart parts (boto3's transfer manager).

The hub token comes from HF_TOKEN (never a flag: it would land in shell history).
`--from-dir` uploads a snapshot already downloaded (`huggingface-cli download`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from llmdeploy.cli.ops.aws import OpsError, open_aws, translate

# What an engine reads from a model repo; everything else (original/ *.pth, *.bin duplicates,
# README images) is left on the hub.
MIRRORED_PATTERNS = (
    "*.safetensors",
    "*.safetensors.index.json",
    "*.json",
    "tokenizer*",
    "*.model",
    "*.tiktoken",
)
MANIFEST = "llmdeploy-mirror.json"
PART_BYTES = 64 * 1024**2


def add_mirror_parser(actions: Any) -> None:
    """`llmdeploy models mirror`, under the `models` command (llmdeploy/cli/commands/models.py)."""
    mirror = actions.add_parser(
        "mirror",
        help="copy one revision of a hub model to s3://bucket/prefix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mirror.add_argument("model", help="hub repo id, e.g. meta-llama/Llama-3.1-8B-Instruct")
    mirror.add_argument("--to", required=True, dest="destination", help="s3://bucket/prefix")
    mirror.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    mirror.add_argument(
        "--from-dir", type=Path, help="upload this downloaded snapshot instead of downloading"
    )
    mirror.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    mirror.add_argument("--profile", help="AWS profile")
    mirror.add_argument("--concurrency", type=int, default=8, help="files uploaded at once (default 8)")
    mirror.set_defaults(handler=handle)


def split_destination(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise OpsError(f"--to: found {uri!r}; accepted: an S3 prefix such as s3://my-models/llama-3.1-8b")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


def mirrored_files(directory: Path) -> list[Path]:
    """The files under `directory` an engine reads, relative, sorted; hidden and cache files left out."""
    chosen = set()
    for pattern in MIRRORED_PATTERNS:
        for path in directory.rglob(pattern):
            relative = path.relative_to(directory)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                chosen.add(relative)
    return sorted(chosen)


def object_key(prefix: str, relative: Path) -> str:
    return f"{prefix}/{relative.as_posix()}" if prefix else relative.as_posix()


def download(model: str, revision: str, into: Path) -> tuple[Path, str]:
    """The revision's snapshot from the hub, and the commit hash it resolved to."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    token = os.environ.get("HF_TOKEN") or None
    try:
        commit = HfApi(token=token).model_info(model, revision=revision).sha or revision
        path = snapshot_download(
            model, revision=commit, allow_patterns=list(MIRRORED_PATTERNS), local_dir=into, token=token
        )
    except (HfHubHTTPError, OSError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise OpsError(
            f"{model}@{revision}: the Hugging Face hub refused or could not be reached ({first})",
            "check the repo id and revision; for a gated model export HF_TOKEN with access to it",
        ) from error
    return Path(path), commit


def upload(
    args: argparse.Namespace, directory: Path, files: Sequence[Path], manifest: dict[str, Any]
) -> None:
    bucket, prefix = split_destination(args.destination)
    aws = open_aws(args.region, args.profile)
    s3 = aws.client("s3")
    config = TransferConfig(multipart_chunksize=PART_BYTES, max_concurrency=4)

    def one(relative: Path) -> None:
        key = object_key(prefix, relative)
        try:
            s3.upload_file(str(directory / relative), bucket, key, Config=config)
        except S3UploadFailedError as error:
            # The transfer manager wraps the S3 error in its own: keep the S3 part, one line.
            reason = str(error).rsplit(": ", 1)[-1].splitlines()[0]
            raise OpsError(
                f"s3:PutObject on s3://{bucket}/{key} failed in {aws.region}: {reason}",
                "check that the bucket exists in that region and that your identity may write to the prefix",
            ) from error
        except (ClientError, BotoCoreError) as error:
            where = f"s3://{bucket}/{key}"
            raise translate(error, action="s3:PutObject", resource=where, region=aws.region) from error

    with ThreadPoolExecutor(max_workers=max(1, args.concurrency)) as pool:
        list(pool.map(one, files))
    key = object_key(prefix, Path(MANIFEST))
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=1).encode())
    except (ClientError, BotoCoreError) as error:
        where = f"s3://{bucket}/{key}"
        raise translate(error, action="s3:PutObject", resource=where, region=aws.region) from error


def handle(args: argparse.Namespace) -> int:
    try:
        split_destination(args.destination)
        with tempfile.TemporaryDirectory(prefix="llmdeploy-mirror-") as scratch:
            if args.from_dir is not None:
                if not args.from_dir.is_dir():
                    raise OpsError(f"--from-dir: found {str(args.from_dir)!r}; accepted: a directory")
                directory, commit = args.from_dir, args.revision
            else:
                directory, commit = download(args.model, args.revision, Path(scratch))
            files = mirrored_files(directory)
            if not any(f.suffix == ".safetensors" for f in files):
                raise OpsError(
                    f"{args.model}@{commit}: no *.safetensors files to mirror",
                    "the Run:ai streamer reads safetensors only; pick a revision that has them",
                )
            manifest = {
                "model": args.model,
                "revision": commit,
                "files": [f.as_posix() for f in files],
                "bytes": sum((directory / f).stat().st_size for f in files),
            }
            upload(args, directory, files, manifest)
    except OpsError as error:
        print(error.report(), file=sys.stderr)
        return 1
    print(
        f"mirrored {args.model}@{commit}: {len(files)} files, {manifest['bytes'] / 1e9:.2f} GB to "
        f"{args.destination.rstrip('/')}; set `llmdeploy:modelSource: {args.destination.rstrip('/')}`"
    )
    return 0
