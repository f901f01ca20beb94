"""The one masker (llmdeploy/cli/masking.py) and the streams every command writes through."""

from __future__ import annotations

import io
import json

import pytest

from llmdeploy.cli.masking import SECRET_MARK, Masker, MaskingStream

CANARY = "hf_" + "Mask3dCanary" * 3


def test_known_secret_is_masked_also_json_escaped() -> None:
    secret = 'pa"ss\\word-42'
    masker = Masker([secret])
    assert masker.text(f"x {secret} y") == f"x {SECRET_MARK} y"
    assert secret not in masker.text(json.dumps({"v": secret}))
    assert json.dumps(secret)[1:-1] not in masker.text(json.dumps({"v": secret}))


def test_short_values_are_not_masked_by_value() -> None:
    assert Masker(["ab", ""]).text("abc") == "abc"


def test_environment_secrets_join_the_masker() -> None:
    masker = Masker()
    masker.add_environment({"LLMDEPLOY_API_KEY": "sk-local-key-77", "HF_TOKEN": CANARY, "OTHER": "keep-me"})
    assert masker.text("sk-local-key-77 keep-me") == f"{SECRET_MARK} keep-me"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"token {CANARY}.", f"token {SECRET_MARK}."),
        ("fetch_secret HF_TOKEN llmdeploy/prod/hf-token", None),
        ("# fetch_secret VARIABLE SECRET_NAME: append VARIABLE=<value>", None),
        ("VLLM_API_KEY=sk-1234", f"VLLM_API_KEY={SECRET_MARK}"),
    ],
)
def test_shapes(text: str, shown: str | None) -> None:
    assert Masker().text(text) == (text if shown is None else shown)


def test_stream_masks_a_secret_split_over_writes() -> None:
    target = io.StringIO()
    stream = MaskingStream(target, Masker(["split-secret-value"]))
    stream.write("a split-sec")
    assert target.getvalue() == "", "a partial line waits for its end"
    stream.write("ret-value b\nc ")
    stream.write(CANARY)
    stream.flush()
    assert target.getvalue() == f"a {SECRET_MARK} b\nc {SECRET_MARK}"


def test_masking_value_by_key() -> None:
    masker = Masker()
    assert masker.value({"password": "p", "nested": [{"hfToken": 1}], "name": "n"}) == {
        "password": SECRET_MARK,
        "nested": [{"hfToken": SECRET_MARK}],
        "name": "n",
    }
