"""`llmdeploy models mirror`: a downloaded snapshot into S3 (moto on loopback), what an engine reads only.

The hub download itself cannot run here (no route to huggingface.co); `--from-dir` takes the
snapshot `huggingface-cli download` would have written.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from llmdeploy.cli import main
from tests.fixtures.moto_server import MotoServer


def snapshot(directory: Path) -> Path:
    files = {
        "config.json": "{}",
        "model-00001-of-00002.safetensors": "a" * 1000,
        "model-00002-of-00002.safetensors": "b" * 1000,
        "model.safetensors.index.json": "{}",
        "tokenizer.json": "{}",
        "original/consolidated.00.pth": "c" * 5000,
        ".cache/huggingface/download/x.lock": "",
        "README.md": "# model",
    }
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory


def test_mirror_uploads_what_the_engine_reads_and_a_manifest(
    aws_env: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-models")
    source = snapshot(tmp_path / "snap")
    code = main(
        [
            "models", "mirror", "meta-llama/Llama-3.1-8B-Instruct",
            "--to", "s3://acme-models/llama-3.1-8b/", "--from-dir", str(source),
            "--revision", "0e9e39f249a16976918f6564b8830bc894c89659", "--region", "us-east-1",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="acme-models")["Contents"])
    assert keys == [
        "llama-3.1-8b/config.json",
        "llama-3.1-8b/llmdeploy-mirror.json",
        "llama-3.1-8b/model-00001-of-00002.safetensors",
        "llama-3.1-8b/model-00002-of-00002.safetensors",
        "llama-3.1-8b/model.safetensors.index.json",
        "llama-3.1-8b/tokenizer.json",
    ]
    manifest = json.loads(
        s3.get_object(Bucket="acme-models", Key="llama-3.1-8b/llmdeploy-mirror.json")["Body"].read()
    )
    assert manifest["revision"] == "0e9e39f249a16976918f6564b8830bc894c89659"
    assert manifest["bytes"] == 2 + 1000 + 1000 + 2 + 2
    assert "modelSource: s3://acme-models/llama-3.1-8b" in out


def test_mirror_refuses_in_one_line(
    aws_env: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "mirror", "m/x", "--to", "https://x", "--from-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --to: found 'https://x'; accepted: an S3 prefix such as s3://my-models/llama-3.1-8b"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["models", "mirror", "m/x", "--to", "s3://b/p", "--from-dir", str(empty)]) == 1
    assert "no *.safetensors files" in capsys.readouterr().err
    # The bucket does not exist: the S3 error reads as one line naming the action and object.
    assert (
        main(
            [
                "models",
                "mirror",
                "m/x",
                "--to",
                "s3://missing-bucket/p",
                "--from-dir",
                str(snapshot(tmp_path / "s")),
                "--region",
                "us-east-1",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "s3:PutObject" in err and "Traceback" not in err
